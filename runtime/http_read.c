/* http_read.c - the request reader of the HTTP server: the request line,
 * the header block (validated, split in place into the connection's
 * buffers), then a Content-Length or chunked body, with the limits of
 * http_limits_t. Runs over the connection's input buffer (http.c reads the
 * socket) and hands a complete request to the server's handler.
 */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------- reading requests ---------- */

/* RFC 9110 token characters (method names). */
/* RFC 9110 token characters (method and header names), one lookup per byte. */
static const unsigned char TCHAR[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static inline int is_tchar(unsigned char ch) { return TCHAR[ch]; }


static int conn_body_reserve(http_conn_t *c, size_t need)   /* need counts the NUL */
{
    if (need <= c->body_cap) return 0;
    size_t cap = c->body_cap ? c->body_cap : 1024;
    while (cap < need) cap *= 2;
    size_t top = c->srv->lim.max_body + 1;
    if (cap > top && need <= top) cap = top;
    char *nb = realloc(c->body, cap);
    if (!nb) return -1;
    c->body = nb;
    c->body_cap = cap;
    return 0;
}

/* Content-Length value: 0 ok, -1 malformed, 1 larger than max. */
static int parse_content_length(const char *v, size_t max, size_t *out)
{
    size_t n = 0;
    int big = 0;
    if (!*v) return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9') return -1;
        if (!big) { n = n * 10 + (size_t)(*v - '0'); if (n > max) big = 1; }
    }
    *out = n;
    return big;
}

/* Whether a comma-separated header value holds token tok (case-insensitive). */
static int has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        const char *e = v;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - v) == tl && strncasecmp(v, tok, tl) == 0) return 1;
        v = e;
    }
    return 0;
}

/* Splits the request line (NUL-terminated, in hbuf) into method, target,
 * version; path and query are written to `extra` (room: target length + 3). */
static int parse_request_line(http_conn_t *c, char *line, char *extra)
{
    http_req_t *r = &c->req;
    char *sp = strchr(line, ' ');
    if (!sp || sp == line) return -1;
    *sp = 0;
    for (char *m = line; *m; m++) if (!is_tchar((unsigned char)*m)) return -1;
    char *target = sp + 1;
    sp = strchr(target, ' ');
    if (!sp || sp == target) return -1;
    *sp = 0;
    const char *ver = sp + 1;
    if (strncmp(ver, "HTTP/1.", 7) != 0 || ver[7] < '0' || ver[7] > '9' || ver[8]) return -1;
    for (const unsigned char *t = (const unsigned char *)target; *t; t++)
        if (*t <= 0x20 || *t == 0x7f) return -1;
    r->method = line;
    r->target = target;
    r->http_minor = ver[7] == '0' ? 0 : 1;

    /* RFC 9112 3.2: origin-form ("/..."), asterisk-form ("*" alone) or
     * absolute-form (scheme "://" ...), of which we keep the path only:
     * nothing is proxied by target. Anything else is refused, so that no
     * other string (a relative "v1/x", or a query holding "://") can be read
     * as a path that a front proxy would not have seen. */
    const char *t = target;
    if (*t != '/' && strcmp(t, "*") != 0) {
        const char *q = t;
        if ((*q | 0x20) < 'a' || (*q | 0x20) > 'z') return -1;   /* scheme = ALPHA *(...) */
        while (((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') || (*q >= '0' && *q <= '9') ||
               *q == '+' || *q == '-' || *q == '.')
            q++;
        if (strncmp(q, "://", 3) != 0) return -1;
        t = q + 3;
        while (*t && *t != '/' && *t != '?') t++;
    }
    char *p = extra;
    r->path = p;
    if (*t != '/' && *t != '*') *p++ = '/';   /* absolute-form without a path: "/" */
    while (*t && *t != '?') *p++ = *t++;
    *p++ = 0;
    r->query = p;
    if (*t == '?') { t++; while (*t) *p++ = *t++; }
    *p = 0;
    return 0;
}

/* The head is complete: hlen bytes at the front of the input. Copies it out,
 * splits it in place, validates it and sets up the body read. */
static int conn_head_complete(http_conn_t *c, struct evbuffer *in, size_t hlen)
{
    http_server_t *s = c->srv;
    http_req_t *r = &c->req;
    size_t need = hlen + 1 + c->rl_end + 3;
    if (need > c->hcap) {
        char *nb = realloc(c->hbuf, need);
        if (!nb) { http_conn_close(c); return -1; }
        c->hbuf = nb;
        c->hcap = need;
    }
    if (c->hcount > c->hdr_cap) {
        int cap = c->hdr_cap ? c->hdr_cap : 16;
        while (cap < c->hcount) cap *= 2;
        http_header_t *nh = realloc(c->hdrs, (size_t)cap * sizeof *nh);
        if (!nh) { http_conn_close(c); return -1; }
        c->hdrs = nh;
        c->hdr_cap = cap;
    }
    char *h = c->hbuf;
    evbuffer_remove(in, h, hlen);
    c->head_taken = 1;
    h[hlen] = 0;
    if (memchr(h, 0, hlen)) return http_conn_error(c, 400, "NUL byte in request head");

    char *nl = memchr(h, '\n', hlen);
    *nl = 0;
    if (nl > h && nl[-1] == '\r') nl[-1] = 0;
    if (parse_request_line(c, h, h + hlen + 1) < 0) return http_conn_error(c, 400, "malformed request line");

    int n = 0, n_te = 0, n_cl = 0, conn_close_tok = 0, conn_keep_tok = 0, expect = 0;
    const char *te = NULL;
    size_t cl = 0;
    for (char *l = nl + 1; l < h + hlen; ) {
        char *e = memchr(l, '\n', (size_t)(h + hlen - l));
        *e = 0;
        if (e > l && e[-1] == '\r') e[-1] = 0;
        if (!*l) break;
        if (*l == ' ' || *l == '\t') return http_conn_error(c, 400, "obsolete header line folding");
        char *colon = l;
        while (is_tchar((unsigned char)*colon)) colon++;
        if (*colon != ':' || colon == l) return http_conn_error(c, 400, "malformed header line");
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) *--ve = 0;
        for (const unsigned char *q = (const unsigned char *)v; *q; q++)
            if ((*q < 0x20 && *q != '\t') || *q == 0x7f) return http_conn_error(c, 400, "control character in header value");
        c->hdrs[n].name = l;
        c->hdrs[n].value = v;
        n++;
        switch (l[0] | 0x20) {
        case 'c':
            if (strcasecmp(l, "content-length") == 0) {
                size_t v2;
                int rc = parse_content_length(v, s->lim.max_body, &v2);
                if (rc < 0) return http_conn_error(c, 400, "invalid Content-Length");
                if (rc > 0) v2 = (size_t)-1;   /* too large: 413 once the head is checked */
                if (n_cl++ && v2 != cl) return http_conn_error(c, 400, "conflicting Content-Length headers");
                cl = v2;
            } else if (strcasecmp(l, "connection") == 0) {
                if (has_token(v, "close")) conn_close_tok = 1;
                if (has_token(v, "keep-alive")) conn_keep_tok = 1;
            }
            break;
        case 't':
            if (strcasecmp(l, "transfer-encoding") == 0) { n_te++; te = v; }
            break;
        case 'e':
            if (strcasecmp(l, "expect") == 0 && strcasecmp(v, "100-continue") == 0) expect = 1;
            break;
        }
        l = e + 1;
    }
    r->headers = c->hdrs;
    r->n_headers = n;
    r->client_addr = c->client_addr;
    c->keep_alive = !conn_close_tok && (r->http_minor >= 1 || conn_keep_tok);
    c->is_head = strcmp(r->method, "HEAD") == 0;

    if (n_te && n_cl) return http_conn_error(c, 400, "both Content-Length and Transfer-Encoding");
    if (n_te > 1 || (te && strcasecmp(te, "chunked") != 0))
        return http_conn_error(c, 501, "unsupported Transfer-Encoding");
    if (cl == (size_t)-1) return http_conn_error(c, 413, "request body too large");

    c->state = ST_BODY;
    c->body_len = 0;
    c->body_mode = n_te ? BODY_CHUNKED : BODY_LENGTH;
    c->body_left = cl;
    c->ch = CH_SIZE;
    c->trailer_bytes = 0;
    if (conn_body_reserve(c, cl + 1) < 0) { http_conn_close(c); return -1; }
    if (n_te || cl) {
        event_add(c->timer, s->tv_body);
        if (expect && r->http_minor >= 1 && evbuffer_get_length(in) == 0) {
            evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            http_conn_push(c);
            if (c->dead) return -1;
        }
    }
    return 1;
}

/* Cheap shape check of "METHOD SP target SP HTTP/d.d" on the raw line;
 * parse_request_line does the real work once the head is complete. */
static int request_line_plausible(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= len || p[i] != ' ') return 0;
    size_t t = ++i;
    while (i < len && p[i] != ' ' && (unsigned char)p[i] > 0x20 && p[i] != 0x7f) i++;
    if (i == t || i >= len || p[i] != ' ') return 0;
    i++;
    return len - i == 8 && memcmp(p + i, "HTTP/", 5) == 0 && p[i + 5] >= '0' && p[i + 5] <= '9' &&
           p[i + 6] == '.' && p[i + 7] >= '0' && p[i + 7] <= '9';
}

/* Scans the buffered head line by line. Returns 1 when it is complete (state
 * is then ST_BODY), 0 when more bytes are needed, -1 on an error reply. */
static int conn_parse_head(http_conn_t *c, struct evbuffer *in)
{
    const http_limits_t *lim = &c->srv->lim;
    if (c->hscan == 0 && c->rl_end == 0) {
        for (int i = 0; i < HTTP_MAX_LEAD_EOLS; i++) {
            char b[2];
            ev_ssize_t got = evbuffer_copyout(in, b, 2);
            if (got >= 1 && b[0] == '\n') evbuffer_drain(in, 1);
            else if (got == 2 && b[0] == '\r' && b[1] == '\n') evbuffer_drain(in, 2);
            else break;
        }
    }
    size_t avail = evbuffer_get_length(in);
    size_t cap = lim->max_request_line + lim->max_header_bytes + 8;
    size_t n = avail < cap ? avail : cap;
    if (n == 0) return 0;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    if (!p) { http_conn_close(c); return -1; }
    size_t pos = c->hscan;
    for (;;) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        if (!nl) break;
        size_t end = (size_t)(nl - p) + 1;
        size_t len = end - pos - 1;
        if (len && p[pos + len - 1] == '\r') len--;
        if (c->rl_end == 0) {
            if (len > lim->max_request_line) return http_conn_error(c, 414, "request line too long");
            if (len == 0) return http_conn_error(c, 400, "empty request line");
            /* answer garbage now rather than after a header timeout */
            if (!request_line_plausible(p + pos, len)) return http_conn_error(c, 400, "malformed request line");
            c->rl_end = end;
        } else if (len == 0) {
            return conn_head_complete(c, in, end);
        } else {
            if (++c->hcount > lim->max_headers) return http_conn_error(c, 431, "too many header fields");
            if (end - c->rl_end > lim->max_header_bytes) return http_conn_error(c, 431, "request header fields too large");
        }
        pos = end;
    }
    c->hscan = pos;
    /* an incomplete line: it already breaks a limit, or we wait for more */
    if (c->rl_end == 0 && n > lim->max_request_line + 1) return http_conn_error(c, 414, "request line too long");
    if (c->rl_end && n - c->rl_end > lim->max_header_bytes) return http_conn_error(c, 431, "request header fields too large");
    return 0;
}

/* Body by Content-Length: 1 done, 0 need more. */
static int conn_read_length(http_conn_t *c, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    size_t k = avail < c->body_left ? avail : c->body_left;
    if (k) {
        evbuffer_remove(in, c->body + c->body_len, k);
        c->body_len += k;
        c->body_left -= k;
    }
    return c->body_left == 0;
}

/* Chunked body, decoded into c->body: 1 done, 0 need more, -1 error reply. */
static int conn_read_chunked(http_conn_t *c, struct evbuffer *in)
{
    const http_limits_t *lim = &c->srv->lim;
    for (;;) {
        size_t avail = evbuffer_get_length(in), eol_len = 0;
        struct evbuffer_ptr e;
        switch (c->ch) {
        case CH_SIZE: {
            e = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
            if (e.pos < 0) {
                if (avail > HTTP_CHUNK_LINE_MAX) return http_conn_error(c, 400, "bad chunked encoding");
                return 0;
            }
            if ((size_t)e.pos > HTTP_CHUNK_LINE_MAX) return http_conn_error(c, 400, "bad chunked encoding");
            char line[HTTP_CHUNK_LINE_MAX + 1];
            evbuffer_remove(in, line, (size_t)e.pos);
            line[e.pos] = 0;
            evbuffer_drain(in, eol_len);
            size_t v = 0;
            int digits = 0, big = 0;
            const char *q = line;
            for (;; q++, digits++) {
                int d = (*q >= '0' && *q <= '9') ? *q - '0' : ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'f') ? (*q | 0x20) - 'a' + 10 : -1;
                if (d < 0) break;
                if (!big) { v = v * 16 + (size_t)d; if (v > lim->max_body) big = 1; }
            }
            while (*q == ' ' || *q == '\t') q++;
            if (!digits || (*q && *q != ';')) return http_conn_error(c, 400, "bad chunked encoding");
            if (big || v > lim->max_body - c->body_len) return http_conn_error(c, 413, "request body too large");
            if (v == 0) { c->ch = CH_TRAILER; break; }
            if (conn_body_reserve(c, c->body_len + v + 1) < 0) { http_conn_close(c); return -1; }
            c->body_left = v;
            c->ch = CH_DATA;
            break;
        }
        case CH_DATA:
            if (!avail) return 0;
            if (!conn_read_length(c, in)) return 0;
            c->ch = CH_DATA_END;
            break;
        case CH_DATA_END: {
            unsigned char b[2];
            if (!avail) return 0;
            evbuffer_copyout(in, b, 2);
            if (b[0] == '\n') evbuffer_drain(in, 1);
            else if (b[0] == '\r' && avail < 2) return 0;
            else if (b[0] == '\r' && b[1] == '\n') evbuffer_drain(in, 2);
            else return http_conn_error(c, 400, "bad chunked encoding");
            c->ch = CH_SIZE;
            break;
        }
        case CH_TRAILER:
            e = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
            if (e.pos < 0) {
                if (c->trailer_bytes + avail > lim->max_header_bytes) return http_conn_error(c, 431, "trailer too large");
                return 0;
            }
            evbuffer_drain(in, (size_t)e.pos + eol_len);
            if (e.pos == 0) return 1;
            c->trailer_bytes += (size_t)e.pos + eol_len;
            if (c->trailer_bytes > lim->max_header_bytes) return http_conn_error(c, 431, "trailer too large");
            break;
        }
    }
}

/* Runs the request state machine over the buffered input as far as it goes. */
void http_conn_process(http_conn_t *c)
{
    struct evbuffer *in = c->in;
    if (c->state == ST_HEAD && conn_parse_head(c, in) <= 0) return;
    if (c->state != ST_BODY) return;
    int r = c->body_mode == BODY_CHUNKED ? conn_read_chunked(c, in) : conn_read_length(c, in);
    if (r < 0) return;
    if (r == 0) return;   /* body_timeout runs from the end of the head: a whole-body deadline */
    http_req_t *req = &c->req;
    c->body[c->body_len] = 0;
    req->body = c->body;
    req->body_len = c->body_len;
    event_del(c->timer);
    c->state = ST_HANDLING;
    c->req_live = 1;
    c->reply = RM_NONE;
    c->srv->active++;
    c->srv->handler(req, c->srv->arg);
}
