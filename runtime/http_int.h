/* http_int.h - what http.c (connections, replies, listener) and http_read.c
 * (the request reader: head and body parsing) share. Private to the HTTP
 * server: nothing outside runtime/http*.c includes it. */
#ifndef MOONGATE_HTTP_INT_H
#define MOONGATE_HTTP_INT_H

#include "http.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stddef.h>

/* Input we keep while a request is in progress (a pipelining client). Past
 * it the rest is dropped and the connection closes after the reply: a client
 * that pipelines must retry unanswered requests anyway (RFC 9112 9.3.2). */
#define HTTP_PIPELINE_CAP   (64 * 1024)
/* A chunk-size line with extensions; real clients send a few bytes. */
#define HTTP_CHUNK_LINE_MAX 1024
/* After an error reply we half-close and discard input this long so the
 * kernel does not answer unread bytes with an RST that eats our reply. */
#define HTTP_LINGER_MS      1000
/* A body buffer bigger than this is freed after its request instead of
 * being kept for the next one: one big upload must not pin memory. */
#define HTTP_BODY_KEEP      (1024 * 1024)
/* Empty lines tolerated before a request line (RFC 9112 2.2). */
#define HTTP_MAX_LEAD_EOLS  8
/* accept() failing with EMFILE & co: pause the listener this long. */
#define HTTP_ACCEPT_PAUSE_MS 100
/* Connections accepted per readiness of the listening socket (the rest
 * stays queued in the kernel; epoll, level-triggered, reports it again).
 * Measured at 4,096 paced streams opened at once (bench lane 3, two rounds
 * each): slices of 16 took longer to let every client in (TTFT p99 1175 and
 * 726 ms) and stalled more events (1208, 3397) than accepting the whole
 * queue (659 and 611 ms; 88, 1028), so the cap only bounds one turn. */
#ifndef HTTP_ACCEPT_BATCH
#define HTTP_ACCEPT_BATCH 1024
#endif
/* Bytes asked of one read: a whole typical request, and with libevent's
 * chain header (under 128 bytes) the chain it allocates stays a 16 KiB block
 * instead of being rounded up to 32 KiB. A larger body takes more reads. */
#define HTTP_READ_SIZE      (16 * 1024 - 128)

enum conn_state { ST_IDLE, ST_HEAD, ST_BODY, ST_HANDLING, ST_FLUSHING, ST_LINGER };
enum body_mode { BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum reply_mode { RM_NONE, RM_CHUNKED, RM_RAW };
enum framing { FR_LENGTH, FR_CHUNKED, FR_CLOSE };

struct http_server {
    struct event_base *base;
    http_limits_t lim;
    http_handler_fn handler;
    void *arg;
    http_error_fmt_fn err_fmt;
    void *err_arg;
    struct event *lev;          /* EV_READ on the listening socket; owns the fd */
    evutil_socket_t lfd;
    struct event *accept_retry;
    const struct timeval *tv_header, *tv_body, *tv_idle;   /* common timeouts */
    struct timeval tv_write, tv_linger;
    http_conn_t *conns;
    int active;
    int stopping;
};

struct http_conn {
    http_server_t *srv;
    http_conn_t *prev, *next;
    evutil_socket_t fd;            /* -1 once closed */
    struct evbuffer *in, *out;     /* kept until conn_free */
    struct event *rev;             /* readable: always armed while open, see conn_read_ev */
    struct event *wev;             /* writable: armed while output waits, see conn_write_ev */
    struct event *timer;           /* see conn_timer_cb */
    enum conn_state state;
    http_req_t req;
    /* head: scanned in the input buffer, then copied to hbuf and split in place */
    char *hbuf;
    size_t hcap;
    size_t hscan;                  /* offset of the first line not scanned yet */
    size_t rl_end;                 /* offset past the request line, 0 until seen */
    int hcount;
    int head_taken;                /* the head left the input (conn_head_complete) */
    http_header_t *hdrs;
    int hdr_cap;
    /* body */
    char *body;
    size_t body_cap, body_len;
    enum body_mode body_mode;
    size_t body_left;              /* LENGTH: bytes to go; CHUNKED: of this chunk */
    enum chunk_state ch;
    size_t trailer_bytes;
    /* reply */
    enum reply_mode reply;
    http_req_cb on_close, on_drain;
    void *cb_arg;
    unsigned keep_alive : 1, req_live : 1, is_head : 1, close_after : 1, linger_after : 1,
             overflow : 1, dead : 1, flush_pending : 1, above_high : 1,
             push_pending : 1, writing : 1;   /* writing: output waits for EV_WRITE */
    char client_addr[64];
};

#define REQ_CONN(r) ((http_conn_t *)((char *)(r) - offsetof(http_conn_t, req)))

/* http.c: closes the socket now, frees the connection on the next loop pass. */
void http_conn_close(http_conn_t *c);
/* http_reply.c: answers a server error (the envelope from the server's
 * formatter), closes after it; returns -1 so a parser can `return
 * http_conn_error(...)`. */
int  http_conn_error(http_conn_t *c, int status, const char *msg);
/* http.c: writes what the output buffer holds as far as the socket takes it. */
void http_conn_push(http_conn_t *c);
/* http.c: the current reply is complete in the output (pushed): move on to
 * the next request, or the close, from the loop once it is written. */
void http_conn_reply_queued(http_conn_t *c);
/* http_reply.c: the default error formatter (the OpenAI envelope). */
const char *http_default_error_fmt(int status, const char *message, const char *path,
                                  struct evbuffer *out, void *arg);
/* http_read.c: runs the request state machine over the buffered input; calls
 * the server's handler once a request is complete. */
void http_conn_process(http_conn_t *c);

#endif
