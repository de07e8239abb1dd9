/* fuzz_http.c - libFuzzer target for runtime/http.c, the real server driven
 * in-process.
 *
 * One event_base and two servers live for the whole run (static): one with
 * the default limits, one with small limits so the 414/431/413 paths are
 * reachable with short inputs. Per input: a socketpair; one end is handed to
 * a server (http_server_adopt_fd), the other is the client. The input is
 * written in pieces, the loop runs non-blocking a bounded number of times
 * after each, whatever comes back is read; then the client may half-close,
 * closes, and the loop runs until the server has no connection left.
 *
 * Input layout: byte 0 = flags (bit 0 small limits, bit 1 half-close after
 * writing, bits 2..4 number of cut points), byte 1 = cut seed, rest = bytes
 * on the wire.
 *
 * The handler answers by path: "/stream*" a streamed (chunked, or
 * close-delimited for HTTP/1.0) echo in two pieces, "/defer*" the same echo
 * as "/" but from a later loop pass (the connection may go away first),
 * "/abort*" http_reply_abort, anything else http_reply 200 echoing the body.
 *
 * Invariants: no crash, leak or UB (sanitizers); every request the handler
 * sees is well formed (method a token, path absolute, body NUL-terminated,
 * Content-Length matches); the output is a sequence of replies each starting
 * "HTTP/1.1 ddd ", framed so that it parses back exactly: echoes carry the
 * request body byte for byte, HEAD replies carry none, a reply the server
 * made itself is an error (>= 400) with a JSON body and is the last one; no
 * connection is left once the client has closed.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_http: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

/* Requests the handler saw for the current input, in order: what their
 * replies must look like. */
#define MAX_SEEN 256
typedef struct seen {
    int head;          /* HEAD: no body in the reply */
    int aborted;       /* no reply: http_reply_abort, or closed before a deferred one */
    int raw;           /* streamed to HTTP/1.0: close-delimited */
    char *body;        /* copy of the request body (the echo) */
    size_t body_len;
} seen_t;

static struct event_base *g_base;
static http_server_t *g_srv[2];
static seen_t g_seen[MAX_SEEN];
static int g_nseen;

typedef struct deferred {
    http_req_t *req;
    struct event *ev;
    int seen;          /* index in g_seen */
} deferred_t;

static void check_request(const http_req_t *r)
{
    if (!r->method || !*r->method) FAIL("empty method");
    for (const char *m = r->method; *m; m++)
        if (*m <= ' ' || *m == 0x7f || strchr("()<>@,;:\\\"/[]?={}", *m)) FAIL("method byte 0x%02x", (unsigned char)*m);
    if (!r->target || !r->path || !r->query) FAIL("NULL target/path/query");
    if (r->path[0] != '/' && strcmp(r->path, "*") != 0) FAIL("path \"%s\" not absolute", r->path);
    if (strchr(r->path, '?')) FAIL("path holds '?'");
    if (r->http_minor != 0 && r->http_minor != 1) FAIL("http_minor %d", r->http_minor);
    if (!r->body || r->body[r->body_len] != '\0') FAIL("body not NUL-terminated");
    if (r->n_headers < 0 || (r->n_headers && !r->headers)) FAIL("headers");
    for (int i = 0; i < r->n_headers; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        if (!n || !*n || !v) FAIL("header %d empty", i);
        if (strpbrk(n, " \t:\r\n")) FAIL("header name \"%s\"", n);
        if (strpbrk(v, "\r\n")) FAIL("line break in header value");
        size_t vl = strlen(v);
        if (vl && (v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' || v[vl - 1] == '\t')) FAIL("value not trimmed");
    }
    const char *cl = http_req_header(r, "content-length");
    if (cl && strtoull(cl, NULL, 10) != r->body_len) FAIL("Content-Length %s, body %zu", cl, r->body_len);
    if (http_req_header(r, "transfer-encoding") && cl) FAIL("both framings accepted");
}

static seen_t *record(const http_req_t *r)
{
    if (g_nseen == MAX_SEEN) FAIL("too many requests");
    seen_t *s = &g_seen[g_nseen++];
    memset(s, 0, sizeof *s);
    s->head = strcmp(r->method, "HEAD") == 0;
    s->body = malloc(r->body_len + 1);
    memcpy(s->body, r->body, r->body_len);
    s->body_len = r->body_len;
    return s;
}

/* http.c: the client went away before a deferred reply. */
static void deferred_close(http_req_t *r, void *arg)
{
    (void)r;
    deferred_t *d = arg;
    g_seen[d->seen].aborted = 1;   /* a half-close while handling closes: no reply */
    event_free(d->ev);
    free(d);
}

/* timer: a deferred reply is due. */
static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    deferred_t *d = arg;
    http_reply(d->req, 200, "text/plain", "X-Deferred: 1\r\n", d->req->body, d->req->body_len);
    event_free(d->ev);
    free(d);
}

/* http.c: one complete request. */
static void handler(http_req_t *r, void *arg)
{
    (void)arg;
    check_request(r);
    seen_t *s = record(r);
    if (strncmp(r->path, "/abort", 6) == 0) {
        s->aborted = 1;
        http_reply_abort(r);
    } else if (strncmp(r->path, "/stream", 7) == 0) {
        s->raw = r->http_minor == 0;
        http_reply_start(r, 200, "text/event-stream", NULL);
        size_t half = r->body_len / 2;
        http_reply_chunk(r, r->body, half);
        http_reply_chunk(r, r->body + half, r->body_len - half);
        http_reply_end(r);
    } else if (strncmp(r->path, "/defer", 6) == 0) {
        deferred_t *d = calloc(1, sizeof *d);
        d->req = r;
        d->seen = g_nseen - 1;
        d->ev = evtimer_new(g_base, deferred_cb, d);
        struct timeval tv = { 0, 0 };
        evtimer_add(d->ev, &tv);
        http_req_set_callbacks(r, deferred_close, NULL, d);
    } else {
        http_reply(r, 200, "text/plain", NULL, r->body, r->body_len);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    signal(SIGPIPE, SIG_IGN);   /* as the gateway does: a write to a closed peer is EPIPE */
    g_base = event_base_new();
    http_limits_t small = {
        .max_request_line = 64, .max_header_bytes = 256, .max_headers = 4, .max_body = 64,
    };
    g_srv[0] = http_server_new(g_base, NULL, handler, NULL);
    g_srv[1] = http_server_new(g_base, &small, handler, NULL);
    if (!g_base || !g_srv[0] || !g_srv[1]) FAIL("setup");
    return 0;
}

/* ---------- the client side ---------- */

typedef struct out {
    char *p;
    size_t len, cap;
    int eof;       /* the server closed its end */
} out_t;

static void drain(int fd, out_t *o)
{
    for (;;) {
        if (o->cap - o->len < 4096) {
            o->cap = o->cap ? o->cap * 2 : 16384;
            o->p = realloc(o->p, o->cap);
        }
        ssize_t n = read(fd, o->p + o->len, o->cap - o->len);
        if (n > 0) { o->len += (size_t)n; continue; }
        if (n == 0) o->eof = 1;
        return;   /* EAGAIN, EOF or ECONNRESET */
    }
}

static void spin(int fd, out_t *o, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        event_base_loop(g_base, EVLOOP_NONBLOCK);
        drain(fd, o);
    }
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

/* ---------- reading the replies back ---------- */

static const char *find_mem(const char *h, size_t hl, const char *n)
{
    size_t nl = strlen(n);
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0) return h + i;
    return NULL;
}

/* Value of header `name` in a head block (CRLF lines), copied into v. */
static int head_value(const char *head, size_t hl, const char *name, char *v, size_t vcap)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', hl);
    while (p && (size_t)(p + 1 - head) < hl) {
        const char *line = p + 1, *e = memchr(line, '\n', hl - (size_t)(line - head));
        if (!e) break;
        if ((size_t)(e - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *s = line + nl + 1;
            while (*s == ' ') s++;
            size_t n = (size_t)(e - s);
            if (n && s[n - 1] == '\r') n--;
            if (n >= vcap) n = vcap - 1;
            memcpy(v, s, n);
            v[n] = 0;
            return 1;
        }
        p = e;
    }
    return 0;
}

static void check_replies(const out_t *o, int client_closed_early)
{
    size_t at = 0;
    int next = 0;   /* index into g_seen */
    while (at < o->len) {
        const char *r = o->p + at;
        size_t left = o->len - at;
        if (left < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0 ||
            r[9] < '1' || r[9] > '9' || r[10] < '0' || r[10] > '9' || r[11] < '0' || r[11] > '9' || r[12] != ' ') {
            /* A reply may be cut short only when the connection broke off. */
            if (left < 13 && memcmp(r, "HTTP/1.1 ", left < 9 ? left : 9) == 0 && client_closed_early) return;
            FAIL("reply at byte %zu does not start with a status line: \"%.*s\"", at, (int)(left < 40 ? left : 40), r);
        }
        int status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
        const char *end = find_mem(r, left, "\r\n\r\n");
        if (!end) {
            if (client_closed_early) return;
            FAIL("reply head not terminated");
        }
        size_t hl = (size_t)(end - r) + 4;
        at += hl;
        if (status == 100) continue;
        char v[64];
        int has_cl = head_value(r, hl, "Content-Length", v, sizeof v);
        size_t cl = has_cl ? strtoull(v, NULL, 10) : 0;
        int chunked = head_value(r, hl, "Transfer-Encoding", v, sizeof v) && strcmp(v, "chunked") == 0;
        while (next < g_nseen && g_seen[next].aborted) next++;   /* aborted: no reply */
        if (next == g_nseen) {
            /* The server's own reply: an error, with a JSON body, and the end. */
            if (status < 400) FAIL("server reply %d with no request behind it", status);
            if (!has_cl || cl > o->len - at) FAIL("error reply without its body");
            if (cl < 10 || memcmp(o->p + at, "{\"error\":{", 10) != 0) FAIL("error body not the JSON envelope");
            at += cl;
            if (at != o->len) FAIL("bytes after the server's error reply");
            return;
        }
        seen_t *s = &g_seen[next++];
        if (status != 200) FAIL("handler reply has status %d", status);
        if (s->head) continue;   /* Content-Length or chunked announced, no body */
        if (has_cl) {
            if (chunked) FAIL("both framings in a reply");
            if (cl != s->body_len) FAIL("Content-Length %zu for a %zu-byte echo", cl, s->body_len);
            if (o->len - at < cl) { if (client_closed_early) return; FAIL("reply body cut short"); }
            if (memcmp(o->p + at, s->body, cl) != 0) FAIL("echo differs from the request body");
            at += cl;
        } else if (chunked) {
            size_t got = 0;
            for (;;) {
                char *e;
                if (at >= o->len) { if (client_closed_early) return; FAIL("chunked reply cut short"); }
                unsigned long n = strtoul(o->p + at, &e, 16);
                if (e == o->p + at || (size_t)(e - o->p) + 2 > o->len || memcmp(e, "\r\n", 2) != 0) {
                    if (client_closed_early) return;
                    FAIL("bad chunk-size line in the reply");
                }
                at = (size_t)(e - o->p) + 2;
                if (n == 0) {
                    if (o->len - at < 2 || memcmp(o->p + at, "\r\n", 2) != 0) {
                        if (client_closed_early) return;
                        FAIL("bad last chunk");
                    }
                    at += 2;
                    break;
                }
                if (o->len - at < n + 2) { if (client_closed_early) return; FAIL("chunk cut short"); }
                if (got + n > s->body_len || memcmp(o->p + at, s->body + got, n) != 0) FAIL("chunked echo differs");
                got += n;
                at += n;
                if (memcmp(o->p + at, "\r\n", 2) != 0) FAIL("chunk not followed by CRLF");
                at += 2;
            }
            if (got != s->body_len) FAIL("chunked echo of %zu bytes for %zu", got, s->body_len);
        } else {
            /* close-delimited (HTTP/1.0 stream): the rest, and the end */
            if (!s->raw) FAIL("reply without framing");
            size_t n = o->len - at;
            if (n > s->body_len || memcmp(o->p + at, s->body, n) != 0) FAIL("close-delimited echo differs");
            if (n < s->body_len && !client_closed_early) FAIL("close-delimited echo cut short");
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 2) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) FAIL("socketpair: %s", strerror(errno));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    http_server_t *srv = g_srv[in[0] & 1];
    if (http_server_adopt_fd(srv, sv[1], "fuzz:1") < 0) FAIL("adopt");
    g_nseen = 0;

    const uint8_t *data = in + 2;
    size_t len = size - 2;
    uint64_t seed = (uint64_t)in[1] * 0x9E3779B97F4A7C15ull + (uint64_t)size;
    size_t ncuts = (in[0] >> 2) & 7, at = 0;
    out_t o = { 0 };
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? at + (size_t)(rng_next(&seed) % (len - at + 1)) : len;
        while (at < to) {
            ssize_t n = write(sv[0], data + at, to - at);
            if (n > 0) at += (size_t)n;
            else if (n < 0 && errno == EAGAIN) spin(sv[0], &o, 1);
            else break;   /* the server closed (after an error reply) */
        }
        at = to;
        spin(sv[0], &o, 4);
    }
    if (in[0] & 2) shutdown(sv[0], SHUT_WR);
    /* Let every pending request finish (deferred replies take a pass each). */
    for (int i = 0; i < 64; i++) {
        size_t before = o.len;
        spin(sv[0], &o, 2);
        if (o.eof || (i > 4 && o.len == before)) break;
    }
    check_replies(&o, 0);

    close(sv[0]);
    for (int i = 0; i < 16 && http_server_connections(srv) > 0; i++)
        event_base_loop(g_base, EVLOOP_NONBLOCK);
    if (http_server_connections(srv) != 0) FAIL("connection left after the client closed");
    if (http_server_active(srv) != 0) FAIL("%d requests still active", http_server_active(srv));
    for (int i = 0; i < g_nseen; i++) free(g_seen[i].body);
    free(o.p);
    return 0;
}
