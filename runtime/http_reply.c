/* http_reply.c - what the HTTP server writes: the status line and headers
 * (keep-alive decided per reply), whole replies, streamed ones (chunked for
 * HTTP/1.1, close-delimited for 1.0) with the output high-water mark, and
 * the server's own errors through the error formatter. Everything lands in
 * the connection's output buffer and goes out through http_conn_push; moving
 * on once a reply is written is http.c's (http_conn_reply_queued).
 */
#include "http_int.h"
#include "fmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Site Overloaded";
    default:
        return status < 200 ? "Informational" : status < 300 ? "OK" : status < 400 ? "Redirect" :
               status < 500 ? "Client Error" : "Server Error";
    }
}

static char *put_mem(char *p, const char *s, size_t n) { memcpy(p, s, n); return p + n; }
static char *put_str(char *p, const char *s) { return put_mem(p, s, strlen(s)); }
#define PUT_LIT(p, lit) put_mem((p), (lit), sizeof(lit) - 1)

const char *http_error_code(int status)
{
    switch (status) {
    case 408: return "request_timeout";
    case 413: return "request_too_large";
    case 414: return "request_line_too_long";
    case 431: return "headers_too_large";
    case 501: return "not_implemented";
    case 500: return "internal_error";
    default:  return "bad_request";
    }
}

/* The default error formatter: the OpenAI envelope. */
const char *http_default_error_fmt(int status, const char *message, const char *path,
                                  struct evbuffer *out, void *arg)
{
    (void)arg; (void)path;
    evbuffer_add(out, "{\"error\":{\"message\":\"", 21);
    for (const unsigned char *m = (const unsigned char *)message; *m; m++) {
        if (*m == '"' || *m == '\\') { char e[2] = { '\\', (char)*m }; evbuffer_add(out, e, 2); }
        else if (*m < 0x20) evbuffer_add_printf(out, "\\u%04x", *m);
        else evbuffer_add(out, m, 1);
    }
    evbuffer_add_printf(out, "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"%s\"}}",
                        http_error_code(status));
    return "application/json";
}

/* Writes the status line and headers. Decides keep-alive for this reply. */
static int put_head(http_conn_t *c, int status, const char *ctype, const char *extra,
                    enum framing fr, size_t len)
{
    struct evbuffer *out = c->out;
    if (fr == FR_CLOSE || c->srv->stopping || c->overflow) c->keep_alive = 0;
    size_t need = 160 + (ctype ? strlen(ctype) : 0) + (extra ? strlen(extra) : 0);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1) return -1;
    char *p = v.iov_base;
    if (status < 100 || status > 999) status = 500;
    p = PUT_LIT(p, "HTTP/1.1 ");
    p = fmt_udec(p, (size_t)status);
    *p++ = ' ';
    p = put_str(p, status_reason(status));
    p = PUT_LIT(p, "\r\n");
    if (ctype) { p = PUT_LIT(p, "Content-Type: "); p = put_str(p, ctype); p = PUT_LIT(p, "\r\n"); }
    if (fr == FR_LENGTH) { p = PUT_LIT(p, "Content-Length: "); p = fmt_udec(p, len); p = PUT_LIT(p, "\r\n"); }
    else if (fr == FR_CHUNKED) p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    p = c->keep_alive ? PUT_LIT(p, "Connection: keep-alive\r\n") : PUT_LIT(p, "Connection: close\r\n");
    if (extra) p = put_str(p, extra);
    p = PUT_LIT(p, "\r\n");
    v.iov_len = (size_t)(p - (char *)v.iov_base);
    return evbuffer_commit_space(out, &v, 1);
}

/* The path of the request an error is about, for the error formatter: the
 * parsed one once the head was complete, else read off the start of the
 * request line still in the input (up to HTTP_ERR_PATH_MAX bytes of it). */
#define HTTP_ERR_PATH_MAX 512
static const char *error_path(http_conn_t *c, char *buf, size_t cap)
{
    if (c->req.path) return c->req.path;       /* reset to NULL for every request */
    if (c->head_taken) return NULL;             /* the input holds body bytes now */
    size_t n = evbuffer_get_length(c->in);
    if (n > cap - 1) n = cap - 1;
    if (n == 0 || evbuffer_copyout(c->in, buf, n) <= 0) return NULL;
    buf[n] = 0;
    char *t = memchr(buf, ' ', n);
    if (!t) return NULL;
    t++;
    size_t k = strcspn(t, " ?\r\n");
    t[k] = 0;
    return t;
}

/* Queues an error produced by the server itself and closes after it. Always
 * returns -1 so parsers can `return http_conn_error(...)`. */
int http_conn_error(http_conn_t *c, int status, const char *msg)
{
    http_server_t *s = c->srv;
    struct evbuffer *in = c->in;
    struct evbuffer *body = evbuffer_new();
    char pbuf[HTTP_ERR_PATH_MAX];
    const char *path = error_path(c, pbuf, sizeof pbuf);
    event_del(c->timer);
    if (!body) { evbuffer_drain(in, evbuffer_get_length(in)); http_conn_close(c); return -1; }
    const char *ct = s->err_fmt(status, msg, path, body, s->err_arg);
    evbuffer_drain(in, evbuffer_get_length(in));
    c->keep_alive = 0;
    if (put_head(c, status, ct, NULL, FR_LENGTH, evbuffer_get_length(body)) < 0) {
        evbuffer_free(body);
        http_conn_close(c);
        return -1;
    }
    evbuffer_add_buffer(c->out, body);
    evbuffer_free(body);
    c->state = ST_FLUSHING;
    c->close_after = c->linger_after = 1;
    http_conn_push(c);
    if (!c->dead) http_conn_reply_queued(c);
    return -1;
}

/* The handler's reply ended (fully queued): send it. */
static void conn_end_reply(http_conn_t *c)
{
    c->req_live = 0;
    c->srv->active--;
    c->on_close = c->on_drain = NULL;
    http_conn_push(c);
    if (c->dead) return;   /* conn_timer_cb frees it; on_close is not due any more */
    c->state = ST_FLUSHING;
    if (!c->keep_alive || c->srv->stopping || c->overflow) c->close_after = 1;
    http_conn_reply_queued(c);
}

void http_reply(http_req_t *r, int status, const char *content_type,
                const char *extra_headers, const void *body, size_t len)
{
    http_conn_t *c = REQ_CONN(r);
    if (!c->req_live || c->reply != RM_NONE) return;
    if (!c->dead) {
        if (put_head(c, status, content_type, extra_headers, FR_LENGTH, len) < 0) http_conn_close(c);
        else if (len && !c->is_head) evbuffer_add(c->out, body, len);
    }
    conn_end_reply(c);
}

void http_reply_start(http_req_t *r, int status, const char *content_type, const char *extra_headers)
{
    http_conn_t *c = REQ_CONN(r);
    if (!c->req_live || c->reply != RM_NONE) return;
    c->reply = r->http_minor >= 1 ? RM_CHUNKED : RM_RAW;
    if (c->dead) return;
    if (put_head(c, status, content_type, extra_headers,
                 c->reply == RM_CHUNKED ? FR_CHUNKED : FR_CLOSE, 0) < 0) {
        http_conn_close(c);
        return;
    }
    /* the first chunk usually follows at once and takes the head along in
     * one write; if none does, the head goes out from the loop (unless
     * earlier output waits for the socket: then the head goes with it) */
    if (!c->push_pending && !c->writing) {
        c->push_pending = 1;
        event_active(c->timer, EV_TIMEOUT, 1);
    }
}

/* Writes a chunk-size line for n bytes. */
static void put_chunk_size(struct evbuffer *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[24];
    int i = (int)sizeof tmp;
    tmp[--i] = '\n';
    tmp[--i] = '\r';
    do { tmp[--i] = hex[n & 15]; n >>= 4; } while (n);
    evbuffer_add(out, tmp + i, sizeof tmp - (size_t)i);
}

size_t http_reply_chunk(http_req_t *r, const void *data, size_t len)
{
    http_conn_t *c = REQ_CONN(r);
    if (!c->req_live || c->dead || c->reply == RM_NONE) return 0;
    struct evbuffer *out = c->out;
    if (len && !c->is_head) {
        if (c->reply == RM_CHUNKED) put_chunk_size(out, len);
        evbuffer_add(out, data, len);
        if (c->reply == RM_CHUNKED) evbuffer_add(out, "\r\n", 2);
        http_conn_push(c);
        if (c->dead) return 0;
    }
    size_t pending = evbuffer_get_length(out);
    if (pending > HTTP_OUT_HIGH_WATER) c->above_high = 1;
    return pending;
}

size_t http_reply_chunk_buf(http_req_t *r, struct evbuffer *buf)
{
    http_conn_t *c = REQ_CONN(r);
    size_t len = evbuffer_get_length(buf);
    if (!c->req_live || c->dead || c->reply == RM_NONE) { evbuffer_drain(buf, len); return 0; }
    struct evbuffer *out = c->out;
    if (len && !c->is_head) {
        if (c->reply == RM_CHUNKED) put_chunk_size(out, len);
        evbuffer_add_buffer(out, buf);
        if (c->reply == RM_CHUNKED) evbuffer_add(out, "\r\n", 2);
    }
    evbuffer_drain(buf, evbuffer_get_length(buf));
    if (len && !c->is_head) {
        http_conn_push(c);
        if (c->dead) return 0;
    }
    size_t pending = evbuffer_get_length(out);
    if (pending > HTTP_OUT_HIGH_WATER) c->above_high = 1;
    return pending;
}

void http_reply_end(http_req_t *r)
{
    http_conn_t *c = REQ_CONN(r);
    if (!c->req_live) return;
    if (c->reply == RM_NONE) { http_reply_abort(r); return; }   /* nothing was started: misuse */
    if (!c->dead && c->reply == RM_CHUNKED && !c->is_head)
        evbuffer_add(c->out, "0\r\n\r\n", 5);
    conn_end_reply(c);
}

void http_reply_abort(http_req_t *r)
{
    http_conn_t *c = REQ_CONN(r);
    if (!c->req_live) return;
    c->keep_alive = 0;
    if (!c->dead && c->reply == RM_RAW) {
        /* a close-delimited body that ends with a FIN would look complete:
         * reset the connection instead (SO_LINGER 0 sends an RST) */
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        http_conn_close(c);
    }
    /* chunked: what is queued still goes out, then the close without the
     * last chunk tells the client the body is incomplete */
    conn_end_reply(c);
}

size_t http_req_pending_output(const http_req_t *r)
{
    const http_conn_t *c = REQ_CONN(r);
    return c->dead ? 0 : evbuffer_get_length(c->out);
}
