/* stream.h - the state of one request, shared by the units that make up the
 * stream: stream.c (the state machine, sole owner and freer), reply.c (what
 * the client receives, in its dialect) and xlate.c (calls into the Lua
 * translators when client and provider speak different dialects).
 * Nothing outside those three files includes this. */
#ifndef MOONGATE_STREAM_H
#define MOONGATE_STREAM_H

#include "worker.h"
#include "sse.h"

#include <stdint.h>
#include <time.h>
#include <event2/buffer.h>

#define MAX_ATTEMPTS 16          /* a plan longer than this is cut: 16 targets is already absurd */
#define MAX_RETRIES 10           /* per target, whatever the policy says */
/* Non-stream bodies up to this size are collected and sent with a
 * Content-Length once complete, which also keeps them retryable until then;
 * bigger ones (files, audio) are relayed chunk by chunk as they arrive. */
#define BUFFER_CAP (4u << 20)
#define DISCARD_KEEP 2048   /* bytes of a retryable error body kept to quote its message */

enum { MODE_NONE, MODE_DISCARD, MODE_SSE, MODE_BUFFER, MODE_RAW };
enum { FAIL_NONE, FAIL_STATUS, FAIL_TIMEOUT, FAIL_CONNECT, FAIL_RESET, FAIL_PROTOCOL, FAIL_ERROR_EVENT };
enum { TIMER_NONE, TIMER_FIRST_BYTE, TIMER_IDLE, TIMER_BACKOFF };

typedef struct attempt {
    const char *provider, *model, *url, *method, *body;   /* point into the anchored plan table */
    size_t body_len;
    int retries;
    int backoff_base, backoff_cap;                        /* ms */
    int t_connect, t_first_byte, t_idle, t_total;         /* ms */
    int translate;                                        /* client and provider dialects differ */
} attempt_t;

typedef struct stream {
    worker_t *w;
    struct stream *prev, *next;  /* the worker's live streams */
    policy_vm_t *vm;
    http_req_t *req;             /* NULL once the client side is done */
    void *core;                  /* request core userdata (anchored by core_ref) */
    int core_ref, plan_ref;
    char id[20];
    char method[16], path[256], route[24];
    double t_start, t_first_out; /* monotonic seconds */

    attempt_t at[MAX_ATTEMPTS];
    int n_at, cur, tries_cur, tries_total;
    int client_stream, hide_usage;
    int dialect;                 /* the client's: DIALECT_* */
    int tr_ref;                  /* translator of the current attempt (xlate.c), or LUA_NOREF */
    char tr_ctype[64];           /* that translator's Content-Type for the client's stream
                                    (a Gemini JSON array); "" = SSE (see reply_commit) */

    uc_req_t *ur;                /* the running upstream transfer, NULL between attempts */
    char detail[160];            /* why the last transfer failed, for the log */
    char up_msg[160];            /* the "message" of the last retryable error body, for the
                                    final error once every attempt failed (may be "") */
    int up_status, mode, fail, committed, paused;
    int held;                    /* a role-only first event waits in out (see on_sse_event) */
    long long up_clen;
    char up_ctype[128];
    char ra[48], ra_ms[24];      /* Retry-After, retry-after-ms of the last response */
    struct evbuffer *up_hdrs;    /* upstream headers to forward, "Name: value\r\n" */
    struct evbuffer *out;        /* events decoded from one upstream read */
    struct evbuffer *body;       /* MODE_BUFFER; in a passthrough MODE_SSE: the bytes of an
                                    event begun in an earlier upstream read (see raw_take) */
    const char *slice;           /* passthrough MODE_SSE, during sse_feed: the read being */
    size_t slice_off;            /* fed, and how much of it was already taken */
    sse_decoder_t sse;
    int sse_ready;

    struct event *timer;
    int timer_kind;
    double last_activity;
    int last_fail, last_status;
    int64_t last_retry_ms;
    int64_t prompt_tokens, completion_tokens;

    int status_sent;
    const char *abort;
    int finished;
} stream_t;

static inline double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


enum { DIALECT_OPENAI, DIALECT_ANTHROPIC, DIALECT_GEMINI };

/* relay.c: the upstream response of the current attempt (uclient callbacks,
 * arg = the stream) */
void   relay_on_status(void *arg, int status);
void   relay_on_header(void *arg, const char *name, size_t nlen, const char *v, size_t vlen);
void   relay_on_headers_end(void *arg);
size_t relay_on_body(void *arg, const char *p, size_t len);   /* len, UC_PAUSE or 0 (abort) */
int    relay_usage_scan(stream_t *s, const char *p, size_t n);  /* usage found in JSON text: 1 */
/* stream.c: upstream bytes arrived (the idle deadline applies from now on) */
void   stream_note_activity(stream_t *s);

/* reply.c: everything the client receives */
void reply_headers(stream_t *s, struct evbuffer *h);
void reply_header_line(struct evbuffer *b, const char *name, size_t nlen, const char *v, size_t vlen);
void reply_full(stream_t *s, int status, const char *ctype, const char *extra, const void *body, size_t len);
void reply_error(stream_t *s, int status, const char *type, const char *code, const char *extra_headers,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void reply_commit(stream_t *s);
/* The client dialect an endpoint path implies (DIALECT_*); NULL: OpenAI. */
int  reply_dialect_of_path(const char *path);
/* http_error_fmt_fn for the server's own errors, in the path's dialect. */
const char *reply_server_error(int status, const char *message, const char *path, struct evbuffer *out,
                               void *arg);
/* After commit: ends the stream with the dialect's error event (SSE) or by
 * closing the connection (other bodies). */
void reply_end_with_error(stream_t *s, const char *code, const char *what);
void client_done(stream_t *s, int status);

/* xlate.c: translation between dialects (docs/internals.md section 6) */
int  xlate_begin(stream_t *s);                            /* 0, or -1 (logged) */
int  xlate_event(stream_t *s, const char *name, size_t nlen, const char *data, size_t dlen);
int  xlate_finish(stream_t *s);                           /* appends frames to s->out */
int  xlate_error(stream_t *s, const char *code, const char *message);
int  xlate_body(stream_t *s);                             /* s->body, up_status, up_ctype replaced */
void xlate_end(stream_t *s);                              /* drops the translator */

#endif
