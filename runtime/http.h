/* http.h - a small HTTP/1.1 server on libevent events and evbuffers.
 *
 * Why not evhttp: evhttp (2.1) answers limit violations with HTML bodies we
 * cannot replace, offers no hook before the body is read, allocates heavily
 * per request and hides client-close detection. This unit is the part of an
 * HTTP server a gateway needs and nothing more.
 *
 * Ownership: the server owns every http_conn_t and http_req_t. A handler gets
 * a request pointer that stays valid until BOTH (a) the reply has been ended
 * (http_reply / http_reply_end / http_reply_abort) and (b) the handler's user
 * has been told the request is over through the on_close callback, or the reply
 * was ended before the client went away. Concretely: after http_reply_end() or
 * after on_close fired, the caller must not touch the request again.
 *
 * Threading: one http_server_t per worker thread / event_base; nothing shared.
 */
#ifndef MOONGATE_HTTP_H
#define MOONGATE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <event2/buffer.h>

typedef struct http_server http_server_t;
typedef struct http_conn http_conn_t;
typedef struct http_req http_req_t;

typedef struct http_limits {
    size_t max_request_line;   /* bytes; over it: 414 */
    size_t max_header_bytes;   /* all header lines together; over it: 431 */
    int    max_headers;        /* count; over it: 431 */
    size_t max_body;           /* bytes (Content-Length or decoded chunked); over it: 413 */
    int    header_timeout_ms;  /* from first byte of a request to end of headers: 408 */
    int    body_timeout_ms;    /* the whole body must arrive within this after the head: 408 */
    int    idle_timeout_ms;    /* keep-alive idle between requests: close silently */
} http_limits_t;

typedef struct http_header {
    const char *name;          /* as received; lookups are case-insensitive */
    const char *value;         /* leading/trailing whitespace trimmed */
} http_header_t;

struct http_req {
    /* all strings NUL-terminated, owned by the request, valid for its life */
    const char *method;
    const char *target;        /* raw request-target, as received */
    const char *path;          /* target up to '?' (origin-form; absolute-form is reduced to its path) */
    const char *query;         /* after '?', "" when none */
    http_header_t *headers;
    int n_headers;
    const char *body;          /* contiguous, NUL-terminated (not counted in body_len); "" when none */
    size_t body_len;
    const char *client_addr;   /* "127.0.0.1:54321" */
    int http_minor;            /* 0 or 1 */
    void *user;                /* free for the handler's user */
};

/* Called once per complete request (headers and whole body read), on the
 * worker's loop. The handler must eventually end the reply (http_reply,
 * http_reply_end or http_reply_abort) unless on_close fired first. */
typedef void (*http_handler_fn)(http_req_t *req, void *arg);

/* Formats an error produced by the server itself (400, 408, 413, 414, 431,
 * 501), called by http.c from the connection's callbacks. path is the
 * request's path as far as it was read (NUL-terminated; may be cut short, a
 * guess from a malformed line, or NULL when nothing was read); it must not be
 * kept. Writes a JSON body into out, returns its content type (a static
 * string). Default: OpenAI envelope {"error":{"message","type","param","code"}}. */
typedef const char *(*http_error_fmt_fn)(int status, const char *message, const char *path,
                                         struct evbuffer *out, void *arg);

/* Fills lim with the defaults (8 KiB request line, 32 KiB of headers, 100
 * headers, 8 MiB body, timeouts 10 s header / 30 s body / 75 s idle).
 * http_server_new also uses the default for any field left at 0. */
void http_limits_default(http_limits_t *lim);

http_server_t *http_server_new(struct event_base *base, const http_limits_t *lim,
                               http_handler_fn handler, void *arg);
/* The OpenAI-style `code` string of a server error status ("request_timeout",
 * "request_too_large", "request_line_too_long", "headers_too_large"...). */
const char *http_error_code(int status);
void http_server_set_error_fmt(http_server_t *s, http_error_fmt_fn fmt, void *arg);
/* Starts accepting on an already bound+listening non-blocking fd (the caller
 * sets SO_REUSEPORT). Takes ownership of fd. */
int  http_server_listen_fd(http_server_t *s, int fd);
/* Serves an already connected socket as if the listener had accepted it
 * (socket activation, tests and the fuzzer, which uses a socketpair).
 * client_addr is what requests report ("local" when NULL). Takes ownership
 * of fd (closed on failure). Returns 0 or -1 (also while stopping). */
int  http_server_adopt_fd(http_server_t *s, int fd, const char *client_addr);
/* Stops accepting new connections; idle keep-alive connections are closed,
 * connections with a request in progress are closed after their reply ends. */
void http_server_stop_accepting(http_server_t *s);
/* Number of requests whose reply has not ended yet. */
int  http_server_active(const http_server_t *s);
/* Number of open connections (walks the list: for draining, not the hot path). */
int  http_server_connections(const http_server_t *s);
/* Frees everything, closing every connection (no callbacks fire). */
void http_server_free(http_server_t *s);

/* Header lookup (case-insensitive), NULL when absent. First match wins. */
const char *http_req_header(const http_req_t *r, const char *name);

/* Callbacks for a request whose reply is pending or streaming.
 * on_close: the client went away (or the connection failed) before the reply
 *   ended. Called from the loop, never from inside an http_* call. After it
 *   returns the request is freed: never touch it again.
 * on_drain: output buffer of the connection went below the low watermark
 *   after being above the high watermark (see http_reply_chunk). */
typedef void (*http_req_cb)(http_req_t *r, void *arg);
void http_req_set_callbacks(http_req_t *r, http_req_cb on_close, http_req_cb on_drain, void *arg);

/* Whole reply with Content-Length. extra_headers: "Name: value\r\n..." or NULL.
 * Ends the request. */
void http_reply(http_req_t *r, int status, const char *content_type,
                const char *extra_headers, const void *body, size_t len);
/* Streaming reply: chunked transfer for HTTP/1.1, close-delimited for 1.0. */
void http_reply_start(http_req_t *r, int status, const char *content_type,
                      const char *extra_headers);
/* Queues data; returns bytes now pending in the connection's output buffer so
 * the caller can apply backpressure (compare with HTTP_OUT_HIGH_WATER). */
size_t http_reply_chunk(http_req_t *r, const void *data, size_t len);
/* Same, moving the contents of buf (buf is left empty, still owned by caller). */
size_t http_reply_chunk_buf(http_req_t *r, struct evbuffer *buf);
/* Ends a streaming reply (last chunk); ends the request. */
void http_reply_end(http_req_t *r);
/* Ends the request by closing the connection without a proper end (used when
 * an upstream fails after commit and the dialect has no error event). */
void http_reply_abort(http_req_t *r);
size_t http_req_pending_output(const http_req_t *r);

/* Output buffering thresholds. 64 KiB is a few dozen SSE events: enough to
 * ride out a slow socket without growing per-stream memory. */
#define HTTP_OUT_HIGH_WATER (64 * 1024)
#define HTTP_OUT_LOW_WATER  (16 * 1024)

#endif
