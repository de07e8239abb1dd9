/* uclient_parse.c - the response side of uclient: Debian's libhttp-parser
 * driven over a connection's input buffer, its callbacks turning the status,
 * headers and body into the request's uc_callbacks_t calls (pausing when
 * on_body refuses a chunk), and the end of a response deciding between
 * pooling the connection and closing it. */
#include "uclient_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- response parsing (http_parser callbacks, from ucx_process_input) ----------
 * Each returns 0 to go on, non-zero to stop the parser (cancel, abort,
 * protocol error); on_headers_complete returns 1 for "no body" (HEAD). */

static int interim(const http_parser *hp) { return hp->status_code / 100 == 1; }

static int hbuf_add(uc_conn_t *c, const char *at, size_t len)
{
    size_t need = c->hname + c->hval + len;
    if (need > c->hcap) {
        size_t cap = c->hcap ? c->hcap : UC_HBUF_MIN;
        while (cap < need) cap *= 2;
        char *n = realloc(c->hbuf, cap);
        if (!n) return -1;
        c->hbuf = n;
        c->hcap = cap;
    }
    memcpy(c->hbuf + c->hname + c->hval, at, len);
    return 0;
}

static int deliver_status(uc_conn_t *c)
{
    uc_req_t *r = c->req;
    if (r->status_sent) return 0;
    r->status_sent = 1;
    if (r->cb.on_status) r->cb.on_status(r->arg, c->parser.status_code);
    return r->cancelled ? -1 : 0;
}

static int emit_header(uc_conn_t *c)
{
    uc_req_t *r = c->req;
    c->hstate = 0;
    if (deliver_status(c)) return -1;
    const char *v = c->hbuf + c->hname;
    size_t vlen = c->hval;
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
    if (r->cb.on_header) r->cb.on_header(r->arg, c->hbuf, c->hname, v, vlen);
    return r->cancelled ? -1 : 0;
}

/* Header callbacks after the header block are chunked trailers: dropped. */
static int p_header_field(http_parser *hp, const char *at, size_t len)
{
    uc_conn_t *c = hp->data;
    if (interim(hp) || c->req->hdrs_done) return 0;
    if (c->hstate == 2 && emit_header(c)) return -1;
    if (c->hstate != 1) { c->hname = c->hval = 0; c->hstate = 1; }
    if (hbuf_add(c, at, len)) return -1;
    c->hname += len;
    return 0;
}

static int p_header_value(http_parser *hp, const char *at, size_t len)
{
    uc_conn_t *c = hp->data;
    if (interim(hp) || c->req->hdrs_done) return 0;
    c->hstate = 2;
    if (hbuf_add(c, at, len)) return -1;
    c->hval += len;
    return 0;
}

static int p_headers_complete(http_parser *hp)
{
    uc_conn_t *c = hp->data;
    uc_req_t *r = c->req;
    if (interim(hp)) {
        c->hstate = 0;
        return hp->status_code == 101 ? -1 : 0;   /* we never ask to upgrade */
    }
    if (c->hstate == 2 && emit_header(c)) return -1;
    if (deliver_status(c)) return -1;
    r->hdrs_done = 1;
    if (r->cb.on_headers_end) r->cb.on_headers_end(r->arg);
    if (r->cancelled) return -1;
    return r->is_head ? 1 : 0;
}

static int p_body(http_parser *hp, const char *at, size_t len)
{
    uc_conn_t *c = hp->data;
    uc_req_t *r = c->req;
    size_t n = r->cb.on_body ? r->cb.on_body(r->arg, at, len) : len;
    if (r->cancelled) return -1;
    if (n == UC_PAUSE) {
        /* at points into the input buffer's first chain; nothing is read or
         * drained until the chunk is taken, so it stays valid */
        r->pend = at;
        r->pend_len = len;
        r->paused = 1;
        ucx_conn_read_off(c);
        http_parser_pause(hp, 1);
        return 0;
    }
    if (n != len) { r->aborted = 1; return -1; }
    return 0;
}

static int p_message_complete(http_parser *hp)
{
    uc_conn_t *c = hp->data;
    uc_req_t *r = c->req;
    if (interim(hp)) return 0;      /* 1xx: the final response follows on the same stream */
    r->complete = 1;
    r->keep = hp->http_major == 1 && hp->http_minor >= 1 && http_should_keep_alive(hp);
    http_parser_pause(hp, 1);       /* stop here: bytes after the response are checked, not parsed */
    return 0;
}

const http_parser_settings ucx_parser_settings = {
    .on_header_field = p_header_field,
    .on_header_value = p_header_value,
    .on_headers_complete = p_headers_complete,
    .on_body = p_body,
    .on_message_complete = p_message_complete,
};

/* The response is complete and its bytes drained: pool the connection when
 * both sides agree on keep-alive and nothing is left over either way. */
static void req_complete(uc_req_t *r)
{
    uc_conn_t *c = r->conn;
    int keep = r->keep && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
               evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    ucx_req_finish(r, UC_OK, NULL, keep);
}

/* Hands a chunk refused with UC_PAUSE to on_body again. Returns 1 when it
 * was taken, 0 when paused again or the request ended (r may be gone). */
static int redeliver(uc_conn_t *c)
{
    uc_req_t *r = c->req;
    c->in_parse = 1;
    size_t n = r->cb.on_body(r->arg, r->pend, r->pend_len);
    c->in_parse = 0;
    if (r->cancelled) { ucx_req_destroy(r); return 0; }
    if (n == UC_PAUSE) { r->paused = 1; return 0; }
    if (n != r->pend_len) { ucx_req_finish(r, UC_ERR_ABORTED, "aborted by on_body", 0); return 0; }
    r->pend = NULL;
    r->pend_len = 0;
    evbuffer_drain(bufferevent_get_input(c->bev), r->pend_drain);
    r->pend_drain = 0;
    return !r->paused;
}

/* Parses what the input buffer holds, one contiguous chain at a time.
 * Returns 1 while the request goes on on this connection, 0 when it ended,
 * was cancelled or retried (c may be gone), or is paused. */
int ucx_process_input(uc_conn_t *c)
{
    uc_req_t *r = c->req;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (r->pend_len && !redeliver(c)) return 0;
    http_parser_pause(&c->parser, 0);
    for (;;) {
        if (r->paused) return 0;
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) return 1;
        r->got_bytes = 1;
        c->in_parse = 1;
        size_t n = http_parser_execute(&c->parser, &ucx_parser_settings, v.iov_base, v.iov_len);
        c->in_parse = 0;
        if (r->cancelled) { ucx_req_destroy(r); return 0; }
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_OK) { evbuffer_drain(in, n); continue; }
        if (e == HPE_PAUSED) {
            if (r->pend_len) { r->pend_drain = n; return 0; }
            evbuffer_drain(in, n);
            if (r->complete) { req_complete(r); return 0; }
            return 0;                               /* uc_pause from a callback */
        }
        if (r->aborted) { ucx_req_finish(r, UC_ERR_ABORTED, "aborted by on_body", 0); return 0; }
        snprintf(r->dbuf, sizeof r->dbuf, "bad response from %.80s:%u: %.120s", r->origin->host,
                 r->origin->port, c->parser.status_code == 101 ? "unexpected 101" : http_errno_description(e));
        ucx_req_finish(r, UC_ERR_PROTOCOL, r->dbuf, 0);
        return 0;
    }
}
