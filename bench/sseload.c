/*
 * sseload.c - a small libevent load client that measures SSE streaming
 * fidelity: how soon the first event of each stream arrives, how faithfully
 * the spacing of content events is kept, and how many streams fail. Built for
 * the benchmark lanes "streaming fidelity" and "memory per open stream".
 *
 *   sseload -u URL -c CONCURRENCY -n TOTAL_STREAMS [-b BODY_JSON | -B BODYFILE]
 *           [-H "Name: value"]... [-p PACE_MS] [-r RAMP_MS] [-t TIMEOUT_S]
 *           [-k HOLD_FILE]
 *
 *   -u  http://HOST:PORT/path, plain HTTP; HOST is an IPv4 literal or
 *       `localhost` (meant for loopback)
 *   -c  streams kept open at once;  -n  streams to complete in all
 *   -b  request body (default: a streaming mock-small chat request);
 *   -B  read the body from a file
 *   -H  extra request header, repeatable
 *   -p  expected gap between content events, in ms: turns on gap_err_ms and
 *       the `stalled` count (a gap over 10 x PACE_MS)
 *   -r  open the first wave over RAMP_MS (default: at once, 256 per loop turn)
 *   -t  per-stream deadline in seconds, from connect to end (default 60)
 *   -k  write `open` into HOLD_FILE once every stream of the first wave has
 *       its first event (or has ended), and `done` at the end, so a script
 *       can sample the server's RSS while all streams are open
 *
 * Prints one JSON object on stdout; progress and warnings go to stderr. Exit
 * 0 when it ran (failed streams included), 2 on usage errors, 1 when it
 * could not run at all. Build (not part of the top-level Makefile):
 *   cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE $(pkg-config --cflags libevent) \
 *      bench/sseload.c -o build/rel/sseload $(pkg-config --libs libevent) -lm
 *
 * Each stream is one POST on a fresh connection (`Connection: close`). The
 * response is parsed by hand (status line, headers, then a chunked,
 * Content-Length or close-delimited body) straight out of the bufferevent's
 * input buffer, and the body is split into SSE events on blank lines (LF,
 * CRLF or CR line ends). An event is stamped with CLOCK_MONOTONIC once per
 * read callback, i.e. when the bytes holding its terminating blank line were
 * read from the socket. Comment-only blocks (`: keepalive`) are not events.
 *
 * What is measured:
 *   ttft      (printed as ttfe_ms) time to first token: the first event
 *             that carries content (not the role-only opener `"content":""`,
 *             nor a finish/usage chunk or [DONE]) minus the moment the request
 *             was fully written: just before the send() that took its last
 *             byte (see sl_send_request for why before, not after).
 *   gap       for every *content* event after the first one of a stream:
 *             its arrival minus the previous content event's. Not content, so no gap
 *             sample: `data: [DONE]`, a finish chunk (`"finish_reason":"..."`
 *             with a string value) and a usage chunk (`"choices":[]`). These
 *             follow the last content event at once by design, and counting
 *             them would put a full PACE_MS of "error" into every stream.
 *   failure   one reason per stream, first match wins: `timeout` (deadline
 *             hit), `status` (a final status other than 200), `conn` (connect
 *             error, socket error or EOF before the body, an unparseable
 *             response, or a body cut short after [DONE]), `no_done` (the body
 *             ended, cleanly or not, without `data: [DONE]`).
 *
 * Ownership: struct sl_run owns everything; streams live in a slot array of
 * CONCURRENCY entries reused as streams end, each owning its bufferevent
 * (freed in sl_stream_end, the single cleanup path). The request bytes are
 * built once and shared: sent straight from them on connect, any remainder
 * added to the stream's output by reference. Per-stream
 * state is ~100 bytes plus the bufferevent and its two evbuffers. Samples are
 * growable arrays of doubles, sorted once at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/* Streams opened per loop turn when not ramping: a burst of thousands of
 * SYNs at once overflows the server's accept queue (somaxconn is often 4096,
 * and the server accepts only between its own callbacks). */
#define SL_BATCH 256
/* How often the deadline sweep runs; it bounds how late a timeout is seen. */
#define SL_SWEEP_MS 100
/* A status line or header line longer than this is a protocol error. */
#define SL_MAX_LINE 65536
/* Bytes kept of each SSE line: enough to recognise `data: [DONE]`. */
#define SL_PREFIX 16
/* Bytes of recent event text kept to spot the non-content markers below;
 * a power of two larger than the longest marker. */
#define SL_RING 32

#define SL_DEFAULT_BODY \
    "{\"model\":\"mock-small\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

enum sl_outcome { SL_OK, SL_FAIL_STATUS, SL_FAIL_CONN, SL_FAIL_TIMEOUT, SL_FAIL_NO_DONE, SL_NOUTCOMES };

enum sl_phase { SL_PH_STATUS, SL_PH_HEADERS, SL_PH_BODY };
enum sl_body { SL_BODY_CLOSE, SL_BODY_LENGTH, SL_BODY_CHUNKED };
enum sl_chunk { SL_CH_SIZE, SL_CH_DATA, SL_CH_CRLF };

/* Parser result: go on, wait for more bytes, the response is complete, or it
 * is malformed. */
enum sl_parse { SL_P_MORE, SL_P_COMPLETE, SL_P_BAD, SL_P_STATUS };

struct sl_run;

struct sl_stream {
    struct bufferevent *bev;    /* owned; NULL when the slot is free */
    struct sl_run *run;
    uint64_t t_start;           /* ns, connect started: the deadline base */
    uint64_t t_written;         /* ns, request fully written; 0 until then */
    uint64_t t_last;            /* ns, previous event */
    int64_t remaining;          /* bytes left in this chunk / Content-Length body */
    uint32_t events;
    uint16_t status;
    uint16_t line_len;          /* current SSE line, saturating */
    uint8_t phase, body, chunk;
    uint8_t prev_cr;            /* last byte was CR: a following LF belongs to it */
    uint8_t ev_fields;          /* current event has a non-comment line */
    uint8_t ev_done;            /* current event is `data: [DONE]` */
    uint8_t ev_meta;            /* current event is a finish or usage chunk */
    uint8_t ev_opener;          /* current event is the role-only opener (`"content":""`) */
    uint8_t got_token;          /* a token event arrived: TTFT taken */
    uint8_t got_done;
    uint8_t req_sent;           /* sl_send_request ran */
    uint8_t first_wave;         /* still counted in run->wave_pending */
    uint8_t ring_pos;
    char prefix[SL_PREFIX];
    char ring[SL_RING];
};

struct sl_samples {
    double *v;
    size_t n, cap;
};

struct sl_run {
    struct event_base *base;
    struct event *pump_ev, *sweep_ev, *sig_int, *sig_term;
    struct sockaddr_in addr;
    char *req;                  /* owned: the whole request, shared by reference */
    size_t req_len;
    long conc, total, pace_ms, ramp_ms, timeout_s;
    const char *hold_file;
    struct sl_stream *slots;    /* owned, conc entries */
    long *free_slots;           /* owned, stack of free slot indices */
    long nfree;
    long started, open, ended;
    long wave_pending, wave_open;   /* first wave: not settled yet / got an event */
    long outcomes[SL_NOUTCOMES];
    uint64_t events, stalled;
    uint64_t t0, t_end;
    struct sl_samples ttfe, gap_err;
    int interrupted;
};

static uint64_t sl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sl_push(struct sl_samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "sseload: out of memory for samples\n");
            exit(1);
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static void sl_hold_write(const char *path, const char *word)
{
    if (!path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "sseload: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    size_t len = strlen(word);
    if (write(fd, word, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        fprintf(stderr, "sseload: short write to %s\n", path);
    close(fd);
}

/* A first-wave stream got its first event (got_event) or ended without
 * one; once the whole wave is settled, tell the outside script. */
static void sl_wave_step(struct sl_run *run, struct sl_stream *st, int got_event)
{
    if (!st->first_wave)
        return;
    st->first_wave = 0;
    run->wave_open += got_event;
    if (--run->wave_pending == 0) {
        fprintf(stderr, "sseload: first wave: %ld of %ld streams open with a first event\n",
                run->wave_open, run->conc);
        sl_hold_write(run->hold_file, "open");
    }
}

static void sl_pump_soon(struct sl_run *run)
{
    static const struct timeval zero = {0, 0};
    evtimer_add(run->pump_ev, &zero);
}

/* The single cleanup path of a stream: records the outcome, frees the
 * bufferevent (safe from inside its own callbacks: libevent defers the
 * finalisation), returns the slot and asks for a replacement. */
static void sl_stream_end(struct sl_stream *st, enum sl_outcome why)
{
    struct sl_run *run = st->run;
    run->outcomes[why]++;
    sl_wave_step(run, st, 0);
    if (st->bev)
        bufferevent_free(st->bev);
    st->bev = NULL;
    run->free_slots[run->nfree++] = st - run->slots;
    run->open--;
    run->ended++;
    if (run->ended == run->total) {
        run->t_end = sl_now();
        event_base_loopexit(run->base, NULL);
    } else {
        sl_pump_soon(run);
    }
}

/* ---- SSE ---------------------------------------------------------------- */

static int sl_ring_ends_with(const struct sl_stream *st, const char *pat, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (st->ring[(st->ring_pos - 1 - i) & (SL_RING - 1)] != pat[len - 1 - i])
            return 0;
    }
    return 1;
}

static void sl_ring_put(struct sl_stream *st, char c)
{
    st->ring[st->ring_pos & (SL_RING - 1)] = c;
    st->ring_pos = (uint8_t)((st->ring_pos + 1) & (SL_RING - 1));
    /* Only the last byte of a marker can complete it, so check on those. */
    if (c == '"') {
        if (sl_ring_ends_with(st, "\"finish_reason\":\"", 17) ||
            sl_ring_ends_with(st, "\"finish_reason\": \"", 18))
            st->ev_meta = 1;
    }
    /* `"content":""` followed by , or } only appears in the role-only opener */
    if (c == ',' || c == '}') {
        if (sl_ring_ends_with(st, "\"content\":\"\",", 13) || sl_ring_ends_with(st, "\"content\":\"\"}", 13))
            st->ev_opener = 1;
    }
    if (c == ']') {
        if (sl_ring_ends_with(st, "\"choices\":[]", 12) ||
            sl_ring_ends_with(st, "\"choices\": []", 13))
            st->ev_meta = 1;
    }
}

static void sl_event(struct sl_stream *st, uint64_t now)
{
    struct sl_run *run = st->run;
    st->events++;
    run->events++;
    if (st->events == 1)
        sl_wave_step(run, st, 1);
    int token = !st->ev_done && !st->ev_meta && !st->ev_opener;
    if (token && !st->got_token) {
        st->got_token = 1;
        uint64_t base = st->t_written ? st->t_written : st->t_start;
        sl_push(&run->ttfe, (double)(now - base) / 1e6);
    } else if (token && run->pace_ms > 0) {
        double gap = (double)(now - st->t_last) / 1e6;
        sl_push(&run->gap_err, fabs(gap - (double)run->pace_ms));
        if (gap > 10.0 * (double)run->pace_ms)
            run->stalled++;
    }
    if (st->ev_done)
        st->got_done = 1;
    if (token)
        st->t_last = now;
}

static void sl_line_end(struct sl_stream *st, uint64_t now)
{
    if (st->line_len == 0) {
        if (st->ev_fields)
            sl_event(st, now);
        st->ev_fields = st->ev_done = st->ev_meta = st->ev_opener = 0;
        return;
    }
    if (st->prefix[0] != ':')
        st->ev_fields = 1;
    if ((st->line_len == 12 && memcmp(st->prefix, "data: [DONE]", 12) == 0) ||
        (st->line_len == 11 && memcmp(st->prefix, "data:[DONE]", 11) == 0))
        st->ev_done = 1;
    st->line_len = 0;
    sl_ring_put(st, '\n');
}

/* Feeds body bytes to the SSE splitter. Never ends the stream. */
static void sl_sse_feed(struct sl_stream *st, const char *p, size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (st->prev_cr) {
            st->prev_cr = 0;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            st->prev_cr = c == '\r';
            sl_line_end(st, now);
            continue;
        }
        if (st->line_len < SL_PREFIX)
            st->prefix[st->line_len] = c;
        if (st->line_len < UINT16_MAX)
            st->line_len++;
        sl_ring_put(st, c);
    }
}

/* Moves up to `max` bytes from the input buffer into the SSE splitter
 * without copying; returns how many. */
static size_t sl_take(struct sl_stream *st, struct evbuffer *in, size_t max, uint64_t now)
{
    size_t done = 0;
    while (done < max) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        size_t k = v.iov_len < max - done ? v.iov_len : max - done;
        sl_sse_feed(st, v.iov_base, k, now);
        evbuffer_drain(in, k);
        done += k;
    }
    return done;
}

/* ---- HTTP response ------------------------------------------------------ */

/* One CRLF- or LF-terminated line, malloc'd, or NULL (more bytes needed, or
 * *bad set when the line is too long). */
static char *sl_line(struct evbuffer *in, int *bad)
{
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
    if (!line && evbuffer_get_length(in) > SL_MAX_LINE)
        *bad = 1;
    return line;
}

static enum sl_parse sl_headers(struct sl_stream *st, struct evbuffer *in)
{
    int bad = 0;
    char *line;
    while (st->phase != SL_PH_BODY && (line = sl_line(in, &bad))) {
        enum sl_parse r = SL_P_MORE;
        if (st->phase == SL_PH_STATUS) {
            int status;
            if (sscanf(line, "HTTP/1.%*1d %3d", &status) != 1 || status < 100 || status > 599) {
                r = SL_P_BAD;
            } else {
                st->status = (uint16_t)status;
                st->phase = SL_PH_HEADERS;
                st->body = SL_BODY_CLOSE;
            }
        } else if (line[0] == '\0') {
            if (st->status / 100 == 1)
                st->phase = SL_PH_STATUS;   /* 100 Continue and friends */
            else if (st->status != 200)
                r = SL_P_STATUS;
            else
                st->phase = SL_PH_BODY;
        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            if (strcasestr(line + 18, "chunked")) {
                st->body = SL_BODY_CHUNKED;
                st->chunk = SL_CH_SIZE;
            }
        } else if (strncasecmp(line, "content-length:", 15) == 0 && st->body != SL_BODY_CHUNKED) {
            char *end;
            long long len = strtoll(line + 15, &end, 10);
            if (len < 0 || end == line + 15)
                r = SL_P_BAD;
            st->body = SL_BODY_LENGTH;
            st->remaining = len;
        }
        free(line);
        if (r != SL_P_MORE)
            return r;
    }
    if (bad)
        return SL_P_BAD;
    if (st->phase == SL_PH_BODY && st->body == SL_BODY_LENGTH && st->remaining == 0)
        return SL_P_COMPLETE;
    return SL_P_MORE;
}

static enum sl_parse sl_body(struct sl_stream *st, struct evbuffer *in, uint64_t now)
{
    if (st->body == SL_BODY_CLOSE) {
        sl_take(st, in, evbuffer_get_length(in), now);
        return SL_P_MORE;
    }
    if (st->body == SL_BODY_LENGTH) {
        st->remaining -= (int64_t)sl_take(st, in, (size_t)st->remaining, now);
        return st->remaining == 0 ? SL_P_COMPLETE : SL_P_MORE;
    }
    for (;;) {
        int bad = 0;
        char *line, *end;
        switch (st->chunk) {
        case SL_CH_SIZE:
            if (!(line = sl_line(in, &bad)))
                return bad ? SL_P_BAD : SL_P_MORE;
            errno = 0;
            st->remaining = (int64_t)strtoull(line, &end, 16);
            bad = end == line || errno || st->remaining < 0 || (*end && *end != ';' && *end != ' ');
            free(line);
            if (bad)
                return SL_P_BAD;
            if (st->remaining == 0)
                return SL_P_COMPLETE;   /* trailers are not worth waiting for */
            st->chunk = SL_CH_DATA;
            break;
        case SL_CH_DATA:
            st->remaining -= (int64_t)sl_take(st, in, (size_t)st->remaining, now);
            if (st->remaining > 0)
                return SL_P_MORE;
            st->chunk = SL_CH_CRLF;
            break;
        case SL_CH_CRLF:
            if (!(line = sl_line(in, &bad)))
                return bad ? SL_P_BAD : SL_P_MORE;
            bad = line[0] != '\0';
            free(line);
            if (bad)
                return SL_P_BAD;
            st->chunk = SL_CH_SIZE;
            break;
        }
    }
}

/* ---- bufferevent callbacks ---------------------------------------------- */

/* Read callback: bytes arrived. Parses as far as the input allows; may end
 * (and free) the stream, so nothing touches `st` after sl_stream_end. One
 * timestamp serves every event completed by these bytes. */
static void sl_on_read(struct bufferevent *bev, void *arg)
{
    struct sl_stream *st = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint64_t now = sl_now();
    enum sl_parse r = SL_P_MORE;
    if (st->phase != SL_PH_BODY)
        r = sl_headers(st, in);
    if (r == SL_P_MORE && st->phase == SL_PH_BODY)
        r = sl_body(st, in, now);
    switch (r) {
    case SL_P_MORE:
        break;
    case SL_P_COMPLETE:
        sl_stream_end(st, st->got_done ? SL_OK : SL_FAIL_NO_DONE);
        break;
    case SL_P_STATUS:
        sl_stream_end(st, SL_FAIL_STATUS);
        break;
    case SL_P_BAD:
        sl_stream_end(st, SL_FAIL_CONN);
        break;
    }
}

/* Write callback: the output buffer drained. Only reached with bytes in
 * the output when sl_send_request could not write the whole request at
 * once (a body larger than the socket buffer); stamps the TTFE base then. */
static void sl_on_write(struct bufferevent *bev, void *arg)
{
    struct sl_stream *st = arg;
    if (st->req_sent && !st->t_written && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        st->t_written = sl_now();
}

/* Writes the request as soon as the connection is up. The stamp is taken
 * *before* send(): on loopback the server is woken by the send and often
 * preempts us on the same core, so a stamp taken after it (or in libevent's
 * write callback) can land after the response has arrived and make TTFE read
 * a few microseconds. Whatever send() cannot take goes to the output buffer
 * by reference and sl_on_write stamps when it drains. */
static void sl_send_request(struct sl_stream *st)
{
    struct sl_run *run = st->run;
    uint64_t t = sl_now();
    ssize_t k = send(bufferevent_getfd(st->bev), run->req, run->req_len, MSG_NOSIGNAL);
    st->req_sent = 1;
    if (k == (ssize_t)run->req_len) {
        st->t_written = t;
        return;
    }
    if (k < 0)
        k = 0;  /* EAGAIN or a real error: libevent retries and reports it */
    evbuffer_add_reference(bufferevent_get_output(st->bev), run->req + k, run->req_len - (size_t)k, NULL, NULL);
}

/* Event callback: connected, EOF or error. EOF ends a close-delimited body
 * normally; anywhere else EOF or an error ends the stream as a failure. */
static void sl_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sl_stream *st = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        sl_send_request(st);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (st->phase != SL_PH_BODY)
        sl_stream_end(st, SL_FAIL_CONN);
    else if ((what & BEV_EVENT_EOF) && st->body == SL_BODY_CLOSE)
        sl_stream_end(st, st->got_done ? SL_OK : SL_FAIL_NO_DONE);
    else
        sl_stream_end(st, st->got_done ? SL_FAIL_CONN : SL_FAIL_NO_DONE);
}

/* ---- opening streams ---------------------------------------------------- */

static void sl_stream_start(struct sl_run *run)
{
    long idx = run->free_slots[--run->nfree];
    struct sl_stream *st = &run->slots[idx];
    memset(st, 0, sizeof *st);
    st->run = run;
    st->t_start = sl_now();
    st->first_wave = run->started < run->conc;
    run->started++;
    run->open++;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "sseload: socket: %s\n", strerror(errno));
        sl_stream_end(st, SL_FAIL_CONN);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    st->bev = bufferevent_socket_new(run->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!st->bev) {
        close(fd);
        sl_stream_end(st, SL_FAIL_CONN);
        return;
    }
    bufferevent_setcb(st->bev, sl_on_read, sl_on_write, sl_on_event, st);
    bufferevent_enable(st->bev, EV_READ | EV_WRITE);
    /* On failure libevent has already run the event callback (ERROR), which
     * ended the stream; only a synchronous failure before that needs us. */
    if (bufferevent_socket_connect(st->bev, (struct sockaddr *)&run->addr, sizeof run->addr) < 0 && st->bev)
        sl_stream_end(st, SL_FAIL_CONN);
}

/* Pump timer: opens streams until CONCURRENCY are open (or the ramp's share
 * so far), at most SL_BATCH per loop turn, and re-arms itself while there is
 * more to open. Armed with a zero timeout by every stream that ends. */
static void sl_on_pump(evutil_socket_t fd, short what, void *arg)
{
    struct sl_run *run = arg;
    (void)fd;
    (void)what;
    long target = run->conc;
    int ramping = 0;
    if (run->ramp_ms > 0 && run->started < run->conc) {
        double el = (double)(sl_now() - run->t0) / 1e6;
        if (el < (double)run->ramp_ms) {
            ramping = 1;
            long t = (long)((double)run->conc * el / (double)run->ramp_ms) + 1;
            if (t < target)
                target = t;
        }
    }
    /* During the ramp `target` counts first-wave streams started, not open. */
    long batch = 0;
    while (run->started < run->total && run->nfree > 0 && batch < SL_BATCH &&
           (ramping ? run->started < target : run->open < target)) {
        sl_stream_start(run);
        batch++;
    }
    if (run->started >= run->total)
        return;
    if (ramping) {
        long step_us = run->ramp_ms * 1000 / run->conc;
        struct timeval tv = {0, step_us < 1000 ? 1000 : (step_us > 100000 ? 100000 : step_us)};
        evtimer_add(run->pump_ev, &tv);
    } else if (batch == SL_BATCH && run->nfree > 0) {
        sl_pump_soon(run);
    }
}

/* Sweep timer (persistent, every SL_SWEEP_MS): ends streams past their
 * deadline. One scan of the slots beats one timer event per stream. */
static void sl_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct sl_run *run = arg;
    (void)fd;
    (void)what;
    uint64_t now = sl_now(), limit = (uint64_t)run->timeout_s * 1000000000u;
    for (long i = 0; i < run->conc; i++) {
        struct sl_stream *st = &run->slots[i];
        if (st->bev && now - st->t_start > limit)
            sl_stream_end(st, SL_FAIL_TIMEOUT);
    }
}

/* SIGINT/SIGTERM: stop early; the summary still covers what finished. */
static void sl_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct sl_run *run = arg;
    (void)what;
    fprintf(stderr, "sseload: signal %d, stopping\n", (int)sig);
    run->interrupted = 1;
    run->t_end = sl_now();
    event_base_loopbreak(run->base);
}

/* ---- set-up and report -------------------------------------------------- */

static void sl_usage(void)
{
    fprintf(stderr,
            "usage: sseload -u http://HOST:PORT/path -c CONCURRENCY -n TOTAL\n"
            "               [-b BODY_JSON | -B BODYFILE] [-H 'Name: value']...\n"
            "               [-p PACE_MS] [-r RAMP_MS] [-t TIMEOUT_S] [-k HOLD_FILE]\n");
    exit(2);
}

static long sl_num(const char *s, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        fprintf(stderr, "sseload: bad number '%s'\n", s);
        sl_usage();
    }
    return v;
}

/* Splits http://HOST[:PORT][/path]; returns the path (pointing into url). */
static const char *sl_parse_url(const char *url, struct sockaddr_in *sa, char *hostport, size_t hp_len)
{
    if (strncmp(url, "http://", 7) != 0)
        return NULL;
    const char *h = url + 7, *path = strchr(h, '/');
    size_t hlen = path ? (size_t)(path - h) : strlen(h);
    if (hlen == 0 || hlen >= hp_len)
        return NULL;
    memcpy(hostport, h, hlen);
    hostport[hlen] = '\0';
    char host[64];
    long port = 80;
    const char *colon = memchr(h, ':', hlen);
    size_t nlen = colon ? (size_t)(colon - h) : hlen;
    if (nlen == 0 || nlen >= sizeof host)
        return NULL;
    memcpy(host, h, nlen);
    host[nlen] = '\0';
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (end != h + hlen || port < 1 || port > 65535)
            return NULL;
    }
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return NULL;
    return path ? path : "/";
}

static char *sl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, k;
    char *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int sl_has_header(char **hdrs, int nh, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < nh; i++) {
        if (strncasecmp(hdrs[i], name, len) == 0 && hdrs[i][len] == ':')
            return 1;
    }
    return 0;
}

static int sl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile over sorted samples. */
static double sl_pct(const struct sl_samples *s, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    return s->v[rank ? rank - 1 : 0];
}

static void sl_print_dist(const char *name, struct sl_samples *s)
{
    if (s->n == 0) {
        printf(",\"%s\":{\"p50\":null,\"p99\":null,\"max\":null}", name);
        return;
    }
    qsort(s->v, s->n, sizeof *s->v, sl_cmp);
    printf(",\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", name, sl_pct(s, 50), sl_pct(s, 99),
           s->v[s->n - 1]);
}

int main(int argc, char **argv)
{
    static struct sl_run run;
    const char *url = NULL, *body = NULL, *body_file = NULL;
    char **hdrs = calloc((size_t)argc, sizeof *hdrs);
    int nh = 0, opt;
    run.timeout_s = 60;
    run.conc = run.total = -1;
    while ((opt = getopt(argc, argv, "u:c:n:b:B:H:p:r:t:k:h")) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'c': run.conc = sl_num(optarg, 1); break;
        case 'n': run.total = sl_num(optarg, 1); break;
        case 'b': body = optarg; break;
        case 'B': body_file = optarg; break;
        case 'H':
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "sseload: header '%s' has no ':'\n", optarg);
                sl_usage();
            }
            hdrs[nh++] = optarg;
            break;
        case 'p': run.pace_ms = sl_num(optarg, 1); break;
        case 'r': run.ramp_ms = sl_num(optarg, 0); break;
        case 't': run.timeout_s = sl_num(optarg, 1); break;
        case 'k': run.hold_file = optarg; break;
        default: sl_usage();
        }
    }
    if (!url || run.conc < 1 || run.total < 1 || optind != argc || (body && body_file))
        sl_usage();
    char hostport[256];
    const char *path = sl_parse_url(url, &run.addr, hostport, sizeof hostport);
    if (!path) {
        fprintf(stderr, "sseload: URL must be http://IPV4-OR-localhost[:PORT][/path]: %s\n", url);
        sl_usage();
    }
    size_t body_len;
    char *file_body = NULL;
    if (body_file) {
        if (!(file_body = sl_read_file(body_file, &body_len))) {
            fprintf(stderr, "sseload: cannot read %s: %s\n", body_file, strerror(errno));
            return 2;
        }
        body = file_body;
    } else {
        if (!body)
            body = SL_DEFAULT_BODY;
        body_len = strlen(body);
    }
    if (run.conc > run.total)
        run.conc = run.total;

    /* The whole request once, shared by every stream (see sl_send_request). */
    struct evbuffer *rb = evbuffer_new();
    evbuffer_add_printf(rb, "POST %s HTTP/1.1\r\n", path);
    if (!sl_has_header(hdrs, nh, "host"))
        evbuffer_add_printf(rb, "Host: %s\r\n", hostport);
    if (!sl_has_header(hdrs, nh, "content-type"))
        evbuffer_add_printf(rb, "Content-Type: application/json\r\n");
    if (!sl_has_header(hdrs, nh, "accept"))
        evbuffer_add_printf(rb, "Accept: text/event-stream\r\n");
    for (int i = 0; i < nh; i++)
        evbuffer_add_printf(rb, "%s\r\n", hdrs[i]);
    evbuffer_add_printf(rb, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
    evbuffer_add(rb, body, body_len);
    run.req_len = evbuffer_get_length(rb);
    run.req = malloc(run.req_len);
    evbuffer_remove(rb, run.req, run.req_len);
    evbuffer_free(rb);
    free(file_body);
    free(hdrs);

    /* One fd per stream plus libevent's own and stdio: ask for the hard
     * limit and say so when it is still too low. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "sseload: setrlimit(NOFILE): %s\n", strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)run.conc + 32 > rl.rlim_cur)
            fprintf(stderr, "sseload: warning: open-file limit %llu is below -c %ld plus slack\n",
                    (unsigned long long)rl.rlim_cur, run.conc);
    }
    signal(SIGPIPE, SIG_IGN);

    run.slots = calloc((size_t)run.conc, sizeof *run.slots);
    run.free_slots = malloc((size_t)run.conc * sizeof *run.free_slots);
    run.base = event_base_new();
    if (!run.slots || !run.free_slots || !run.base || !run.req) {
        fprintf(stderr, "sseload: cannot allocate for %ld streams\n", run.conc);
        return 1;
    }
    for (long i = run.conc - 1; i >= 0; i--)
        run.free_slots[run.nfree++] = i;
    run.wave_pending = run.conc;
    run.pump_ev = evtimer_new(run.base, sl_on_pump, &run);
    run.sweep_ev = event_new(run.base, -1, EV_PERSIST, sl_on_sweep, &run);
    run.sig_int = evsignal_new(run.base, SIGINT, sl_on_signal, &run);
    run.sig_term = evsignal_new(run.base, SIGTERM, sl_on_signal, &run);
    struct timeval sweep = {0, SL_SWEEP_MS * 1000};
    evtimer_add(run.sweep_ev, &sweep);
    evsignal_add(run.sig_int, NULL);
    evsignal_add(run.sig_term, NULL);

    run.t0 = sl_now();
    sl_on_pump(-1, 0, &run);
    event_base_dispatch(run.base);
    if (!run.t_end)
        run.t_end = sl_now();
    sl_hold_write(run.hold_file, "done");

    long failed = run.outcomes[SL_FAIL_STATUS] + run.outcomes[SL_FAIL_CONN] +
                  run.outcomes[SL_FAIL_TIMEOUT] + run.outcomes[SL_FAIL_NO_DONE];
    printf("{\"streams\":%ld,\"ok\":%ld,\"failed\":%ld,"
           "\"fail_reasons\":{\"status\":%ld,\"conn\":%ld,\"timeout\":%ld,\"no_done\":%ld},"
           "\"events\":%llu",
           run.ended, run.outcomes[SL_OK], failed, run.outcomes[SL_FAIL_STATUS], run.outcomes[SL_FAIL_CONN],
           run.outcomes[SL_FAIL_TIMEOUT], run.outcomes[SL_FAIL_NO_DONE], (unsigned long long)run.events);
    sl_print_dist("ttfe_ms", &run.ttfe);
    if (run.pace_ms > 0) {
        sl_print_dist("gap_err_ms", &run.gap_err);
        printf(",\"stalled\":%llu", (unsigned long long)run.stalled);
    }
    printf(",\"elapsed_s\":%.3f", (double)(run.t_end - run.t0) / 1e9);
    if (run.interrupted)
        printf(",\"interrupted\":true");
    printf("}\n");

    /* Streams still open after an interrupt: free their bufferevents. */
    for (long i = 0; i < run.conc; i++) {
        if (run.slots[i].bev)
            bufferevent_free(run.slots[i].bev);
    }
    event_free(run.pump_ev);
    event_free(run.sweep_ev);
    event_free(run.sig_int);
    event_free(run.sig_term);
    event_base_free(run.base);
    free(run.slots);
    free(run.free_slots);
    free(run.req);
    free(run.ttfe.v);
    free(run.gap_err.v);
    return 0;
}
