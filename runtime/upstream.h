/* upstream.h - one libcurl multi handle driven by one libevent loop.
 *
 * Owns: the CURLM, its timer event and one small socket record per socket
 * curl asks us to watch. Easy handles belong to their stream; this unit only
 * adds and removes them, and reports completions through the done callback. */
#ifndef MOONGATE_UPSTREAM_H
#define MOONGATE_UPSTREAM_H

#include <curl/curl.h>
#include <event2/event.h>

/* Called from the loop (never from inside a curl callback) when a transfer
 * finished, successfully or not; the easy handle has already been removed
 * from the multi. The callee owns the easy handle again and may start new
 * transfers from here. CURLOPT_PRIVATE of the easy is passed as priv. */
typedef void (*upstream_done_fn)(void *priv, CURL *easy, CURLcode result);

typedef struct upstream_loop {
    CURLM *multi;
    struct event_base *base;
    struct event *timer;
    upstream_done_fn on_done;
    CURLSH *share;           /* DNS cache shared by the easies of this loop */
} upstream_loop_t;

int  upstream_init(upstream_loop_t *u, struct event_base *base, upstream_done_fn on_done);
/* Starts a configured easy handle. 0 or -1. */
int  upstream_start(upstream_loop_t *u, CURL *easy);
/* Stops a running transfer without reporting it. Only from loop callbacks,
 * never from inside a curl callback. */
void upstream_cancel(upstream_loop_t *u, CURL *easy);
void upstream_free(upstream_loop_t *u);

#endif
