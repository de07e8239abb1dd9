/* log.c - JSON-lines logs: events (start-up, reloads, policy errors) and one
 * access line per request. Each line is built in a stack buffer; event lines
 * are written at once, access lines of one loop turn together (one write(2)
 * each way, so lines of several threads never interleave). Lines are capped
 * at LOG_LINE_MAX so a hostile value cannot make a log line unbounded. Nothing here ever sees provider keys: the
 * callers pass ids, names and numbers only. */
#include "log.h"

#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096   /* a line longer than this is truncated, still valid JSON */

static int log_fd = 2;

/* Worker threads coalesce the access lines of one event-loop turn into one
 * write(2): the flush event is made active when the first line lands, and
 * libevent runs it after the callbacks of the current turn. 64 KiB holds a
 * few hundred lines; a fuller buffer is written at once. */
#define LOG_BUF_CAP (64 * 1024)
static __thread char *tl_buf;
static __thread size_t tl_len;
static __thread struct event *tl_flush;

static void log_flush_now(void)
{
    size_t off = 0;
    while (off < tl_len) {
        ssize_t r = write(log_fd, tl_buf + off, tl_len - off);
        if (r <= 0) break;   /* a failing log must never take a request down */
        off += (size_t)r;
    }
    tl_len = 0;
}

/* libevent (worker loop): end of a loop turn with lines pending. */
static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    log_flush_now();
}

int log_thread_init(struct event_base *base)
{
    tl_buf = malloc(LOG_BUF_CAP);
    tl_flush = event_new(base, -1, 0, on_log_flush, NULL);
    if (!tl_buf || !tl_flush) { free(tl_buf); tl_buf = NULL; return -1; }
    return 0;
}

void log_thread_done(void)
{
    if (tl_buf) log_flush_now();
    if (tl_flush) event_free(tl_flush);
    free(tl_buf);
    tl_buf = NULL; tl_flush = NULL; tl_len = 0;
}

int log_open(const char *path)
{
    if (!path || !*path || strcmp(path, "stderr") == 0) { log_fd = 2; return 0; }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    log_fd = fd;
    return 0;
}

double log_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void log_json_escape(char *buf, size_t *len, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *len;
    if (!s) s = "";
    while (*s && n + 7 < cap) {
        /* a run of bytes that need no escape, copied at once */
        const char *r = s;
        while ((unsigned char)*r >= 0x20 && *r != '"' && *r != '\\' && *r != 0x7f) r++;
        size_t k = (size_t)(r - s);
        if (k) {
            if (k > cap - 7 - n) k = cap - 7 - n;   /* >= 1: n + 7 < cap */
            memcpy(buf + n, s, k);
            n += k;
            s += k;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        if (c == '"' || c == '\\') { buf[n++] = '\\'; buf[n++] = (char)c; }
        else if (c == '\n') { buf[n++] = '\\'; buf[n++] = 'n'; }
        else if (c == '\t') { buf[n++] = '\\'; buf[n++] = 't'; }
        else {
            buf[n++] = '\\'; buf[n++] = 'u'; buf[n++] = '0'; buf[n++] = '0';
            buf[n++] = hex[c >> 4]; buf[n++] = hex[c & 15];
        }
    }
    *len = n;
}

static void log_write(char *buf, size_t len)
{
    buf[len++] = '\n';
    ssize_t r = write(log_fd, buf, len);
    (void)r;   /* a failing log must never take a request down */
}

/* Access lines: buffered on worker threads, direct elsewhere. */
static void log_write_buffered(char *buf, size_t len)
{
    if (!tl_buf) { log_write(buf, len); return; }
    buf[len++] = '\n';
    if (tl_len + len > LOG_BUF_CAP) log_flush_now();
    memcpy(tl_buf + tl_len, buf, len);
    if (tl_len == 0) event_active(tl_flush, EV_TIMEOUT, 1);
    tl_len += len;
}

void log_event(int level, const char *fmt, ...)
{
    static const char *names[] = { "info", "warn", "error" };
    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = (size_t)snprintf(line, sizeof line, "{\"ts\":%.3f,\"type\":\"event\",\"level\":\"%s\",\"msg\":\"",
                                log_now(), names[level < 0 || level > 2 ? 2 : level]);
    log_json_escape(line, &n, sizeof line - 8, msg);
    memcpy(line + n, "\"}", 2);
    log_write(line, n + 2);
}

static void put_str(char *b, size_t *n, size_t cap, const char *key, const char *v)
{
    size_t k = strlen(key);
    if (*n + k + 8 > cap) return;
    b[(*n)++] = ','; b[(*n)++] = '"';
    memcpy(b + *n, key, k); *n += k;
    b[(*n)++] = '"'; b[(*n)++] = ':';
    if (!v) { memcpy(b + *n, "null", 4); *n += 4; return; }
    b[(*n)++] = '"';
    log_json_escape(b, n, cap - 2, v);
    b[(*n)++] = '"';
}

/* Integer and fixed-point formatting without printf: the access line is
 * written once per request and vfprintf was a visible share of its cost. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_lit(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* v >= 0 with three decimals ("12.345") */
static char *put_milli(char *p, double v)
{
    if (!(v >= 0)) v = 0;
    uint64_t m = (uint64_t)(v * 1000 + 0.5);
    p = put_u64(p, m / 1000);
    *p++ = '.';
    unsigned f = (unsigned)(m % 1000);
    *p++ = (char)('0' + f / 100); *p++ = (char)('0' + f / 10 % 10); *p++ = (char)('0' + f % 10);
    return p;
}

static char *put_i64_or_null(char *p, int64_t v)
{
    return v < 0 ? put_lit(p, "null") : put_u64(p, (uint64_t)v);
}

void log_access(const log_access_t *a)
{
    char b[LOG_LINE_MAX];
    size_t cap = sizeof b - 256, n;
    char *p = put_lit(b, "{\"ts\":");
    p = put_milli(p, log_now());
    p = put_lit(p, ",\"type\":\"access\"");
    n = (size_t)(p - b);
    put_str(b, &n, cap, "id", a->id);
    put_str(b, &n, cap, "method", a->method);
    put_str(b, &n, cap, "path", a->path);
    put_str(b, &n, cap, "route", a->route);
    put_str(b, &n, cap, "provider", a->provider);
    put_str(b, &n, cap, "model", a->model);
    p = b + n;
    p = put_lit(p, ",\"attempts\":");
    p = put_u64(p, (uint64_t)(a->attempts < 0 ? 0 : a->attempts));
    p = put_lit(p, ",\"status\":");
    p = put_u64(p, (uint64_t)(a->status < 0 ? 0 : a->status));
    p = put_lit(p, ",\"latency_ms\":");
    p = put_milli(p, a->latency_ms);
    p = put_lit(p, ",\"ttft_ms\":");
    p = a->ttft_ms >= 0 ? put_milli(p, a->ttft_ms) : put_lit(p, "null");
    p = put_lit(p, ",\"prompt_tokens\":");
    p = put_i64_or_null(p, a->prompt_tokens);
    p = put_lit(p, ",\"completion_tokens\":");
    p = a->prompt_tokens < 0 ? put_lit(p, "null") : put_u64(p, (uint64_t)(a->completion_tokens < 0 ? 0 : a->completion_tokens));
    n = (size_t)(p - b);
    put_str(b, &n, sizeof b - 4, "abort", a->abort);
    b[n++] = '}';
    log_write_buffered(b, n);
}
