/* uclient.h - a lean HTTP/1.1 client on one libevent loop, with keep-alive
 * connection pooling, for the gateway's upstream hot path.
 *
 * One pool per worker (per event_base); everything here runs on that loop's
 * thread and nothing is locked. A pool owns: its idle keep-alive connections
 * (per scheme, host, port and TLS-verify setting), a small DNS cache per
 * origin, the SSL_CTX (created on first https use) and, when it made it, the
 * evdns_base. A request (uc_req_t) owns its timers and its request head; the
 * caller owns the request body and must keep it valid until on_done or
 * uc_cancel. A connection serves one request at a time (no pipelining).
 *
 * Callback contract (all callbacks run on the loop thread, from libevent
 * callbacks, never from inside a uc_* call the caller made):
 *   on_status once (final status; 1xx interim responses are skipped), then
 *   on_header per header, on_headers_end once, on_body zero or more times,
 *   and on_done exactly once per started transfer unless it was cancelled.
 *   Any callback may call uc_pause, uc_resume or uc_cancel on its own request
 *   (after uc_cancel no callback comes, and the request is gone) and may
 *   start other transfers. Name/value/data pointers are valid only for the
 *   duration of the call. The uc_req_t is freed right after on_done returns.
 *
 * The process must ignore SIGPIPE (libevent writes with writev). Idle pooled
 * connections stay registered for EV_READ, so event_base_dispatch does not
 * return while any are pooled: stop loops with event_base_loopbreak. */
#ifndef MOONGATE_UCLIENT_H
#define MOONGATE_UCLIENT_H

#include <stddef.h>
#include <event2/event.h>

struct evdns_base;

typedef struct uc_pool uc_pool_t;
typedef struct uc_req uc_req_t;

enum {
    UC_OK = 0,
    UC_ERR_CONNECT,     /* TCP connect failed (refused, unreachable) */
    UC_ERR_TIMEOUT,     /* connect_ms or total_ms expired */
    UC_ERR_RESET,       /* connection closed or reset before the response ended */
    UC_ERR_PROTOCOL,    /* malformed response, or bad bytes after it */
    UC_ERR_TLS,         /* handshake, certificate or TLS record failure */
    UC_ERR_DNS,         /* name did not resolve */
    UC_ERR_ABORTED,     /* on_body returned 0 */
};

#define UC_PAUSE ((size_t)-1)

typedef struct uc_callbacks {
    void (*on_status)(void *arg, int status);
    void (*on_header)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
    void (*on_headers_end)(void *arg);
    /* Returns len to go on, UC_PAUSE to be handed the same bytes again after
     * uc_resume(), anything else (0) to abort: on_done(UC_ERR_ABORTED). */
    size_t (*on_body)(void *arg, const char *data, size_t len);
    /* detail: NULL on UC_OK, else a short reason for the log (valid during the call). */
    void (*on_done)(void *arg, int result, const char *detail);
} uc_callbacks_t;

typedef struct uc_stats {
    unsigned long connects;   /* new connections started (TCP connect attempts) */
    unsigned long reuses;     /* requests sent on a pooled keep-alive connection */
    unsigned long retries;    /* stale keep-alive connections retried on a fresh one */
    unsigned long idle;       /* idle connections pooled right now */
} uc_stats_t;

/* dns may be NULL: the pool then creates (and frees) its own from
 * /etc/resolv.conf and /etc/hosts. max_idle_per_origin caps the idle
 * connections kept per origin; extras are closed when released. */
uc_pool_t *uc_pool_new(struct event_base *base, struct evdns_base *dns, int max_idle_per_origin);
/* Closes idle connections. No transfer may be running. */
void uc_pool_free(uc_pool_t *p);
void uc_pool_stats(const uc_pool_t *p, uc_stats_t *st);
/* Whether a request whose reused keep-alive connection broke before any
 * response byte is sent again once on a fresh connection (default: on, as
 * browsers and libcurl do). The gateway turns it off: the upstream may have
 * read a POST before it closed, and every send must be a counted attempt. */
void uc_pool_set_stale_retry(uc_pool_t *p, int on);
/* Idle pooled connections are closed after ms (default 50 s, below the
 * 60 s idle cut-off common at load balancers, so we close first). */
void uc_pool_set_idle_timeout(uc_pool_t *p, int ms);

/* Starts a transfer. url: http:// or https://, host (IPv6 in brackets),
 * optional port and path. headers: n "Name: value" strings without CRLF,
 * copied into the request head before returning; Host, Content-Length and
 * Connection: keep-alive are added here (callers' copies are dropped). The
 * body (may be NULL) is not copied: it must stay valid until on_done or
 * uc_cancel. Timeouts in ms, 0 = none: connect_ms covers DNS + TCP + TLS of
 * a new connection, total_ms the whole transfer. cb is copied. Returns NULL,
 * with no callback to come, on a bad URL, header or method, or no memory. */
uc_req_t *uc_start(uc_pool_t *p, const char *url, const char *method,
                   const char *const *headers, int n_headers,
                   const char *body, size_t body_len,
                   int connect_ms, int total_ms, int tls_verify,
                   const uc_callbacks_t *cb, void *arg);
/* Stops reading from the upstream: no on_body until uc_resume. */
void uc_pause(uc_req_t *r);
/* Reads again; a chunk refused with UC_PAUSE is handed over again first.
 * Delivery is deferred to the loop, never inside this call. */
void uc_resume(uc_req_t *r);
/* Ends the transfer now: no callback after this, the connection is closed
 * (not pooled), the request is freed (at once, or when the callback it was
 * called from returns). A no-op from inside the request's own on_done. */
void uc_cancel(uc_req_t *r);

#endif
