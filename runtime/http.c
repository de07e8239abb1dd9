/* http.c - the HTTP/1.1 server of a worker, on libevent events and buffers.
 *
 * (The request reader, head and body parsing, is http_read.c; what replies
 * write into the output, status line and headers, bodies, chunks and the
 * server's own errors, is http_reply.c; the structs they share are in
 * http_int.h.)
 *
 * Owns: the listener, every connection (http_conn_t), the one request each
 * connection carries at a time (http_req_t is embedded in its connection,
 * since requests on a connection are handled strictly one after the other),
 * the per-connection buffers reused across requests (header block, header
 * array, body) and the per-connection timer.
 *
 * A connection's life:
 *
 *   IDLE --first byte--> HEAD --head ok--> BODY --body read--> HANDLING
 *    ^                     |                 |                    | reply ended
 *    |                     +-- 4xx/408 ------+-> FLUSHING(close) -+-> LINGER -> closed
 *    +------ output flushed, keep-alive ------- FLUSHING <--------+
 *
 * Bytes that arrive while a request is HANDLING or FLUSHING (pipelining) stay
 * in the input buffer and are parsed only once the reply went out; reading
 * stays enabled all the time so an EOF or reset is seen at once.
 *
 * Syscalls per request are the budget of a gateway, so a connection is a
 * socket, two evbuffers and two events of its own rather than a bufferevent,
 * which would spend more of them:
 *  - reading: one readv per readable wakeup, straight into the input buffer
 *    (evbuffer_reserve_space). bufferevent reading asks FIONREAD before
 *    every read (an ioctl each) and reads 4 KiB at most.
 *  - writing: a reply (or chunk) is written to the socket in the same call
 *    that produced it (conn_push). Only what the socket does not take waits
 *    in the output buffer, and only then is the write event (with the write
 *    timeout) armed, until the buffer is empty again. A bufferevent queues
 *    every reply behind its write event: an epoll_ctl to arm it, a loop pass,
 *    and another epoll_ctl to disarm it.
 *
 * Closing is two-step: http_conn_close() closes the socket at once
 * and activates the connection's timer event; that event's callback, on the
 * next loop pass, tells the user (on_close) when a request was in progress
 * and frees the connection. So no user callback runs inside an http_* call,
 * and a connection is never freed under a callback that still uses it. The
 * same activation moves on after a reply that a direct write sent whole
 * (flush_pending) and sends a streaming head nobody followed (push_pending).
 *
 * The one timer per connection serves every timeout of the current state
 * (header, body, idle, linger) plus that deferred work; the durations are
 * libevent "common timeouts", so re-arming it per read is O(1).
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "http_int.h"
#include "fmt.h"



void http_limits_default(http_limits_t *lim)
{
    lim->max_request_line = 8 * 1024;
    lim->max_header_bytes = 32 * 1024;
    lim->max_headers = 100;
    lim->max_body = 8 * 1024 * 1024;
    lim->header_timeout_ms = 10 * 1000;
    lim->body_timeout_ms = 30 * 1000;
    lim->idle_timeout_ms = 75 * 1000;
}

/* ---------- connection life ---------- */

static void conn_free(http_conn_t *c)
{
    http_server_t *s = c->srv;
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->rev) event_free(c->rev);   /* before the fd is closed */
    if (c->wev) event_free(c->wev);
    if (c->fd >= 0) evutil_closesocket(c->fd);
    if (c->in) evbuffer_free(c->in);
    if (c->out) evbuffer_free(c->out);
    if (c->timer) event_free(c->timer);
    free(c->hbuf);
    free(c->hdrs);
    free(c->body);
    free(c);
}

/* Closes the socket now; the rest happens in conn_timer_cb on the next pass. */
void http_conn_close(http_conn_t *c)
{
    if (c->dead) return;
    c->dead = 1;
    event_del(c->rev);
    event_del(c->wev);
    evutil_closesocket(c->fd);
    c->fd = -1;
    event_del(c->timer);
    event_active(c->timer, EV_TIMEOUT, 1);
}

static void conn_reset_request(http_conn_t *c)
{
    c->on_close = c->on_drain = NULL;
    c->cb_arg = NULL;
    c->reply = RM_NONE;
    c->is_head = c->above_high = 0;
    memset(&c->req, 0, sizeof c->req);
    if (c->body_cap > HTTP_BODY_KEEP) { free(c->body); c->body = NULL; c->body_cap = 0; }
    c->body_len = 0;
}

static void conn_begin_request(http_conn_t *c)
{
    c->state = ST_HEAD;
    c->head_taken = 0;
    c->hscan = c->rl_end = 0;
    c->hcount = 0;
    event_add(c->timer, c->srv->tv_header);
}

/* The reply of the current request went out completely. */
static void conn_flushed(http_conn_t *c)
{
    if (c->close_after || c->srv->stopping) {
        if (!c->linger_after) { http_conn_close(c); return; }
        /* half-close, then swallow whatever the client still sends */
        shutdown(c->fd, SHUT_WR);
        c->state = ST_LINGER;
        struct evbuffer *in = c->in;
        evbuffer_drain(in, evbuffer_get_length(in));
        event_add(c->timer, &c->srv->tv_linger);
        return;
    }
    conn_reset_request(c);
    c->state = ST_IDLE;
    if (evbuffer_get_length(c->in) > 0) {
        conn_begin_request(c);
        http_conn_process(c);
    } else {
        event_add(c->timer, c->srv->tv_idle);
    }
}

/* libevent (timer or event_active): one of
 *  - the connection was closed (dead): deliver on_close if a request was in
 *    progress, then free the connection;
 *  - deferred work (only ever activated, never a timeout, since the timer is
 *    not armed in the states that activate it): a streaming head to send
 *    (push_pending) and/or a reply ended with nothing left to write
 *    (flush_pending): move on;
 *  - the timeout of the current state: 408 while reading a request, silent
 *    close when idle or lingering. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *c = arg;
    (void)fd; (void)what;
    if (c->dead) {
        if (c->req_live) {
            c->req_live = 0;
            c->srv->active--;
            if (c->on_close) c->on_close(&c->req, c->cb_arg);
        }
        conn_free(c);
        return;
    }
    if (c->push_pending || c->flush_pending) {
        if (c->push_pending) {
            c->push_pending = 0;
            http_conn_push(c);
            if (c->dead) return;   /* write error: this event runs again to free */
        }
        if (c->flush_pending) { c->flush_pending = 0; conn_flushed(c); }
        return;
    }
    switch (c->state) {
    case ST_HEAD: case ST_BODY: http_conn_error(c, 408, "request read timed out"); break;
    case ST_HANDLING: case ST_FLUSHING: break;   /* never armed there */
    default: http_conn_close(c); break;
    }
}

/* ---------- writing replies ---------- */

/* One writev of the output buffer (all of it, as the socket takes it).
 * 0, or -1 after closing the connection on a write error. */
static int conn_write_out(http_conn_t *c)
{
    int n = evbuffer_write(c->out, c->fd);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return 0;
    http_conn_close(c);
    return -1;
}

/* Writes the queued output to the socket now, unless earlier output is
 * already waiting for the socket to become writable (then this joins it, in
 * order). What the socket does not take stays queued and the write event is
 * armed with the write timeout (conn_write_ev). Never calls the user and
 * never moves the connection on, so it is safe inside any http_* call; a
 * write error closes (on_close follows from the loop): callers check c->dead
 * afterwards. */
void http_conn_push(http_conn_t *c)
{
    if (c->dead || c->writing || evbuffer_get_length(c->out) == 0) return;
    if (conn_write_out(c) < 0) return;
    if (evbuffer_get_length(c->out) > 0) {
        c->writing = 1;
        event_add(c->wev, &c->srv->tv_write);
    }
}

/* The current reply is complete in the output: move on to the next request
 * (or the close) from the loop once it is written. Called with the output
 * pushed; when nothing is left, no write callback will come to tell us. */
void http_conn_reply_queued(http_conn_t *c)
{
    if (evbuffer_get_length(c->out) == 0) {
        c->flush_pending = 1;
        event_active(c->timer, EV_TIMEOUT, 1);
    }
}

void http_req_set_callbacks(http_req_t *r, http_req_cb on_close, http_req_cb on_drain, void *arg)
{
    http_conn_t *c = REQ_CONN(r);
    c->on_close = on_close;
    c->on_drain = on_drain;
    c->cb_arg = arg;
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

/* ---------- socket callbacks ---------- */

/* Bytes arrived. Parse while reading a request; keep (pipelining) while one
 * is in progress; throw away when closing. */
static void conn_input(http_conn_t *c)
{
    struct evbuffer *in = c->in;
    switch (c->state) {
    case ST_IDLE:
        conn_begin_request(c);
        /* fall through */
    case ST_HEAD: case ST_BODY:
        http_conn_process(c);
        return;
    case ST_HANDLING: case ST_FLUSHING:
        if (c->close_after || c->overflow) evbuffer_drain(in, evbuffer_get_length(in));
        else if (evbuffer_get_length(in) > HTTP_PIPELINE_CAP) {
            c->overflow = 1;
            evbuffer_drain(in, evbuffer_get_length(in));
        }
        return;
    case ST_LINGER:
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
}

/* libevent: the socket is readable. One read per wakeup, straight into the
 * input buffer (no FIONREAD, see the top of the file); level-triggered epoll
 * comes back when more is waiting. */
static void conn_read_ev(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *c = arg;
    (void)what;
    struct evbuffer *in = c->in;
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int nv = evbuffer_reserve_space(in, HTTP_READ_SIZE, v, 2);
    if (nv < 1) { http_conn_close(c); return; }
    for (int i = 0; i < nv; i++) { iov[i].iov_base = v[i].iov_base; iov[i].iov_len = v[i].iov_len; }
    ssize_t n = readv(fd, iov, nv);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
        /* A client that half-closes after its request while the reply is
         * being written still gets the reply; EOF stays readable, so stop
         * watching. Anything else closes now (and tells the user, see
         * conn_timer_cb). */
        if (n == 0 && c->state == ST_FLUSHING) {
            c->close_after = 1;
            c->linger_after = 0;
            event_del(c->rev);
            return;
        }
        http_conn_close(c);
        return;
    }
    size_t left = (size_t)n;
    int used = 0;
    for (; used < nv && left; used++) {
        if (v[used].iov_len > left) v[used].iov_len = left;
        left -= v[used].iov_len;
    }
    evbuffer_commit_space(in, v, used);
    conn_input(c);
}

/* libevent: the socket is writable while output waits, or was not for the
 * write timeout (a client that reads nothing: closed, which tells the user).
 * Writes; once the output is empty the event is disarmed and writes go
 * direct again (conn_push). At or below HTTP_OUT_LOW_WATER, tells a streaming
 * user it may produce again, and moves on to the next request once an ended
 * reply is fully written. */
static void conn_write_ev(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *c = arg;
    struct evbuffer *out = c->out;
    (void)fd;
    if (what & EV_TIMEOUT) { http_conn_close(c); return; }
    if (conn_write_out(c) < 0) return;
    if (evbuffer_get_length(out) == 0) {
        c->writing = 0;
        event_del(c->wev);
    } else if (evbuffer_get_length(out) > HTTP_OUT_LOW_WATER) {
        return;
    }
    if (c->above_high && evbuffer_get_length(out) <= HTTP_OUT_LOW_WATER) {
        c->above_high = 0;
        if (c->req_live && c->on_drain) {
            c->on_drain(&c->req, c->cb_arg);   /* may reply, end or abort */
            if (c->dead) return;
        }
    }
    if (c->state == ST_FLUSHING && !c->flush_pending && evbuffer_get_length(out) == 0) conn_flushed(c);
}

/* ---------- listener ---------- */

/* Starts serving a connected non-blocking socket; addr is the client's
 * "ip:port" for the request. Takes ownership of fd (closed on failure). */
static int conn_new(http_server_t *s, evutil_socket_t fd, const char *addr)
{
    http_conn_t *c = calloc(1, sizeof *c);
    if (!c) { evutil_closesocket(fd); return -1; }
    c->srv = s;
    c->fd = fd;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_read_ev, c);
    c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_write_ev, c);
    c->timer = event_new(s->base, -1, 0, conn_timer_cb, c);
    if (!c->in || !c->out || !c->rev || !c->wev || !c->timer || event_add(c->rev, NULL) < 0) {
        if (c->rev) event_free(c->rev);
        if (c->wev) event_free(c->wev);
        if (c->timer) event_free(c->timer);
        if (c->in) evbuffer_free(c->in);
        if (c->out) evbuffer_free(c->out);
        evutil_closesocket(fd);
        free(c);
        return -1;
    }
    snprintf(c->client_addr, sizeof c->client_addr, "%s", addr);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    c->state = ST_IDLE;
    event_add(c->timer, s->tv_header);   /* a fresh connection gets the header timeout to send something */
    return 0;
}

/* Sets up a freshly accepted, non-blocking socket and starts serving it. */
static void accepted(http_server_t *s, evutil_socket_t fd, const struct sockaddr *sa)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char ip[INET6_ADDRSTRLEN] = "?", addr[64];
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
        port = ntohs(in4->sin_port);
        snprintf(addr, sizeof addr, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(addr, sizeof addr, "[%s]:%d", ip, port);
    } else {
        snprintf(addr, sizeof addr, "local");
    }
    conn_new(s, fd, addr);
}

/* libevent: the listening socket is readable. Accepts up to
 * HTTP_ACCEPT_BATCH connections. accept() failing for lack of resources
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses the listener briefly instead of
 * spinning on a socket that stays readable; errors about one connection
 * (ECONNABORTED, EPERM from a firewall, EPROTO...) skip it. */
static void accept_ev(evutil_socket_t lfd, short what, void *arg)
{
    http_server_t *s = arg;
    (void)what;
    for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accepted(s, fd, (struct sockaddr *)&ss);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            event_del(s->lev);
            struct timeval tv = { 0, HTTP_ACCEPT_PAUSE_MS * 1000 };
            event_add(s->accept_retry, &tv);
            return;
        }
        /* EINTR, ECONNABORTED and the like: try the next one */
    }
}

/* timer: the accept pause is over. */
static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    http_server_t *s = arg;
    (void)fd; (void)what;
    if (s->lev) event_add(s->lev, NULL);
}

/* ---------- server ---------- */

static struct timeval ms_tv(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

http_server_t *http_server_new(struct event_base *base, const http_limits_t *lim,
                               http_handler_fn handler, void *arg)
{
    http_server_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    http_limits_t d;
    http_limits_default(&d);
    s->lim = lim ? *lim : d;
    if (!s->lim.max_request_line) s->lim.max_request_line = d.max_request_line;
    if (!s->lim.max_header_bytes) s->lim.max_header_bytes = d.max_header_bytes;
    if (s->lim.max_headers <= 0) s->lim.max_headers = d.max_headers;
    if (!s->lim.max_body) s->lim.max_body = d.max_body;
    if (s->lim.header_timeout_ms <= 0) s->lim.header_timeout_ms = d.header_timeout_ms;
    if (s->lim.body_timeout_ms <= 0) s->lim.body_timeout_ms = d.body_timeout_ms;
    if (s->lim.idle_timeout_ms <= 0) s->lim.idle_timeout_ms = d.idle_timeout_ms;
    s->base = base;
    s->handler = handler;
    s->arg = arg;
    s->err_fmt = http_default_error_fmt;
    struct timeval tv;
    tv = ms_tv(s->lim.header_timeout_ms); s->tv_header = event_base_init_common_timeout(base, &tv);
    tv = ms_tv(s->lim.body_timeout_ms);   s->tv_body = event_base_init_common_timeout(base, &tv);
    tv = ms_tv(s->lim.idle_timeout_ms);   s->tv_idle = event_base_init_common_timeout(base, &tv);
    /* a client that reads nothing of a pending reply for body_timeout is gone */
    s->tv_write = ms_tv(s->lim.body_timeout_ms);
    s->tv_linger = ms_tv(HTTP_LINGER_MS);
    s->accept_retry = evtimer_new(base, accept_retry_cb, s);
    if (!s->tv_header || !s->tv_body || !s->tv_idle || !s->accept_retry) {
        if (s->accept_retry) event_free(s->accept_retry);
        free(s);
        return NULL;
    }
    return s;
}

void http_server_set_error_fmt(http_server_t *s, http_error_fmt_fn fmt, void *arg)
{
    s->err_fmt = fmt ? fmt : http_default_error_fmt;
    s->err_arg = fmt ? arg : NULL;
}

int http_server_listen_fd(http_server_t *s, int fd)
{
    if (s->lev || s->stopping) { evutil_closesocket(fd); return -1; }
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    s->lev = event_new(s->base, fd, EV_READ | EV_PERSIST, accept_ev, s);
    if (!s->lev || event_add(s->lev, NULL) < 0) {
        if (s->lev) event_free(s->lev);
        s->lev = NULL;
        evutil_closesocket(fd);
        return -1;
    }
    s->lfd = fd;
    return 0;
}

int http_server_adopt_fd(http_server_t *s, int fd, const char *client_addr)
{
    if (s->stopping) { evutil_closesocket(fd); return -1; }
    evutil_make_socket_nonblocking(fd);
    return conn_new(s, fd, client_addr ? client_addr : "local");
}

void http_server_stop_accepting(http_server_t *s)
{
    s->stopping = 1;
    if (s->lev) { event_free(s->lev); s->lev = NULL; evutil_closesocket(s->lfd); }
    event_del(s->accept_retry);
    for (http_conn_t *c = s->conns; c; c = c->next)
        if (!c->dead && c->state == ST_IDLE) http_conn_close(c);
}

int http_server_active(const http_server_t *s)
{
    return s->active;
}

int http_server_connections(const http_server_t *s)
{
    int n = 0;
    for (const http_conn_t *c = s->conns; c; c = c->next) n++;
    return n;
}

void http_server_free(http_server_t *s)
{
    if (!s) return;
    if (s->lev) { event_free(s->lev); evutil_closesocket(s->lfd); }
    event_free(s->accept_retry);
    while (s->conns) conn_free(s->conns);
    free(s);
}
