/* upstream.c - libcurl multi on libevent (see DESIGN.md section 6).
 *
 * curl tells us which sockets to watch (socket callback) and when to call it
 * back (timer callback); we translate both into libevent events and call
 * curl_multi_socket_action from those events, then drain curl's messages.
 * Neither curl callback calls back into curl: they only (re)arm events. */
#include "upstream.h"

#include <stdlib.h>

typedef struct up_sock {
    struct event *ev;
    curl_socket_t fd;
    upstream_loop_t *u;
} up_sock_t;

static void check_done(upstream_loop_t *u)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(u->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *easy = m->easy_handle;      /* copy before removal frees m */
        CURLcode rc = m->data.result;
        void *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&priv);
        curl_multi_remove_handle(u->multi, easy);
        u->on_done(priv, easy, rc);
    }
}

/* libevent: a watched socket is ready. Hand it to curl, then collect results. */
static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    upstream_loop_t *u = arg;
    int running, flags = 0;
    if (what & EV_READ) flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE) flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(u->multi, fd, flags, &running);
    check_done(u);
}

/* libevent: curl's timeout expired. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    upstream_loop_t *u = arg;
    int running;
    (void)fd; (void)what;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(u);
}

/* curl: CURLMOPT_TIMERFUNCTION. -1 deletes the timer; any other value
 * (0 included) re-arms it. Must not call curl. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    upstream_loop_t *u = arg;
    (void)multi;
    if (timeout_ms < 0) { evtimer_del(u->timer); return 0; }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evtimer_add(u->timer, &tv);
    return 0;
}

/* curl: CURLMOPT_SOCKETFUNCTION. Keeps one event per socket, stored with
 * curl_multi_assign and freed on CURL_POLL_REMOVE. Must not call curl except
 * curl_multi_assign. */
static int curl_sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    upstream_loop_t *u = arg;
    up_sock_t *s = sockp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            event_free(s->ev);
            free(s);
            curl_multi_assign(u->multi, fd, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST;
    if (what & CURL_POLL_IN) kind |= EV_READ;
    if (what & CURL_POLL_OUT) kind |= EV_WRITE;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return -1;
        s->fd = fd;
        s->u = u;
        s->ev = event_new(u->base, fd, kind, on_sock_event, u);
        if (!s->ev) { free(s); return -1; }
        curl_multi_assign(u->multi, fd, s);
    } else {
        event_del(s->ev);
        event_assign(s->ev, u->base, fd, kind, on_sock_event, u);
    }
    event_add(s->ev, NULL);
    return 0;
}

int upstream_init(upstream_loop_t *u, struct event_base *base, upstream_done_fn on_done)
{
    u->base = base;
    u->on_done = on_done;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    if (!u->multi || !u->timer) return -1;
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    /* Idle keep-alive connections kept per worker. Streams to one provider
     * are concurrent, so the cache must hold as many as we run at once;
     * 4096 covers the stream benchmark's concurrency on one worker. */
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 4096L);
    u->share = curl_share_init();
    if (u->share) curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return 0;
}

int upstream_start(upstream_loop_t *u, CURL *easy)
{
    if (u->share) curl_easy_setopt(easy, CURLOPT_SHARE, u->share);
    return curl_multi_add_handle(u->multi, easy) == CURLM_OK ? 0 : -1;
}

void upstream_cancel(upstream_loop_t *u, CURL *easy)
{
    curl_multi_remove_handle(u->multi, easy);
}

void upstream_free(upstream_loop_t *u)
{
    if (u->multi) curl_multi_cleanup(u->multi);
    if (u->share) curl_share_cleanup(u->share);
    if (u->timer) event_free(u->timer);
    u->multi = NULL; u->share = NULL; u->timer = NULL;
}
