/* uclient.c - HTTP/1.1 client with keep-alive pooling on one libevent loop
 * (see uclient.h for the API and the callback contract).
 *
 * Owns, per pool: origins (scheme + host + port + verify flag: a DNS cache
 * and a LIFO of idle connections each), the SSL_CTX, the evdns_base when it
 * created it. Per connection: the bufferevent (socket, and SSL when https),
 * the http_parser and a header scratch buffer reused across requests. Per
 * request: one allocation holding the uc_req_t, its two events (total or
 * connect timer; deferred work) and the request head.
 *
 *   uc_start ─ idle conn for the origin? ─yes─▶ SENT (sendmsg head+body now)
 *       │ no                                     │ response bytes ─▶ http_parser
 *       ▼                                        │   ─▶ on_status/header/body
 *   RESOLVING (origin DNS cache, IP literal,     ▼
 *       │      or evdns) ─▶ CONNECTING ─▶ SENT ─ message complete ─▶ DONE
 *       │                   (TCP [+TLS])   │        keep-alive: conn to pool
 *       └─ fail: DNS/CONNECT/TLS/TIMEOUT ──┴─ EOF/RST: reused conn, nothing
 *                                             received yet ─▶ retry once on a
 *                                             fresh connection, else RESET
 *
 * Idle connections stay enabled for EV_READ: a FIN, RST or any byte while
 * idle closes them at once, so reuse needs no liveness probe. The request is
 * written with one sendmsg (head + body iovecs) on plain connections, so a
 * reused connection costs no epoll_ctl; what the kernel does not take (and
 * everything on TLS) goes to the bufferevent by reference, never copied.
 *
 * Re-entrancy: on_done is only ever called from a libevent callback; a
 * failure inside a uc_* call (pool->api_depth > 0) is delivered through the
 * request's deferred event. A uc_cancel from inside a parser-driven user
 * callback only marks the request (conn->in_parse); the parse loop frees it
 * when the parser returns. */
/* (The response parser's side is uclient_parse.c; the structs both share are
 * in uclient_int.h.) */
#include "uclient.h"
#include "fmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "uclient_int.h"

static void req_connect(uc_req_t *r);
static void req_resolve(uc_req_t *r);

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *detailf(uc_req_t *r, const char *what, const char *why)
{
    snprintf(r->dbuf, sizeof r->dbuf, "%.24s %.80s:%u: %.120s", what, r->origin->host, r->origin->port, why);
    return r->dbuf;
}

/* One timer per request: the connect deadline while connecting (if sooner
 * than the total one), else the total deadline. */
static void arm_timer(uc_req_t *r)
{
    double dl = r->deadline;
    if (r->state < RS_SENT && r->connect_ms > 0) {
        double c = r->t_connect + r->connect_ms / 1000.0;
        if (dl == 0 || c < dl) dl = c;
    }
    if (dl == 0) { event_del(r->timer); return; }
    double left = dl - mono();
    if (left < 0) left = 0;
    struct timeval tv = { (time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6) };
    evtimer_add(r->timer, &tv);
}

/* ---------- connections ---------- */

static void idle_unlink(uc_conn_t *c)
{
    uc_origin_t *o = c->origin;
    if (!c->is_idle) return;
    if (c->prev) c->prev->next = c->next; else o->idle = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->is_idle = 0;
    o->n_idle--;
    c->pool->st.idle--;
}

/* Reading. A TLS connection reads through its bufferevent. A plain one, once
 * connected, reads with an event of its own (c->rev): bufferevent_socket's
 * read path asks the kernel how much is readable (ioctl FIONREAD) before
 * every read, one syscall in three per relayed stream event. */
static void conn_read_on(uc_conn_t *c, const struct timeval *tv)
{
    if (c->rev) event_add(c->rev, tv);
    else if (!(bufferevent_get_enabled(c->bev) & EV_READ)) bufferevent_enable(c->bev, EV_READ);
}

void ucx_conn_read_off(uc_conn_t *c)
{
    if (c->rev) event_del(c->rev);
    else bufferevent_disable(c->bev, EV_READ);
}

/* Closes and frees c, idle or not. Safe from inside c's own bufferevent
 * callbacks (libevent holds a reference while it runs them); the caller must
 * not touch c afterwards. Output still queued is dropped first, so nothing
 * reads a request head or body after its request is gone. */
static void conn_close(uc_conn_t *c)
{
    idle_unlink(c);
    if (c->req) c->req->conn = NULL;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_drain(out, evbuffer_get_length(out));
    if (c->rev) event_free(c->rev);
    bufferevent_free(c->bev);
    free(c->hbuf);
    free(c);
}

/* A complete keep-alive response: back to the pool, unless it is full. */
static void conn_pool(uc_conn_t *c)
{
    uc_origin_t *o = c->origin;
    if (o->n_idle >= c->pool->max_idle) { conn_close(c); return; }
    c->req = NULL;
    c->hstate = 0;
    c->idle_since = mono();
    c->is_idle = 1;
    /* Idle connections always watch for EOF (a pause may have left reading
     * off); the read timeout closes one (conn_event_cb, no request) once
     * unused that long. */
    if (c->rev) {
        event_add(c->rev, &c->pool->idle_tv);
    } else {
        if (!(bufferevent_get_enabled(c->bev) & EV_READ)) bufferevent_enable(c->bev, EV_READ);
        bufferevent_set_timeouts(c->bev, &c->pool->idle_tv, NULL);
    }
    c->prev = NULL;
    c->next = o->idle;
    if (o->idle) o->idle->prev = c;
    o->idle = c;
    o->n_idle++;
    c->pool->st.idle++;
}

static SSL_CTX *pool_ssl_ctx(uc_pool_t *p)
{
    if (p->ssl_ctx) return p->ssl_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ctx);
    /* A peer that closes without close_notify reads as EOF (the parser still
     * catches a truncated Content-Length or chunked body). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    p->ssl_ctx = ctx;
    return ctx;
}

/* ---------- request completion ---------- */

static void req_free(uc_req_t *r)
{
    event_del(r->timer);
    event_del(r->defer);
    r->pool->active--;
    free(r);
}

static void done_deliver(uc_req_t *r)
{
    r->in_done = 1;
    if (r->cb.on_done) r->cb.on_done(r->arg, r->result, r->detail);
    req_free(r);
}

/* Ends the request: timer and DNS stopped, connection pooled (keep) or
 * closed, then on_done now, or from the loop when inside a uc_* call. */
void ucx_req_finish(uc_req_t *r, int result, const char *detail, int keep)
{
    if (r->state == RS_DONE) return;
    r->state = RS_DONE;
    event_del(r->timer);
    if (r->dns_pending && r->dns) evdns_getaddrinfo_cancel(r->dns);
    r->dns = NULL;
    r->dns_pending = 0;
    if (r->conn) {
        uc_conn_t *c = r->conn;
        r->conn = NULL;
        c->req = NULL;
        if (keep) conn_pool(c); else conn_close(c);
    }
    r->result = result;
    r->detail = detail;
    if (r->pool->api_depth > 0) { event_active(r->defer, EV_TIMEOUT, 1); return; }
    done_deliver(r);
}

/* Cancel: everything goes, no callback. */
void ucx_req_destroy(uc_req_t *r)
{
    if (r->dns_pending && r->dns) evdns_getaddrinfo_cancel(r->dns);
    r->dns_pending = 0;
    if (r->conn) {
        uc_conn_t *c = r->conn;
        c->req = NULL;
        r->conn = NULL;
        conn_close(c);
    }
    req_free(r);
}

/* The connection broke before any response byte and had served earlier
 * requests: the classic keep-alive race (the server closed it while we
 * sent). Retry once on a fresh connection. */
static int maybe_retry(uc_req_t *r)
{
    if (!r->pool->stale_retry || !r->reused || r->retried || r->got_bytes) return 0;
    if (r->conn) conn_close(r->conn);
    r->retried = 1;
    r->reused = 0;
    r->pool->st.retries++;
    r->state = RS_CONNECTING;
    r->t_connect = mono();
    arm_timer(r);
    req_resolve(r);
    return 1;
}

/* ---------- sending ---------- */

static void send_failed(uc_req_t *r, int err)
{
    if (maybe_retry(r)) return;
    ucx_req_finish(r, UC_ERR_RESET, detailf(r, "send to", strerror(err)), 0);
}

/* Writes the request on r->conn: directly with one sendmsg on plain TCP
 * (no write event, so no epoll_ctl, when the kernel takes it all), the rest
 * or TLS through the bufferevent by reference. */
static void req_send(uc_req_t *r)
{
    uc_conn_t *c = r->conn;
    size_t off = 0, total = r->head_len + r->body_len;
    c->nreq++;
    if (!r->origin->tls) {
        struct iovec iov[2] = { { (void *)r->head, r->head_len }, { (void *)r->body, r->body_len } };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = r->body_len ? 2 : 1 };
        ssize_t n;
        do n = sendmsg(bufferevent_getfd(c->bev), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) { send_failed(r, errno); return; }
            n = 0;
        }
        off = (size_t)n;
        if (off == total) return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (off < r->head_len)
        evbuffer_add_reference(out, r->head + off, r->head_len - off, NULL, NULL);
    if (r->body_len) {
        size_t boff = off > r->head_len ? off - r->head_len : 0;
        evbuffer_add_reference(out, r->body + boff, r->body_len - boff, NULL, NULL);
    }
}

/* ---------- libevent callbacks ---------- */

/* bufferevent read callback (libevent, data was added to the input). While
 * idle any byte is a protocol violation or a close in disguise: drop the
 * connection. While paused the bytes wait (reading is disabled anyway). */
static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    uc_conn_t *c = arg;
    (void)bev;
    if (!c->req) { conn_close(c); return; }
    if (c->req->paused || c->req->pend_len) return;
    ucx_process_input(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* Read event of a plain connection (libevent; c->rev): reads once into the
 * input buffer and goes on like the bufferevent read callback; EOF, errors
 * and the idle timeout go to conn_event_cb as the bufferevent would report
 * them. c may be freed by either: nothing touches it afterwards. */
static void conn_readable(evutil_socket_t fd, short what, void *arg)
{
    uc_conn_t *c = arg;
    if (what & EV_TIMEOUT) { conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, c); return; }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(in, UC_READ_MAX, v, 2);
    if (nv < 1) { errno = ENOMEM; conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c); return; }
    struct iovec iov[2];
    for (int i = 0; i < nv; i++) { iov[i].iov_base = v[i].iov_base; iov[i].iov_len = v[i].iov_len; }
    ssize_t n;
    do n = readv(fd, iov, nv); while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
        return;
    }
    if (n == 0) { conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c); return; }
    size_t left = (size_t)n;
    for (int i = 0; i < nv; i++) {
        if (v[i].iov_len > left) v[i].iov_len = left;
        left -= v[i].iov_len;
    }
    evbuffer_commit_space(in, v, nv);
    conn_read_cb(c->bev, c);
}

/* Connect or handshake failed on a new connection: try the origin's next
 * address, or end the request. */
static void connect_failed(uc_req_t *r, int code, const char *why)
{
    uc_origin_t *o = r->origin;
    if (r->conn) conn_close(r->conn);
    if (code == UC_ERR_CONNECT) {
        if (!o->literal) o->addr_expiry = 0;    /* re-resolve next time */
        if (r->addr_i + 1 < o->n_addr) { r->addr_i++; req_connect(r); return; }
    }
    ucx_req_finish(r, code, detailf(r, code == UC_ERR_TLS ? "TLS with" : "connect to", why), 0);
}

/* bufferevent event callback (libevent): connected (TCP, or TCP + TLS
 * handshake), EOF or error. Decides between success, retry and failure. */
static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    uc_conn_t *c = arg;
    uc_req_t *r = c->req;
    char ebuf[120];
    if (!r) { conn_close(c); return; }          /* idle connection closed by the peer */
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = 1;
        r->state = RS_SENT;
        arm_timer(r);
        if (!r->origin->tls) {
            /* from now on reads go through c->rev (conn_readable) */
            bufferevent_disable(bev, EV_READ);
            c->rev = event_new(c->pool->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, conn_readable, c);
            if (!c->rev) { ucx_req_finish(r, UC_ERR_CONNECT, "out of memory", 0); return; }
            if (!r->paused) event_add(c->rev, NULL);
        } else if (r->paused) {
            bufferevent_disable(bev, EV_READ);
        }
        req_send(r);
        return;
    }
    unsigned long ssl_err = r->origin->tls ? bufferevent_get_openssl_error(bev) : 0;
    if (ssl_err) ERR_error_string_n(ssl_err, ebuf, sizeof ebuf);
    else snprintf(ebuf, sizeof ebuf, "%s", (what & BEV_EVENT_EOF) || !err ? "connection closed" : strerror(err));
    if (!c->connected) {
        int tls_stage = r->origin->tls && (ssl_err || (what & BEV_EVENT_EOF) || err == ECONNRESET);
        connect_failed(r, tls_stage ? UC_ERR_TLS : UC_ERR_CONNECT, ebuf);
        return;
    }
    if ((what & BEV_EVENT_EOF) && r->got_bytes && !ssl_err) {
        /* EOF ends a close-delimited body; anywhere else it truncates */
        c->in_parse = 1;
        http_parser_execute(&c->parser, &ucx_parser_settings, NULL, 0);
        c->in_parse = 0;
        if (r->cancelled) { ucx_req_destroy(r); return; }
        if (r->complete) { ucx_req_finish(r, UC_OK, NULL, 0); return; }
    }
    if (maybe_retry(r)) return;
    if (ssl_err) { ucx_req_finish(r, UC_ERR_TLS, detailf(r, "TLS with", ebuf), 0); return; }
    ucx_req_finish(r, UC_ERR_RESET, detailf(r, r->got_bytes ? "response cut from" : "no response from", ebuf), 0);
}

/* Request timer (libevent): connect or total deadline passed. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    uc_req_t *r = arg;
    (void)fd; (void)what;
    ucx_req_finish(r, UC_ERR_TIMEOUT, detailf(r, r->state < RS_SENT ? "connect to" : "response from",
                                          "timed out"), 0);
}

/* Deferred work (libevent, activated by ucx_req_finish inside a uc_* call, or by
 * uc_resume): deliver on_done, or hand back a paused chunk and read again. */
static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    uc_req_t *r = arg;
    (void)fd; (void)what;
    if (r->state == RS_DONE) { done_deliver(r); return; }
    uc_conn_t *c = r->conn;
    if (r->paused || !c || !c->connected) return;
    if (ucx_process_input(c) && !r->paused) conn_read_on(c, NULL);
}

/* evdns_getaddrinfo callback (evdns, from the loop, or at once from inside
 * evdns_getaddrinfo for /etc/hosts names). On EVUTIL_EAI_CANCEL the request
 * may already be freed: touch nothing. */
static void on_dns(int result, struct evutil_addrinfo *ai, void *arg)
{
    if (result == EVUTIL_EAI_CANCEL) { if (ai) evutil_freeaddrinfo(ai); return; }
    uc_req_t *r = arg;
    uc_origin_t *o = r->origin;
    r->dns = NULL;
    r->dns_pending = 0;
    if (result || !ai) {
        if (ai) evutil_freeaddrinfo(ai);
        ucx_req_finish(r, UC_ERR_DNS, detailf(r, "resolve", evutil_gai_strerror(result)), 0);
        return;
    }
    o->n_addr = 0;
    for (struct evutil_addrinfo *a = ai; a && o->n_addr < UC_MAX_ADDRS; a = a->ai_next) {
        if (a->ai_addrlen > sizeof o->addr[0]) continue;
        memcpy(&o->addr[o->n_addr], a->ai_addr, a->ai_addrlen);
        o->alen[o->n_addr++] = (socklen_t)a->ai_addrlen;
    }
    evutil_freeaddrinfo(ai);
    o->addr_expiry = mono() + UC_DNS_TTL_S;
    r->addr_i = 0;
    req_connect(r);
}

/* ---------- connecting ---------- */

static void req_resolve(uc_req_t *r)
{
    uc_origin_t *o = r->origin;
    if (o->n_addr && (o->literal || mono() < o->addr_expiry)) { r->addr_i = 0; req_connect(r); return; }
    r->state = RS_RESOLVING;
    struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                     .ai_protocol = IPPROTO_TCP, .ai_flags = EVUTIL_AI_ADDRCONFIG };
    char port[8];
    snprintf(port, sizeof port, "%u", o->port);
    r->dns_pending = 1;
    struct evdns_getaddrinfo_request *q = evdns_getaddrinfo(r->pool->dns, o->host, port, &hints, on_dns, r);
    if (r->dns_pending) r->dns = q;     /* else on_dns already ran */
}

/* Opens a new connection to the origin's address r->addr_i. */
static void req_connect(uc_req_t *r)
{
    uc_pool_t *p = r->pool;
    uc_origin_t *o = r->origin;
    r->state = RS_CONNECTING;
    uc_conn_t *c = calloc(1, sizeof *c);
    if (!c) { ucx_req_finish(r, UC_ERR_CONNECT, "out of memory", 0); return; }
    if (o->tls) {
        SSL_CTX *ctx = pool_ssl_ctx(p);
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        if (!ssl) { free(c); ucx_req_finish(r, UC_ERR_TLS, "cannot create an SSL object", 0); return; }
        if (!o->literal) SSL_set_tlsext_host_name(ssl, o->host);
        if (o->verify) {
            SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
            if (o->literal) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o->host);
            else SSL_set1_host(ssl, o->host);
        } else {
            SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        }
        c->bev = bufferevent_openssl_socket_new(p->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);   /* frees ssl on failure too */
        if (c->bev) bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) { free(c); ucx_req_finish(r, UC_ERR_CONNECT, "cannot create a bufferevent", 0); return; }
    c->pool = p;
    c->origin = o;
    c->req = r;
    r->conn = c;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    p->st.connects++;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&o->addr[r->addr_i], (int)o->alen[r->addr_i]) < 0) {
        connect_failed(r, UC_ERR_CONNECT, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bufferevent_enable(c->bev, EV_READ);
}

/* ---------- URL, head, origin ---------- */

typedef struct uc_url {
    int tls, v6;
    unsigned port;
    const char *host, *path;
    size_t hlen, plen;
} uc_url_t;

static int url_parse(const char *url, uc_url_t *u)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) { u->tls = 0; u->port = 80; p = url + 7; }
    else if (strncasecmp(url, "https://", 8) == 0) { u->tls = 1; u->port = 443; p = url + 8; }
    else return -1;
    size_t alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen)) return -1;           /* no userinfo */
    const char *q;
    u->v6 = *p == '[';
    if (u->v6) {
        const char *e = memchr(p, ']', alen);
        if (!e) return -1;
        u->host = p + 1;
        u->hlen = (size_t)(e - p - 1);
        q = e + 1;
    } else {
        u->host = p;
        u->hlen = strcspn(p, ":/?#");
        q = p + u->hlen;
    }
    if (u->hlen == 0 || u->hlen > UC_HOST_MAX) return -1;
    for (size_t i = 0; i < u->hlen; i++)
        if ((unsigned char)u->host[i] <= ' ' || u->host[i] == 0x7f) return -1;
    if (*q == ':') {
        unsigned port = 0;
        q++;
        if (*q < '0' || *q > '9') return -1;
        while (*q >= '0' && *q <= '9') { port = port * 10 + (unsigned)(*q++ - '0'); if (port > 65535) return -1; }
        if (port == 0) return -1;
        u->port = port;
    }
    if (*q != '/' && *q != '?' && *q != '#' && *q != 0) return -1;
    u->path = q;
    u->plen = strcspn(q, "#");
    for (size_t i = 0; i < u->plen; i++)
        if ((unsigned char)q[i] <= ' ' || q[i] == 0x7f) return -1;
    return 0;
}

/* Headers uclient writes itself; a caller's copy would duplicate them. */
static int header_owned(const char *h, size_t nlen)
{
    static const struct { const char *s; size_t n; } own[] = {
        { "host", 4 }, { "content-length", 14 }, { "connection", 10 }, { "transfer-encoding", 17 } };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (nlen == own[i].n && strncasecmp(h, own[i].s, nlen) == 0) return 1;
    return 0;
}

static uc_origin_t *origin_get(uc_pool_t *p, const uc_url_t *u, int verify)
{
    for (uc_origin_t *o = p->origins; o; o = o->next)
        if (o->tls == u->tls && o->port == u->port && o->verify == verify &&
            strlen(o->host) == u->hlen && strncasecmp(o->host, u->host, u->hlen) == 0)
            return o;
    uc_origin_t *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->tls = u->tls;
    o->verify = verify;
    o->port = u->port;
    memcpy(o->host, u->host, u->hlen);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&o->addr[0];
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o->addr[0];
    if (inet_pton(AF_INET, o->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)o->port);
        o->alen[0] = sizeof *s4;
        o->n_addr = o->literal = 1;
    } else if (inet_pton(AF_INET6, o->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)o->port);
        o->alen[0] = sizeof *s6;
        o->n_addr = o->literal = 1;
    }
    o->next = p->origins;
    p->origins = o;
    return o;
}

static char *put(char *d, const char *s, size_t n) { memcpy(d, s, n); return d + n; }

/* ---------- API ---------- */

uc_pool_t *uc_pool_new(struct event_base *base, struct evdns_base *dns, int max_idle_per_origin)
{
    uc_pool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base = base;
    p->max_idle = max_idle_per_origin > 0 ? max_idle_per_origin : 0;
    p->stale_retry = 1;
    p->idle_tv.tv_sec = (time_t)UC_IDLE_MAX_S;
    p->dns = dns;
    if (!dns) {
        /* DISABLE_WHEN_INACTIVE: an idle resolver must not keep the loop alive */
        p->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!p->dns) { free(p); return NULL; }
        p->own_dns = 1;
    }
    return p;
}

void uc_pool_free(uc_pool_t *p)
{
    if (!p) return;
    uc_origin_t *o = p->origins, *next;
    for (; o; o = next) {
        next = o->next;
        while (o->idle) conn_close(o->idle);
        free(o);
    }
    if (p->own_dns) evdns_base_free(p->dns, 0);
    if (p->ssl_ctx) SSL_CTX_free(p->ssl_ctx);
    free(p);
}

void uc_pool_set_stale_retry(uc_pool_t *p, int on)
{
    p->stale_retry = on != 0;
}

void uc_pool_set_idle_timeout(uc_pool_t *p, int ms)
{
    if (ms <= 0) return;
    p->idle_tv.tv_sec = ms / 1000;
    p->idle_tv.tv_usec = (ms % 1000) * 1000;
}

void uc_pool_stats(const uc_pool_t *p, uc_stats_t *st)
{
    *st = p->st;
}

#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

uc_req_t *uc_start(uc_pool_t *p, const char *url, const char *method,
                   const char *const *headers, int n_headers,
                   const char *body, size_t body_len,
                   int connect_ms, int total_ms, int tls_verify,
                   const uc_callbacks_t *cb, void *arg)
{
    uc_url_t u;
    if (!p || !url || !method || !cb || url_parse(url, &u) < 0) return NULL;
    size_t mlen = strlen(method);
    if (mlen == 0 || mlen > 32) return NULL;
    for (size_t i = 0; i < mlen; i++)
        if (!((method[i] >= 'A' && method[i] <= 'Z') || method[i] == '-' || method[i] == '_')) return NULL;
    if (body_len && !body) return NULL;

    /* head size: an upper bound, the exact length is taken after writing */
    size_t need = mlen + 1 + 1 + u.plen + sizeof " HTTP/1.1\r\nHost: [" + u.hlen + sizeof "]:65535\r\n"
                  + sizeof "Content-Length: 18446744073709551615\r\n" + sizeof "Connection: keep-alive\r\n\r\n";
    for (int i = 0; i < n_headers; i++) {
        const char *h = headers[i];
        const char *colon = h ? strchr(h, ':') : NULL;
        if (!colon || colon == h || strpbrk(h, "\r\n")) return NULL;
        need += strlen(h) + 2;
    }
    uc_origin_t *o = origin_get(p, &u, u.tls && tls_verify);
    if (!o) return NULL;

    size_t evsz = ALIGN16(event_get_struct_event_size());
    size_t base_sz = ALIGN16(sizeof(uc_req_t));
    char *mem = calloc(1, base_sz + 2 * evsz + need);
    if (!mem) return NULL;
    uc_req_t *r = (uc_req_t *)mem;
    r->timer = (struct event *)(mem + base_sz);
    r->defer = (struct event *)(mem + base_sz + evsz);
    char *head = mem + base_sz + 2 * evsz, *d = head;
    d = put(d, method, mlen);
    *d++ = ' ';
    if (u.plen == 0 || u.path[0] != '/') *d++ = '/';
    d = put(d, u.path, u.plen);
    d = put(d, " HTTP/1.1\r\nHost: ", 17);
    if (u.v6) *d++ = '[';
    d = put(d, u.host, u.hlen);
    if (u.v6) *d++ = ']';
    if (u.port != (u.tls ? 443u : 80u)) { *d++ = ':'; d = fmt_udec(d, u.port); }
    d = put(d, "\r\n", 2);
    for (int i = 0; i < n_headers; i++) {
        const char *h = headers[i];
        if (header_owned(h, (size_t)(strchr(h, ':') - h))) continue;
        d = put(d, h, strlen(h));
        d = put(d, "\r\n", 2);
    }
    r->is_head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
    if (body || !(strcmp(method, "GET") == 0 || r->is_head || strcmp(method, "DELETE") == 0 ||
                  strcmp(method, "OPTIONS") == 0))
        d = fmt_udec(put(d, "Content-Length: ", 16), body_len), d = put(d, "\r\n", 2);
    d = put(d, "Connection: keep-alive\r\n\r\n", 26);

    r->pool = p;
    r->origin = o;
    r->cb = *cb;
    r->arg = arg;
    r->head = head;
    r->head_len = (size_t)(d - head);
    r->body = body;
    r->body_len = body_len;
    r->connect_ms = connect_ms;
    event_assign(r->timer, p->base, -1, 0, on_timer, r);
    event_assign(r->defer, p->base, -1, 0, on_defer, r);
    double now = mono();
    r->deadline = total_ms > 0 ? now + total_ms / 1000.0 : 0;
    p->active++;
    p->api_depth++;

    uc_conn_t *c;
    while ((c = o->idle)) {
        idle_unlink(c);
        if (now - c->idle_since > c->pool->idle_tv.tv_sec + c->pool->idle_tv.tv_usec / 1e6) { conn_close(c); continue; }
        if (c->rev) event_add(c->rev, NULL);       /* drops the idle timeout */
        else bufferevent_set_timeouts(c->bev, NULL, NULL);
        c->req = r;
        r->conn = c;
        r->reused = 1;
        r->state = RS_SENT;
        http_parser_init(&c->parser, HTTP_RESPONSE);
        p->st.reuses++;
        arm_timer(r);
        req_send(r);
        break;
    }
    if (!c) {
        r->state = RS_CONNECTING;
        r->t_connect = now;
        arm_timer(r);
        req_resolve(r);
    }
    p->api_depth--;
    return r;
}

void uc_pause(uc_req_t *r)
{
    if (!r || r->state == RS_DONE || r->paused) return;
    r->paused = 1;
    uc_conn_t *c = r->conn;
    if (!c) return;
    if (c->connected) ucx_conn_read_off(c);
    if (c->in_parse) http_parser_pause(&c->parser, 1);   /* stop after the current callback */
}

void uc_resume(uc_req_t *r)
{
    if (!r || r->state == RS_DONE || !r->paused) return;
    r->paused = 0;
    /* Reading is re-enabled by on_defer, after a pending chunk was taken:
     * reading into the input buffer first could move the bytes it points to. */
    event_active(r->defer, EV_TIMEOUT, 1);
}

void uc_cancel(uc_req_t *r)
{
    if (!r || r->in_done) return;
    if (r->conn && r->conn->in_parse) { r->cancelled = 1; return; }
    if (r->state == RS_DONE) { req_free(r); return; }   /* on_done was still deferred */
    ucx_req_destroy(r);
}
