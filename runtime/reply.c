/* reply.c - what the client receives: headers every reply carries, whole
 * replies, the start of a streamed reply (the commit), and errors in the
 * client's dialect (OpenAI, Anthropic or Gemini shape, always with the request
 * id), before commit as a status and body, after it as the dialect's error
 * event. Owns nothing: it writes through the stream's request. */
#include "stream.h"
#include "fmt.h"
#include "log.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Appends "name: value\r\n" to b in one evbuffer_add when it fits a line
 * buffer (one call instead of four: headers are most of a reply's adds). */
void reply_header_line(struct evbuffer *b, const char *name, size_t nlen, const char *v, size_t vlen)
{
    char line[512];
    if (nlen + vlen + 4 <= sizeof line) {
        memcpy(line, name, nlen);
        line[nlen] = ':'; line[nlen + 1] = ' ';
        memcpy(line + nlen + 2, v, vlen);
        line[nlen + 2 + vlen] = '\r'; line[nlen + 3 + vlen] = '\n';
        evbuffer_add(b, line, nlen + vlen + 4);
        return;
    }
    evbuffer_add(b, name, nlen);
    evbuffer_add(b, ": ", 2);
    evbuffer_add(b, v, vlen);
    evbuffer_add(b, "\r\n", 2);
}

/* Appends "name: value\r\n" with the value made safe for a header: model
 * ids come from client bodies, where a JSON escape can carry CR, LF or other
 * control bytes; those become '?' so nothing can be injected. */
static void header_safe(struct evbuffer *h, const char *name, const char *v)
{
    char buf[512];
    size_t n = 0;
    for (; *v && n < sizeof buf - 1; v++) {
        unsigned char c = (unsigned char)*v;
        buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    reply_header_line(h, name, strlen(name), buf, n);
}

/* The extra headers every reply of this stream carries. */
void reply_headers(stream_t *s, struct evbuffer *h)
{
    reply_header_line(h, "x-request-id", 12, s->id, strlen(s->id));
    if (s->n_at > 0 && s->tries_total > 0) {
        const attempt_t *a = &s->at[s->cur < s->n_at ? s->cur : s->n_at - 1];
        header_safe(h, "x-moongate-provider", a->provider);
        header_safe(h, "x-moongate-model", a->model);
        char n[48], *e = fmt_udec(n, (unsigned)s->tries_total);
        reply_header_line(h, "x-moongate-attempts", 19, n, (size_t)(e - n));
    }
}

void client_done(stream_t *s, int status)
{
    /* the reply has ended: http.c owns and frees the request from here on */
    s->status_sent = status;
    s->req = NULL;
}

/* A complete reply with Content-Length; ends the client side. The headers
 * are put together in s->out: a whole reply replaces anything a failed
 * attempt left there. */
void reply_full(stream_t *s, int status, const char *ctype, const char *extra,
                       const void *body, size_t len)
{
    if (!s->req) return;
    struct evbuffer *h = s->out;
    evbuffer_drain(h, evbuffer_get_length(h));
    reply_headers(s, h);
    if (extra) evbuffer_add(h, extra, strlen(extra));
    evbuffer_add(h, "", 1);
    if (s->t_first_out == 0) s->t_first_out = mono();
    http_reply(s->req, status, ctype, (const char *)evbuffer_pullup(h, -1), body, len);
    evbuffer_drain(h, evbuffer_get_length(h));
    client_done(s, status);
}

/* Error type names by status, per dialect. */
static const char *anthropic_type(int status)
{
    switch (status) {
    case 400: case 405: case 414: case 422: case 431: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: case 503: return "overloaded_error";
    default: return "api_error";
    }
}

static const char *gemini_status(int status)
{
    switch (status) {
    case 400: case 405: case 413: case 414: case 422: case 431: return "INVALID_ARGUMENT";
    case 408: return "DEADLINE_EXCEEDED";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 429: return "RESOURCE_EXHAUSTED";
    case 502: case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return "INTERNAL";
    }
}

/* The error body of the client's dialect, with the request id in the
 * message. type/code are OpenAI's names; the other dialects derive theirs
 * from the status, as their APIs do. */
static size_t dialect_error_json(int dialect, const char *id, char *body, size_t cap, int status,
                                 const char *type, const char *code, const char *msg)
{
    size_t n;
    char rid[48] = "";
    if (id) snprintf(rid, sizeof rid, " (request id %s)", id);
    switch (dialect) {
    case DIALECT_ANTHROPIC:
        n = (size_t)snprintf(body, cap, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"",
                             anthropic_type(status));
        log_json_escape(body, &n, cap - 64, msg);
        n += (size_t)snprintf(body + n, cap - n, "%s\"}}", rid);
        break;
    case DIALECT_GEMINI:
        n = (size_t)snprintf(body, cap, "{\"error\":{\"code\":%d,\"message\":\"", status);
        log_json_escape(body, &n, cap - 96, msg);
        n += (size_t)snprintf(body + n, cap - n, "%s\",\"status\":\"%s\"}}", rid, gemini_status(status));
        break;
    default:
        n = (size_t)snprintf(body, cap, "{\"error\":{\"message\":\"");
        log_json_escape(body, &n, cap - 160, msg);
        n += (size_t)snprintf(body + n, cap - n, "%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
                              rid, type, code);
    }
    return n < cap ? n : cap - 1;
}

static size_t error_json(stream_t *s, char *body, size_t cap, int status, const char *type,
                         const char *code, const char *msg)
{
    return dialect_error_json(s->dialect, s->id, body, cap, status, type, code, msg);
}

int reply_dialect_of_path(const char *path)
{
    if (!path) return DIALECT_OPENAI;
    if (strncmp(path, "/v1/messages", 12) == 0) return DIALECT_ANTHROPIC;
    if (strstr(path, ":generateContent") || strstr(path, ":streamGenerateContent") || strstr(path, ":countTokens"))
        return DIALECT_GEMINI;
    return DIALECT_OPENAI;
}

/* http.c, for the errors it answers itself (400, 408, 413, 414, 431, 501)
 * before any stream exists: the envelope of the dialect the path names, so
 * an Anthropic or Gemini SDK can read why (no request id: none was
 * assigned yet). */
const char *reply_server_error(int status, const char *message, const char *path, struct evbuffer *out,
                               void *arg)
{
    (void)arg;
    char body[1024];
    size_t n = dialect_error_json(reply_dialect_of_path(path), NULL, body, sizeof body, status,
                                  "invalid_request_error", http_error_code(status), message);
    evbuffer_add(out, body, n);
    return "application/json";
}

void reply_error(stream_t *s, int status, const char *type, const char *code,
                 const char *extra_headers, const char *fmt, ...)
{
    char msg[512], body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = error_json(s, body, sizeof body, status, type, code, msg);
    reply_full(s, status, "application/json", extra_headers, body, n);
}

/* First byte to the client: send status and headers. */
void reply_commit(stream_t *s)
{
    if (s->committed || !s->req) return;
    s->committed = 1;
    s->t_first_out = mono();
    struct evbuffer *h = evbuffer_new();
    reply_headers(s, h);
    const char *ctype = s->up_ctype[0] ? s->up_ctype : NULL;
    if (s->mode == MODE_SSE) {
        /* a stream: SSE, unless the translator frames it otherwise (xlate.c) */
        evbuffer_add(h, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n", 48);
        ctype = s->tr_ctype[0] ? s->tr_ctype : "text/event-stream; charset=utf-8";
    }
    evbuffer_add_buffer(h, s->up_hdrs);
    evbuffer_add(h, "", 1);
    http_reply_start(s->req, s->up_status, ctype, (const char *)evbuffer_pullup(h, -1));
    evbuffer_free(h);
    s->status_sent = s->up_status;
}


void reply_end_with_error(stream_t *s, const char *code, const char *what)
{
    s->abort = code;
    if (!s->req) return;
    if (s->mode == MODE_SSE) {
        char buf[1024];
        size_t n = 0;
        if (s->tr_ref != LUA_NOREF && xlate_error(s, code, what) == 0) {
            /* the translator wrote the client dialect's error frames into s->out */
        } else if (s->dialect == DIALECT_ANTHROPIC) {
            n = (size_t)snprintf(buf, sizeof buf, "event: error\ndata: ");
            n += error_json(s, buf + n, sizeof buf - n - 2, 502, "upstream_error", code, what);
            buf[n++] = '\n'; buf[n++] = '\n';
        } else {
            /* OpenAI: a data event with an error object and no [DONE];
             * Gemini: its error object as an event */
            n = (size_t)snprintf(buf, sizeof buf, "data: ");
            n += error_json(s, buf + n, sizeof buf - n - 2, 502, "upstream_error", code, what);
            buf[n++] = '\n'; buf[n++] = '\n';
        }
        if (evbuffer_get_length(s->out)) http_reply_chunk_buf(s->req, s->out);
        if (n) http_reply_chunk(s->req, buf, n);
        http_reply_end(s->req);
    } else {
        http_reply_abort(s->req);
    }
    client_done(s, s->status_sent);
}
