/* relay.c - the upstream response of a stream's current attempt, as uclient
 * hands it over (status, headers, body bytes): which headers reach the
 * client, the body held, relayed raw, or decoded as SSE and relayed event by
 * event (the role chunk held, the usage chunk hidden when the client did not
 * ask for it, an error event before commit turned into a retryable failure),
 * and the usage counted on the way. stream.c decides what happens when the
 * attempt ends; reply.c writes. Called from the worker's loop only. */
#include "stream.h"
#include "fmt.h"
#include "scan.h"
#include "evmem.h"
#include "retry.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

/* Records usage found in a JSON text (see scan_usage). Returns 1 when found. */
int relay_usage_scan(stream_t *s, const char *p, size_t n)
{
    int64_t pt, ct;
    if (!scan_usage(p, n, &pt, &ct)) return 0;
    if (pt >= 0) s->prompt_tokens = pt;
    if (ct >= 0) s->completion_tokens = ct;
    return 1;
}

/* Hop-by-hop and gateway-owned headers are not forwarded to the client. */
static int header_forwardable(const char *name, size_t len, int sse)
{
#define H(s) { s, sizeof(s) - 1 }
    static const struct { const char *s; size_t n; } drop[] = { H("connection"), H("keep-alive"),
        H("transfer-encoding"), H("content-length"), H("content-type"), H("te"), H("trailer"),
        H("upgrade"), H("proxy-authenticate"), H("proxy-connection"), H("date"), H("server"),
        H("set-cookie"), H("x-request-id"), H("alt-svc") };
#undef H
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (drop[i].n == len && strncasecmp(name, drop[i].s, len) == 0) return 0;
    if (sse && ((len == 13 && strncasecmp(name, "cache-control", 13) == 0) ||
                (len == 17 && strncasecmp(name, "x-accel-buffering", 17) == 0)))
        return 0;
    return 1;
}

static void on_headers_end(stream_t *s)
{
    if (retry_status_retryable(s->up_status)) { s->mode = MODE_DISCARD; return; }
    if (strncasecmp(s->up_ctype, "text/event-stream", 17) == 0) s->mode = MODE_SSE;
    else if (s->up_clen < 0 || (unsigned long long)s->up_clen <= BUFFER_CAP) s->mode = MODE_BUFFER;
    else s->mode = MODE_RAW;
    if (s->at[s->cur].translate) {
        /* a translated body is converted whole: never relayed raw */
        if (s->mode == MODE_RAW) s->mode = MODE_BUFFER;
        if (xlate_begin(s) != 0) { s->fail = FAIL_PROTOCOL; s->mode = MODE_DISCARD; return; }
    }
    if (s->mode == MODE_SSE && !s->sse_ready) {
        sse_init(&s->sse, s->w->gw->st.sse_max_event);
        s->sse_ready = 1;
    }
    /* cache-control etc. were collected before we knew the mode: filter now */
    if (s->mode == MODE_SSE && evbuffer_get_length(s->up_hdrs)) {
        struct evbuffer *keep = evbuffer_new();
        char *line;
        size_t len;
        while ((line = evbuffer_readln(s->up_hdrs, &len, EVBUFFER_EOL_CRLF))) {
            const char *c = strchr(line, ':');
            if (c && header_forwardable(line, (size_t)(c - line), 1)) evbuffer_add_printf(keep, "%s\r\n", line);
            evmem_free(line);   /* libevent's allocation, see evmem.h */
        }
        evbuffer_drain(s->up_hdrs, evbuffer_get_length(s->up_hdrs));
        evbuffer_add_buffer(s->up_hdrs, keep);
        evbuffer_free(keep);
    }
}

/* uclient: the final status line of the current attempt's response. */
void relay_on_status(void *arg, int status)
{
    stream_t *s = arg;
    stream_note_activity(s);
    s->up_status = status;
}

/* uclient: one response header. Remembers what the stream needs and keeps
 * the forwardable ones for the client. */
void relay_on_header(void *arg, const char *p, size_t nlen, const char *v, size_t vlen)
{
    stream_t *s = arg;
#define IS(h) (nlen == sizeof(h) - 1 && strncasecmp(p, h, nlen) == 0)
    if (IS("content-type")) fmt_copy(s->up_ctype, sizeof s->up_ctype, v, vlen);
    else if (IS("content-length")) s->up_clen = strtoll(v, NULL, 10);
    else if (IS("retry-after")) fmt_copy(s->ra, sizeof s->ra, v, vlen);
    else if (IS("retry-after-ms")) fmt_copy(s->ra_ms, sizeof s->ra_ms, v, vlen);
    else if (IS("x-request-id")) reply_header_line(s->up_hdrs, "x-upstream-request-id", 21, v, vlen);
#undef IS
    if (header_forwardable(p, nlen, 0)) reply_header_line(s->up_hdrs, p, nlen, v, vlen);
}

/* uclient: end of the response headers. */
void relay_on_headers_end(void *arg)
{
    on_headers_end(arg);
}

/* sse: one complete upstream event. Serialises it into s->out unless it must
 * be hidden; returns non-zero to stop decoding (an error event before commit
 * makes the attempt fail so it can be retried). */
/* Passthrough SSE relays the upstream's own bytes, not a re-serialisation:
 * line ends, comments, id:/retry: fields and spacing reach the client as
 * the provider sent them. An event's bytes run from where the previous one
 * (or a comment relayed on its own) ended to the decoder's position now:
 * the part read earlier waits in s->body, the rest is in the current read.
 * keep = 0 drops them (the usage chunk the client did not ask for). */
static void raw_take(stream_t *s, int keep)
{
    size_t end = s->sse.off;
    if (keep) {
        evbuffer_add_buffer(s->out, s->body);
        evbuffer_add(s->out, s->slice + s->slice_off, end - s->slice_off);
    } else {
        evbuffer_drain(s->body, evbuffer_get_length(s->body));
    }
    s->slice_off = end;
}

/* sse decoder (from sse_feed in up_on_body): a comment line. Between events
 * of a passthrough stream it is relayed at once, so keep-alive comments
 * (OpenRouter's ": OPENROUTER PROCESSING") keep the client's connection
 * busy; before anything was committed it is held like a role chunk, so an
 * error right after it can still be retried. Inside an event it goes out
 * with the event. Translated streams drop comments. */
static int on_sse_comment(const char *text, size_t len, void *arg)
{
    stream_t *s = arg;
    (void)text; (void)len;
    if (s->tr_ref != LUA_NOREF || s->sse.has_data || s->sse.event_len) return 0;
    raw_take(s, 1);
    if (!s->committed) s->held = 1;
    return 0;
}

static int on_sse_event(const sse_event_t *ev, void *arg)
{
    stream_t *s = arg;
    const char *d = ev->data;
    size_t n = ev->data_len;
    if (n > 7 && fmt_find(d, n < 64 ? n : 64, "\"error\"", 7) && !fmt_find(d, n, "\"choices\"", 9)) {
        if (!s->committed && (s->held || evbuffer_get_length(s->out) == 0)) {
            /* nothing but a role chunk went by: this attempt failed, retry it */
            evbuffer_drain(s->out, evbuffer_get_length(s->out));
            s->held = 0;
            s->fail = FAIL_ERROR_EVENT;
            return 1;
        }
        s->abort = "upstream_error_event";   /* relayed as is; the log says so */
    }
    if (s->tr_ref != LUA_NOREF) {
        if (xlate_event(s, ev->event, ev->event_len, d, n) != 0) { s->fail = FAIL_PROTOCOL; return 1; }
        return 0;
    }
    /* The first chunk of an OpenAI stream only says role=assistant. Holding it
     * (not committing) until the next event keeps an error that comes right
     * after it retryable; it carries no token, so time to first token is
     * unchanged. */
    int hold = !s->committed && (s->held || evbuffer_get_length(s->out) == 0) &&
               fmt_find(d, n, "\"role\"", 6) && !fmt_find(d, n, "\"tool_calls\"", 12) &&
               (fmt_find(d, n, "\"content\":\"\"", 12) || fmt_find(d, n, "\"content\":null", 14));
    if ((fmt_find(d, n, "\"usage\"", 7) || (s->dialect == DIALECT_GEMINI && fmt_find(d, n, "\"usageMetadata\"", 15))) &&
        relay_usage_scan(s, d, n) && s->hide_usage &&
        (fmt_find(d, n, "\"choices\":[]", 12) || fmt_find(d, n, "\"choices\": []", 13) ||
         fmt_find(d, n, "\"choices\":null", 14))) {   /* vLLM's usage chunk says null */
        raw_take(s, 0);
        return 0;   /* the usage chunk the client did not ask for */
    }
    raw_take(s, 1);
    s->held = hold;
    return 0;
}

/* uclient: body bytes of the current attempt. Returns len to go on,
 * UC_PAUSE to get the same bytes again after uc_resume (slow client), 0 to
 * abort the transfer (then on_done says UC_ERR_ABORTED). Never frees the
 * stream: that happens in up_on_done or on_client_close. */
size_t relay_on_body(void *arg, const char *p, size_t len)
{
    stream_t *s = arg;
    stream_note_activity(s);
    if (!s->req) return 0;                      /* client gone: abort */
    switch (s->mode) {
    case MODE_DISCARD:
        /* a retryable error: keep its start, to quote its message if it is the last */
        if (evbuffer_get_length(s->body) < DISCARD_KEEP)
            evbuffer_add(s->body, p, len < DISCARD_KEEP ? len : DISCARD_KEEP);
        return len;
    case MODE_SSE: {
        if (s->committed && http_req_pending_output(s->req) > HTTP_OUT_HIGH_WATER) {
            s->paused = 1;
            return UC_PAUSE;
        }
        s->slice = p;
        s->slice_off = 0;
        int rc = sse_feed(&s->sse, p, len, on_sse_event, on_sse_comment, s);
        if (rc == SSE_TOO_LARGE || rc == SSE_NOMEM) { s->fail = FAIL_PROTOCOL; return 0; }
        if (rc == SSE_STOPPED) return 0;
        /* the start of an event not complete yet (passthrough: see raw_take) */
        if (s->tr_ref == LUA_NOREF && s->slice_off < len) evbuffer_add(s->body, p + s->slice_off, len - s->slice_off);
        s->slice = NULL;
        if (evbuffer_get_length(s->out) && !s->held) {
            reply_commit(s);
            http_reply_chunk_buf(s->req, s->out);
        }
        return len;
    }
    case MODE_BUFFER:
        if (evbuffer_get_length(s->body) + len <= BUFFER_CAP) {
            evbuffer_add(s->body, p, len);
            return len;
        }
        if (s->tr_ref != LUA_NOREF) { s->fail = FAIL_PROTOCOL; return 0; }   /* too big to translate */
        s->mode = MODE_RAW;                     /* too big to hold: relay from here on */
        reply_commit(s);
        http_reply_chunk_buf(s->req, s->body);
        /* fall through */
    case MODE_RAW:
        if (s->committed && http_req_pending_output(s->req) > HTTP_OUT_HIGH_WATER) {
            s->paused = 1;
            return UC_PAUSE;
        }
        reply_commit(s);
        http_reply_chunk(s->req, p, len);
        return len;
    default:
        return 0;
    }
}
