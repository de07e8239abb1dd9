/* test_uclient.c - uclient against the mock provider, a scripted raw server
 * and openssl s_server, all on loopback, on one event loop.
 *
 * The mock (build/<rel|san>/moongate-mock, found next to this binary's
 * directory or through MOCK_BIN) covers the real wire format: non-stream and
 * SSE (chunked) replies, 429 with Retry-After, reset mid-body, stall, and a
 * kill + restart under a pooled connection. A raw server inside this process
 * (evconnlistener on the same loop) scripts what the mock cannot: a stale
 * keep-alive close, close-delimited bodies, HTTP/1.0, 1xx, HEAD, trailing
 * garbage, a malformed status line, big headers and exact byte patterns for
 * pause/resume. TLS uses `openssl s_server -www` with a fresh self-signed
 * certificate (skipped, with a note, when openssl is missing).
 */
#include "uclient.h"
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <event2/listener.h>

static struct event_base *base;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------- child processes ---------- */

/* Starts argv with stdout on a pipe; every other fd of ours is closed in the
 * child so it cannot hold our sockets open. */
static pid_t spawn(char *const argv[], FILE **out, int quiet)
{
    int fds[2];
    if (pipe(fds) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        if (quiet) { int n = open("/dev/null", O_WRONLY); dup2(n, 2); }
        for (int fd = 3; fd < 1024; fd++) close(fd);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    *out = fdopen(fds[0], "r");
    return pid;
}

static void reap(pid_t pid, FILE *out)
{
    if (pid > 0) { kill(pid, SIGTERM); waitpid(pid, NULL, 0); }
    if (out) fclose(out);
}

static char mock_bin[512];
static pid_t mock_pid;
static FILE *mock_out;
static int mock_port;

static int mock_start(int port)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = { mock_bin, "-p", p, NULL };
    mock_pid = spawn(argv, &mock_out, 0);
    char line[64];
    if (mock_pid < 0 || !fgets(line, sizeof line, mock_out) || sscanf(line, "port=%d", &mock_port) != 1) {
        fprintf(stderr, "cannot start %s\n", mock_bin);
        return -1;
    }
    return 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---------- loop helpers ---------- */

static void on_break(evutil_socket_t fd, short w, void *arg) { (void)fd; (void)w; *(int *)arg = 1; }

/* Runs the loop until *flag or ms passed. Returns 1 when *flag was set. */
static int run_until(const int *flag, int ms)
{
    int expired = 0;
    struct event *t = evtimer_new(base, on_break, &expired);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(t, &tv);
    while (!*flag && !expired) event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return *flag != 0;
}

static void run_for(int ms) { int never = 0; run_until(&never, ms); }

/* ---------- one transfer's record ---------- */

typedef struct res {
    uc_req_t *req;
    int n_status, status, headers_end, n_headers, done, result, n_body;
    char detail[256], ctype[128], retry_after[32], te[64];
    long clen;
    int saw_link, big_len, big_ok, late_headers;
    char *body;
    size_t blen, bcap;
    /* pause: 1 = return UC_PAUSE on every other chunk, 2 = uc_pause() every third */
    int pause_mode, pauses, redeliveries, redeliver_bad;
    char *pend;
    size_t pend_len;
    struct event *resume;
    int abort_body, cancel_at, cancelled, after_cancel;
} res_t;

static void on_resume(evutil_socket_t fd, short w, void *arg)
{
    res_t *r = arg;
    (void)fd; (void)w;
    uc_resume(r->req);
}

static void resume_later(res_t *r)
{
    struct timeval tv = { 0, 1000 };
    if (!r->resume) r->resume = evtimer_new(base, on_resume, r);
    evtimer_add(r->resume, &tv);
    r->pauses++;
}

static void cb_status(void *a, int st)
{
    res_t *r = a;
    if (r->cancelled) r->after_cancel++;
    r->n_status++;
    r->status = st;
}

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void cb_header(void *a, const char *n, size_t nl, const char *v, size_t vl)
{
    res_t *r = a;
    if (r->cancelled) r->after_cancel++;
    if (r->headers_end) r->late_headers++;
    r->n_headers++;
#define IS(h) (nl == sizeof(h) - 1 && strncasecmp(n, h, nl) == 0)
    if (IS("content-type")) copy(r->ctype, sizeof r->ctype, v, vl);
    else if (IS("retry-after")) copy(r->retry_after, sizeof r->retry_after, v, vl);
    else if (IS("transfer-encoding")) copy(r->te, sizeof r->te, v, vl);
    else if (IS("content-length")) { char t[32]; copy(t, sizeof t, v, vl); r->clen = strtol(t, NULL, 10); }
    else if (IS("link")) r->saw_link = 1;
    else if (IS("x-big")) {
        r->big_len = (int)vl;
        r->big_ok = 1;
        for (size_t i = 0; i < vl; i++) if (v[i] != 'b') r->big_ok = 0;
    }
#undef IS
}

static void cb_headers_end(void *a)
{
    res_t *r = a;
    r->headers_end++;
}

static void append(res_t *r, const char *d, size_t n)
{
    if (r->blen + n + 1 > r->bcap) {
        r->bcap = (r->blen + n + 1) * 2;
        r->body = realloc(r->body, r->bcap);
    }
    memcpy(r->body + r->blen, d, n);
    r->blen += n;
    r->body[r->blen] = 0;
}

static size_t cb_body(void *a, const char *d, size_t n)
{
    res_t *r = a;
    if (r->cancelled) { r->after_cancel++; return n; }
    r->n_body++;
    if (r->pend) {                          /* the chunk refused last time, again */
        if (n != r->pend_len || memcmp(d, r->pend, n) != 0) r->redeliver_bad++;
        r->redeliveries++;
        free(r->pend);
        r->pend = NULL;
    } else if (r->pause_mode == 1 && r->n_body % 2 == 1) {
        r->pend = malloc(n);
        memcpy(r->pend, d, n);
        r->pend_len = n;
        resume_later(r);
        return UC_PAUSE;
    }
    if (r->abort_body) return 0;
    append(r, d, n);
    if (r->pause_mode == 2 && r->n_body % 3 == 0) { uc_pause(r->req); resume_later(r); }
    if (r->cancel_at && r->n_body == r->cancel_at) { uc_cancel(r->req); r->cancelled = 1; }
    return n;
}

static void cb_done(void *a, int result, const char *detail)
{
    res_t *r = a;
    if (r->cancelled) r->after_cancel++;
    r->done++;
    r->result = result;
    copy(r->detail, sizeof r->detail, detail ? detail : "", detail ? strlen(detail) : 0);
    r->req = NULL;
}

static const uc_callbacks_t cbs = { cb_status, cb_header, cb_headers_end, cb_body, cb_done };

static void res_reset(res_t *r)
{
    free(r->body);
    free(r->pend);
    if (r->resume) event_free(r->resume);
    memset(r, 0, sizeof *r);
    r->clen = -1;
}

/* Runs one transfer to its end (or 5 s). */
static void fetch_ex(res_t *r, uc_pool_t *p, const char *url, const char *method,
                     const char *body, int total_ms, int verify)
{
    static const char *hdrs[] = { "Content-Type: application/json", "Authorization: Bearer test-key" };
    r->req = uc_start(p, url, method, hdrs, 2, body, body ? strlen(body) : 0, 2000, total_ms, verify, &cbs, r);
    if (!r->req) { r->result = -1; return; }
    run_until(&r->done, 5000);
}

static void fetch(res_t *r, uc_pool_t *p, const char *url, const char *method, const char *body)
{
    fetch_ex(r, p, url, method, body, 5000, 1);
}

static char *murl(const char *path)
{
    static char buf[4][512];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 512, "http://127.0.0.1:%d%s", mock_port, path);
    return b;
}

static const char *CHAT = "{\"model\":\"mock-small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *CHAT_STREAM = "{\"model\":\"mock-small\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static uc_stats_t stats(uc_pool_t *p)
{
    uc_stats_t s;
    uc_pool_stats(p, &s);
    return s;
}

/* ---------- the scripted raw server (same loop) ---------- */

#define PAT_LEN 300000
static unsigned char pat(size_t i) { return (unsigned char)((i * 131 + (i >> 9)) & 0xff); }

typedef struct sconn {
    struct bufferevent *bev;
    struct event *timer;
    int nreq, close_after_write;
} sconn_t;

static int srv_port, srv_accepts;
static char srv_last[8192];
static size_t srv_last_len;

static void sconn_free(sconn_t *s)
{
    if (s->timer) event_free(s->timer);
    bufferevent_free(s->bev);
    free(s);
}

static void srv_timer(evutil_socket_t fd, short w, void *arg) { (void)fd; (void)w; sconn_free(arg); }

static void srv_write(struct bufferevent *bev, void *arg)
{
    sconn_t *s = arg;
    if (s->close_after_write && evbuffer_get_length(bufferevent_get_output(bev)) == 0) sconn_free(s);
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev; (void)what;
    sconn_free(arg);
}

static void srv_respond(sconn_t *s, const char *method, const char *path)
{
    struct evbuffer *o = bufferevent_get_output(s->bev);
    if (strcmp(path, "/eof") == 0) {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello world");
        s->close_after_write = 1;
    } else if (strcmp(path, "/http10") == 0) {
        evbuffer_add_printf(o, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/close") == 0) {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/continue") == 0) {
        evbuffer_add_printf(o, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok");
    } else if (strcmp(path, "/extra") == 0) {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
    } else if (strcmp(path, "/bad") == 0) {
        evbuffer_add_printf(o, "HELLO THERE\r\n\r\n");
    } else if (strcmp(path, "/bighdr") == 0) {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nX-Big: ");
        for (int i = 0; i < 5000; i++) evbuffer_add(o, "b", 1);
        evbuffer_add_printf(o, "\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/close-idle") == 0) {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        struct timeval tv = { 0, 50000 };
        s->timer = evtimer_new(base, srv_timer, s);
        evtimer_add(s->timer, &tv);
    } else if (strcmp(path, "/pattern") == 0 || strcmp(path, "/pattern-chunked") == 0) {
        static unsigned char buf[PAT_LEN];
        for (size_t i = 0; i < PAT_LEN; i++) buf[i] = pat(i);
        if (path[8] == 0) {
            evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", PAT_LEN);
            if (strcmp(method, "HEAD") != 0) evbuffer_add(o, buf, PAT_LEN);
        } else {
            evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            size_t off = 0, k = 1;
            while (off < PAT_LEN) {
                size_t n = (k * 7919) % 6000 + 1;
                if (n > PAT_LEN - off) n = PAT_LEN - off;
                evbuffer_add_printf(o, "%zx;ext=1\r\n", n);
                evbuffer_add(o, buf + off, n);
                evbuffer_add(o, "\r\n", 2);
                off += n;
                k++;
            }
            evbuffer_add_printf(o, "0\r\nX-Trailer: t\r\nX-Trailer-2: u\r\n\r\n");
        }
    } else {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
                            strcmp(method, "HEAD") == 0 ? 1000 : 2, strcmp(method, "HEAD") == 0 ? "" : "ok");
    }
}

/* Reads whole requests (head + Content-Length body) and answers each. */
static void srv_read(struct bufferevent *bev, void *arg)
{
    sconn_t *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (e.pos < 0) return;
        size_t hlen = (size_t)e.pos + 4, blen = 0;
        char *h = (char *)evbuffer_pullup(in, (ssize_t)hlen);
        char *cl = memmem(h, hlen, "Content-Length: ", 16);
        if (cl) blen = strtoul(cl + 16, NULL, 10);
        if (evbuffer_get_length(in) < hlen + blen) return;
        srv_last_len = hlen + blen < sizeof srv_last - 1 ? hlen + blen : sizeof srv_last - 1;
        evbuffer_copyout(in, srv_last, srv_last_len);
        srv_last[srv_last_len] = 0;
        char method[16] = "", path[256] = "";
        sscanf(srv_last, "%15s %255s", method, path);
        evbuffer_drain(in, hlen + blen);
        s->nreq++;
        if (strcmp(path, "/stale") == 0 && s->nreq > 1) { sconn_free(s); return; }
        srv_respond(s, method, path);
        if (s->close_after_write || strcmp(path, "/bad") == 0) { s->close_after_write = 1; return; }
    }
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)l; (void)sa; (void)len; (void)arg;
    sconn_t *s = calloc(1, sizeof *s);
    s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, srv_read, srv_write, srv_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    srv_accepts++;
}

static char *surl(const char *path)
{
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "http://127.0.0.1:%d%s", srv_port, path);
    return b;
}

/* ---------- the tests ---------- */

static void test_bad_args(uc_pool_t *p)
{
    static const char *crlf[] = { "X-A: 1\r\nX-B: 2" };
    static const char *nocolon[] = { "X-A" };
    T_CHECK(uc_start(p, "ftp://x/", "GET", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://", "GET", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://h:99999/", "GET", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://a b/", "GET", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://u@h/", "GET", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://h/x y", "GET", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://h/", "G T", NULL, 0, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://h/", "GET", crlf, 1, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
    T_CHECK(uc_start(p, "http://h/", "GET", nocolon, 1, NULL, 0, 0, 0, 1, &cbs, NULL) == NULL);
}

static void test_mock_basic(uc_pool_t *p)
{
    res_t r = { 0 };
    res_reset(&r);
    fetch(&r, p, murl("/v1/chat/completions"), "POST", CHAT);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.done, 1);
    T_EQ_INT(r.n_status, 1);
    T_EQ_INT(r.status, 200);
    T_EQ_INT(r.headers_end, 1);
    T_CHECK(strncmp(r.ctype, "application/json", 16) == 0);
    T_CHECK(r.body && strstr(r.body, "\"chatcmpl-mock-") && strstr(r.body, "Hello from the mock provider"));
    T_EQ_INT((long)r.blen, r.clen);
    T_CHECK(r.body && strrchr(r.body, '}') && strspn(strrchr(r.body, '}') + 1, "\n") == strlen(strrchr(r.body, '}') + 1));

    /* what the mock received: our head and the body, byte for byte */
    res_t l = { 0 };
    res_reset(&l);
    fetch(&l, p, murl("/_mock/last"), "GET", NULL);
    T_CHECK(l.body && strstr(l.body, "\"authorization\":\"Bearer test-key\""));
    T_CHECK(l.body && strstr(l.body, "\"connection\":\"keep-alive\""));
    T_CHECK(l.body && strstr(l.body, "\"method\":\"POST\""));
    char want[64];
    snprintf(want, sizeof want, "\"host\":\"127.0.0.1:%d\"", mock_port);
    T_CHECK(l.body && strstr(l.body, want));
    T_CHECK(l.body && strstr(l.body, "mock-small"));

    /* sequential requests ride the one pooled connection */
    uc_stats_t a = stats(p);
    int ok = 0;
    for (int i = 0; i < 30; i++) {
        res_reset(&r);
        fetch(&r, p, murl("/v1/chat/completions"), "POST", CHAT);
        ok += r.result == UC_OK && r.status == 200 && r.clen == (long)r.blen;
    }
    uc_stats_t b = stats(p);
    T_EQ_INT(ok, 30);
    T_EQ_INT(b.connects - a.connects, 0);
    T_EQ_INT(b.reuses - a.reuses, 30);
    T_EQ_INT(b.idle, 1);

    /* localhost goes through evdns (/etc/hosts) to the same mock */
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/v1/models", mock_port);
    res_reset(&r);
    fetch(&r, p, url, "GET", NULL);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.status, 200);
    T_CHECK(r.body && strstr(r.body, "mock-small"));
    res_reset(&r);
    res_reset(&l);
}

static void test_mock_stream(uc_pool_t *p)
{
    res_t r = { 0 };
    res_reset(&r);
    fetch(&r, p, murl("/f/pace_ms=20,events=5/v1/chat/completions"), "POST", CHAT_STREAM);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.status, 200);
    T_CHECK(strncmp(r.ctype, "text/event-stream", 17) == 0);
    T_EQ_STR(r.te, "chunked");
    T_CHECK(r.n_body >= 5);
    T_CHECK(r.body && strncmp(r.body, "data: ", 6) == 0);          /* chunk framing decoded */
    T_CHECK(r.body && r.blen > 14 && strcmp(r.body + r.blen - 14, "data: [DONE]\n\n") == 0);

    /* 429 with Retry-After, and the connection stays usable */
    uc_stats_t a = stats(p);
    res_reset(&r);
    fetch(&r, p, murl("/f/status=429,retry_after=1/v1/chat/completions"), "POST", CHAT);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.status, 429);
    T_EQ_STR(r.retry_after, "1");
    T_CHECK(r.body && strstr(r.body, "rate_limit_exceeded"));
    res_reset(&r);
    fetch(&r, p, murl("/v1/models"), "GET", NULL);
    T_EQ_INT(r.status, 200);
    T_EQ_INT(stats(p).connects - a.connects, 0);

    /* reset after 3 events: some body, then UC_ERR_RESET */
    res_reset(&r);
    fetch(&r, p, murl("/f/reset_after=3/v1/chat/completions"), "POST", CHAT_STREAM);
    T_EQ_INT(r.result, UC_ERR_RESET);
    T_EQ_INT(r.status, 200);
    T_CHECK(r.blen > 0 && r.body && strstr(r.body, "Hello"));
    T_CHECK(r.body && !strstr(r.body, "[DONE]"));

    /* stall with total_ms = 300 */
    res_reset(&r);
    double t0 = now_ms();
    fetch_ex(&r, p, murl("/f/stall=1/v1/chat/completions"), "POST", CHAT, 300, 1);
    double el = now_ms() - t0;
    T_EQ_INT(r.result, UC_ERR_TIMEOUT);
    T_EQ_INT(r.n_status, 0);
    T_CHECK(el >= 280 && el < 1500);

    /* on_body returning 0 aborts */
    res_reset(&r);
    r.abort_body = 1;
    fetch(&r, p, murl("/f/pace_ms=5,events=3/v1/chat/completions"), "POST", CHAT_STREAM);
    T_EQ_INT(r.result, UC_ERR_ABORTED);
    res_reset(&r);
}

static long mock_cancelled(uc_pool_t *p)
{
    res_t r = { 0 };
    res_reset(&r);
    fetch(&r, p, murl("/_mock/stats"), "GET", NULL);
    const char *c = r.body ? strstr(r.body, "\"cancelled\":") : NULL;
    long v = c ? strtol(c + 12, NULL, 10) : -1;
    res_reset(&r);
    return v;
}

static void on_cancel_timer(evutil_socket_t fd, short w, void *arg)
{
    res_t *r = arg;
    (void)fd; (void)w;
    uc_cancel(r->req);
    r->cancelled = 1;
}

static void test_cancel(uc_pool_t *p)
{
    long c0 = mock_cancelled(p);
    /* from inside on_body, mid-stream */
    res_t r = { 0 };
    res_reset(&r);
    r.cancel_at = 2;
    r.req = uc_start(p, murl("/f/pace_ms=30,events=10/v1/chat/completions"), "POST", NULL, 0,
                     CHAT_STREAM, strlen(CHAT_STREAM), 2000, 5000, 1, &cbs, &r);
    run_until(&r.cancelled, 3000);
    run_for(200);
    T_EQ_INT(r.cancelled, 1);
    T_EQ_INT(r.done, 0);
    T_EQ_INT(r.after_cancel, 0);

    /* from a timer while the stream is paced */
    res_t s = { 0 };
    res_reset(&s);
    s.req = uc_start(p, murl("/f/pace_ms=30,events=10/v1/chat/completions"), "POST", NULL, 0,
                     CHAT_STREAM, strlen(CHAT_STREAM), 2000, 5000, 1, &cbs, &s);
    struct event *t = evtimer_new(base, on_cancel_timer, &s);
    struct timeval tv = { 0, 80000 };
    evtimer_add(t, &tv);
    run_until(&s.cancelled, 3000);
    run_for(200);
    event_free(t);
    T_EQ_INT(s.cancelled, 1);
    T_EQ_INT(s.done, 0);
    T_CHECK(s.n_body >= 1);

    /* right after starting (connect in flight or request just written) */
    res_t q = { 0 };
    res_reset(&q);
    q.req = uc_start(p, murl("/v1/models"), "GET", NULL, 0, NULL, 0, 2000, 5000, 1, &cbs, &q);
    uc_cancel(q.req);
    run_for(100);
    T_EQ_INT(q.done + q.n_status, 0);
    T_CHECK(mock_cancelled(p) - c0 >= 2);
    res_reset(&r);
    res_reset(&s);
    res_reset(&q);
}

static void test_refused_and_restart(uc_pool_t *p)
{
    res_t r = { 0 };
    res_reset(&r);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", free_port());
    fetch(&r, p, url, "GET", NULL);
    T_EQ_INT(r.result, UC_ERR_CONNECT);
    T_CHECK(strstr(r.detail, "127.0.0.1") != NULL);

    /* the mock dies under a pooled connection: dropped at once, not on reuse */
    res_reset(&r);
    fetch(&r, p, murl("/v1/models"), "GET", NULL);
    T_EQ_INT(r.status, 200);
    uc_stats_t a = stats(p);
    T_CHECK(a.idle >= 1);
    int port = mock_port;
    reap(mock_pid, mock_out);
    run_for(200);
    uc_stats_t b = stats(p);
    T_EQ_INT(b.idle, 0);                    /* 127.0.0.1 and localhost origins alike */
    T_EQ_INT(mock_start(port), 0);
    res_reset(&r);
    fetch(&r, p, murl("/v1/models"), "GET", NULL);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.status, 200);
    uc_stats_t c = stats(p);
    T_EQ_INT(c.connects - b.connects, 1);
    T_EQ_INT(c.retries - b.retries, 0);
    res_reset(&r);
}

static void test_raw(uc_pool_t *p)
{
    res_t r = { 0 };
    uc_stats_t a, b;
    unsigned long i0 = stats(p).idle;       /* the mock's connection stays pooled meanwhile */

    /* the server closes an idle connection: dropped from the pool */
    res_reset(&r);
    fetch(&r, p, surl("/close-idle"), "GET", NULL);
    T_EQ_INT(r.status, 200);
    T_EQ_INT(stats(p).idle, i0 + 1);
    run_for(150);
    T_EQ_INT(stats(p).idle, i0);

    /* stale keep-alive: the reused connection closes on the request; one
     * transparent retry on a fresh connection */
    res_reset(&r);
    fetch(&r, p, surl("/first"), "GET", NULL);
    T_EQ_STR(r.body, "ok");
    a = stats(p);
    res_reset(&r);
    fetch(&r, p, surl("/stale"), "POST", "{\"x\":1}");
    b = stats(p);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.status, 200);
    T_EQ_STR(r.body, "ok");
    T_EQ_INT(b.retries - a.retries, 1);
    T_EQ_INT(b.reuses - a.reuses, 1);
    T_EQ_INT(b.connects - a.connects, 1);
    T_CHECK(strstr(srv_last, "POST /stale HTTP/1.1\r\n") == srv_last);
    T_CHECK(strstr(srv_last, "\r\nContent-Length: 7\r\n") != NULL);
    T_CHECK(strstr(srv_last, "\r\n\r\n{\"x\":1}") != NULL);

    /* the caller's Host / Content-Length / Connection are replaced by ours */
    static const char *own[] = { "Host: evil", "content-length: 99", "Connection: close", "X-Mine: yes" };
    res_reset(&r);
    r.req = uc_start(p, surl("/x?q=1#frag"), "PUT", own, 4, "abc", 3, 1000, 2000, 1, &cbs, &r);
    run_until(&r.done, 3000);
    T_EQ_INT(r.status, 200);
    char want[64];
    snprintf(want, sizeof want, "PUT /x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Mine: yes\r\n", srv_port);
    T_CHECK(strncmp(srv_last, want, strlen(want)) == 0);
    T_CHECK(strstr(srv_last, "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nabc") != NULL);
    /* (not a bare "99": the server's random port may contain it) */
    T_CHECK(strstr(srv_last, "evil") == NULL && strcasestr(srv_last, "content-length: 99") == NULL);

    /* close-delimited body */
    a = stats(p);
    res_reset(&r);
    fetch(&r, p, surl("/eof"), "GET", NULL);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_STR(r.body, "hello world");
    T_EQ_INT(stats(p).idle, a.idle - 1);   /* the reused connection was not pooled again */

    /* HTTP/1.0, Connection: close, trailing garbage: complete, never pooled */
    const char *nopool[] = { "/http10", "/close", "/extra" };
    for (int i = 0; i < 3; i++) {
        res_reset(&r);
        fetch(&r, p, surl(nopool[i]), "GET", NULL);
        T_EQ_INT(r.result, UC_OK);
        T_EQ_STR(r.body, "ok");
        T_EQ_INT(stats(p).idle, i0);
    }

    /* 1xx interim responses are skipped */
    res_reset(&r);
    fetch(&r, p, surl("/continue"), "GET", NULL);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.n_status, 1);
    T_EQ_INT(r.status, 200);
    T_EQ_INT(r.saw_link, 0);
    T_EQ_STR(r.body, "ok");
    T_EQ_INT(stats(p).idle, i0 + 1);

    /* HEAD: Content-Length 1000 but no body; the connection is reused after */
    a = stats(p);
    res_reset(&r);
    fetch(&r, p, surl("/head"), "HEAD", NULL);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.clen, 1000);
    T_EQ_INT((long)r.blen, 0);
    res_reset(&r);
    fetch(&r, p, surl("/after-head"), "GET", NULL);
    T_EQ_STR(r.body, "ok");
    b = stats(p);
    T_EQ_INT(b.connects - a.connects, 0);
    T_EQ_INT(b.reuses - a.reuses, 2);

    /* a header bigger than the scratch buffer's first size */
    res_reset(&r);
    fetch(&r, p, surl("/bighdr"), "GET", NULL);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_INT(r.big_len, 5000);
    T_EQ_INT(r.big_ok, 1);

    /* not HTTP */
    res_reset(&r);
    fetch(&r, p, surl("/bad"), "GET", NULL);
    T_EQ_INT(r.result, UC_ERR_PROTOCOL);
    T_EQ_INT(r.n_status, 0);

    /* pause/resume: every byte exactly once, in order */
    const char *paths[] = { "/pattern", "/pattern-chunked" };
    for (int mode = 0; mode <= 2; mode++) {
        for (int i = 0; i < 2; i++) {
            res_reset(&r);
            r.pause_mode = mode;
            fetch(&r, p, surl(paths[i]), "GET", NULL);
            T_EQ_INT(r.result, UC_OK);
            if (r.result != UC_OK)
                fprintf(stderr, "  pause mode %d %s: %s (%d body calls, %d pauses)\n", mode, paths[i],
                        r.detail, r.n_body, r.pauses);
            T_EQ_INT((long)r.blen, PAT_LEN);
            size_t bad = 0;
            for (size_t k = 0; k < r.blen && k < PAT_LEN; k++) bad += (unsigned char)r.body[k] != pat(k);
            T_EQ_INT((long)bad, 0);
            T_EQ_INT(r.redeliver_bad, 0);
            T_EQ_INT(r.late_headers, 0);            /* trailers are not headers */
            if (mode) T_CHECK(r.pauses >= 3);
            if (mode == 1) T_EQ_INT(r.redeliveries, r.pauses);
        }
    }
    res_reset(&r);
}

/* A DNS server on the loop: srv.test is 127.0.0.1, every other name is
 * NXDOMAIN. Exercises the evdns path (the only one real providers take). */
static void dns_answer(struct evdns_server_request *req, void *arg)
{
    int found = 0;
    (void)arg;
    for (int i = 0; i < req->nquestions; i++) {
        struct evdns_server_question *q = req->questions[i];
        if (strcasecmp(q->name, "srv.test") != 0) continue;
        found = 1;
        if (q->type == EVDNS_TYPE_A) {
            uint32_t a = htonl(INADDR_LOOPBACK);
            evdns_server_request_add_a_reply(req, q->name, 1, &a, 10);
        }
    }
    evdns_server_request_respond(req, found ? 0 : DNS_ERR_NOTEXIST);
}

static void test_dns(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    struct evdns_server_port *sp = evdns_add_server_port_with_base(base, fd, 0, dns_answer, NULL);
    char ns[32], url[64];
    snprintf(ns, sizeof ns, "127.0.0.1:%d", ntohs(a.sin_port));
    struct evdns_base *dns = evdns_base_new(base, 0);
    evdns_base_nameserver_ip_add(dns, ns);
    uc_pool_t *p = uc_pool_new(base, dns, 4);
    res_t r = { 0 };
    res_reset(&r);
    snprintf(url, sizeof url, "http://srv.test:%d/first", srv_port);
    r.req = uc_start(p, url, "GET", NULL, 0, NULL, 0, 1000, 2000, 1, &cbs, &r);
    T_EQ_INT(r.done, 0);
    run_until(&r.done, 3000);
    T_EQ_INT(r.result, UC_OK);
    T_EQ_STR(r.body, "ok");
    T_CHECK(strstr(srv_last, "\r\nHost: srv.test:") != NULL);
    res_reset(&r);
    fetch(&r, p, "http://nope.test/", "GET", NULL);
    T_EQ_INT(r.result, UC_ERR_DNS);
    T_CHECK(strstr(r.detail, "nope.test") != NULL);
    /* cancelled while resolving: no callback */
    res_reset(&r);
    r.req = uc_start(p, "http://other.test/", "GET", NULL, 0, NULL, 0, 1000, 2000, 1, &cbs, &r);
    uc_cancel(r.req);
    run_for(50);
    T_EQ_INT(r.done, 0);
    res_reset(&r);
    uc_pool_free(p);
    evdns_base_free(dns, 0);
    evdns_close_server_port(sp);
    close(fd);
}

/* ---------- TLS via openssl s_server ---------- */

static void test_tls(void)
{
    char dir[] = "/tmp/uclient-tls-XXXXXX";
    if (!mkdtemp(dir)) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1", dir, dir);
    if (system(cmd) != 0) { printf("test_uclient: TLS skipped (openssl cannot make a certificate)\n"); return; }
    int port = free_port();
    char ports[16], cert[300], key[300];
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    char *argv[] = { "timeout", "60", "openssl", "s_server", "-www", "-accept", ports, "-cert", cert,
                     "-key", key, NULL };
    FILE *out = NULL;
    pid_t pid = spawn(argv, &out, 1);
    char line[256];
    int ready = 0;
    while (out && fgets(line, sizeof line, out)) if (strncmp(line, "ACCEPT", 6) == 0) { ready = 1; break; }
    T_CHECK(ready);
    if (ready) {
        uc_pool_t *p = uc_pool_new(base, NULL, 8);
        char url[128], url_ip[128];
        snprintf(url, sizeof url, "https://localhost:%d/", port);
        snprintf(url_ip, sizeof url_ip, "https://127.0.0.1:%d/", port);
        res_t r = { 0 };
        res_reset(&r);
        fetch_ex(&r, p, url, "GET", NULL, 5000, 0);
        T_EQ_INT(r.result, UC_OK);
        T_EQ_INT(r.status, 200);
        T_CHECK(r.body && strstr(r.body, "<HTML>") != NULL);
        res_reset(&r);
        fetch_ex(&r, p, url, "GET", NULL, 5000, 1);
        T_EQ_INT(r.result, UC_ERR_TLS);
        T_CHECK(strstr(r.detail, "certificate verify failed") != NULL);
        uc_pool_free(p);

        /* trusting the certificate (SSL_CERT_FILE feeds the default verify paths) */
        setenv("SSL_CERT_FILE", cert, 1);
        p = uc_pool_new(base, NULL, 8);
        res_reset(&r);
        fetch_ex(&r, p, url, "GET", NULL, 5000, 1);
        T_EQ_INT(r.result, UC_OK);
        T_EQ_INT(r.status, 200);
        res_reset(&r);
        fetch_ex(&r, p, url_ip, "GET", NULL, 5000, 1);     /* the name check: no IP SAN */
        T_EQ_INT(r.result, UC_ERR_TLS);
        unsetenv("SSL_CERT_FILE");
        uc_pool_free(p);
        res_reset(&r);
    }
    reap(pid, out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(int argc, char **argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    const char *mb = getenv("MOCK_BIN");
    if (mb) snprintf(mock_bin, sizeof mock_bin, "%s", mb);
    else {
        snprintf(mock_bin, sizeof mock_bin, "%s", argv[0]);
        char *s = strrchr(mock_bin, '/');
        if (s) *s = 0; else snprintf(mock_bin, sizeof mock_bin, ".");
        strncat(mock_bin, "/../moongate-mock", sizeof mock_bin - strlen(mock_bin) - 1);
    }
    base = event_base_new();
    if (mock_start(0) < 0) { T_CHECK(!"mock started"); return T_SUMMARY(); }

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct evconnlistener *lev = evconnlistener_new_bind(base, srv_accept, NULL, LEV_OPT_CLOSE_ON_FREE |
                                                         LEV_OPT_REUSEABLE, 64, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sa, &sl);
    srv_port = ntohs(sa.sin_port);

    uc_pool_t *p = uc_pool_new(base, NULL, 4);
    T_CHECK(p != NULL);
    test_bad_args(p);
    test_mock_basic(p);
    test_mock_stream(p);
    test_cancel(p);
    test_refused_and_restart(p);
    test_raw(p);
    uc_pool_free(p);
    test_dns();
    test_tls();

    evconnlistener_free(lev);
    reap(mock_pid, mock_out);
    run_for(10);            /* let the raw server see its clients go */
    event_base_free(base);
    return T_SUMMARY();
}
