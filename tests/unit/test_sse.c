/* test_sse.c - the SSE decoder against fixed fixtures, sliced every way.
 *
 * Every fixture is fed whole, split in two at every byte offset, byte by
 * byte, and in three pieces of random length (fixed seed, so a failure
 * repeats); each way must produce exactly the same log of callbacks. Each
 * piece is copied into its own exact-size heap block and freed right after
 * sse_feed returns, so under ASan a read past a slice or a pointer kept into
 * one is caught. One decoder serves every run of a fixture through sse_reset,
 * which tests reset after success, SSE_STOPPED and SSE_TOO_LARGE alike.
 */
#include "sse.h"
#include "t.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Big enough for the longest fixture's log; overflow is reported, not hidden. */
#define LOG_CAP 32768

typedef struct rec {
    char   log[LOG_CAP];
    size_t len;
    int    overflow;
    int    events, comments;
    int    stop_event;     /* return non-zero from the n-th event (0 = never) */
    int    stop_comment;   /* same for comments */
} rec_t;

static void put(rec_t *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        size_t tn;
        if (c == '\n')
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\n");
        else if (c == '\r')
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\r");
        else if (c < 0x20 || c >= 0x7f || c == '\\')
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", c);
        else
            tmp[0] = (char)c, tn = 1;
        if (r->len + tn >= LOG_CAP) {
            r->overflow = 1;
            return;
        }
        memcpy(r->log + r->len, tmp, tn);
        r->len += tn;
        r->log[r->len] = '\0';
    }
}

static void puts_raw(rec_t *r, const char *s)
{
    size_t n = strlen(s);
    if (r->len + n >= LOG_CAP) {
        r->overflow = 1;
        return;
    }
    memcpy(r->log + r->len, s, n + 1);
    r->len += n;
}

static int on_event(const sse_event_t *ev, void *arg)
{
    rec_t *r = arg;
    char num[32];
    /* Pointers must be usable even when empty. */
    if (!ev->event || !ev->data || !ev->id)
        puts_raw(r, "NULL-POINTER!");
    puts_raw(r, "E|");
    put(r, ev->event, ev->event_len);
    puts_raw(r, "|");
    put(r, ev->data, ev->data_len);
    puts_raw(r, "|");
    put(r, ev->id, ev->id_len);
    snprintf(num, sizeof num, "|%ld\n", ev->retry_ms);
    puts_raw(r, num);
    return ++r->events == r->stop_event;
}

static int on_comment(const char *text, size_t len, void *arg)
{
    rec_t *r = arg;
    puts_raw(r, "C|");
    put(r, text, len);
    puts_raw(r, "\n");
    return ++r->comments == r->stop_comment;
}

typedef struct fixture {
    const char *name;
    const char *data;
    size_t      len;
    size_t      max_pending;   /* 0 = no cap */
    int         stop_event, stop_comment;
    const char *expect;
} fixture_t;

/* sizeof, not strlen: some fixtures carry a NUL byte. */
#define FX(name, data, max, stop_ev, stop_com, expect) \
    { name, data, sizeof(data) - 1, max, stop_ev, stop_com, expect }

#define X10  "xxxxxxxxxx"
#define X30  X10 X10 X10
#define X50  X10 X10 X10 X10 X10
#define X100 X50 X50

#define OAI1 "{\"id\":\"c1\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}"
#define OAI2 "{\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}"
#define OAI3 "{\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}"
#define OPENAI_STREAM "data: " OAI1 "\n\ndata: " OAI2 "\n\ndata: " OAI3 "\n\ndata: [DONE]\n\n"

#define ANT1 "{\"type\":\"message_start\"}"
#define ANT2 "{\"type\": \"ping\"}"
#define ANT3 "{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}"
#define ANT4 "{\"type\":\"message_stop\"}"

static const fixture_t fixtures[] = {
    FX("openai chat stream", OPENAI_STREAM, 0, 0, 0,
       "E||" OAI1 "||-1\nE||" OAI2 "||-1\nE||" OAI3 "||-1\nE||[DONE]||-1\nrc=0\n"),
    FX("openai, callback stops at the 2nd event", OPENAI_STREAM, 0, 2, 0,
       "E||" OAI1 "||-1\nE||" OAI2 "||-1\nrc=1\n"),
    FX("anthropic named events with ping",
       "event: message_start\ndata: " ANT1 "\n\n"
       "event: ping\ndata: " ANT2 "\n\n"
       "event: content_block_delta\ndata: " ANT3 "\n\n"
       "event: message_stop\ndata: " ANT4 "\n\n", 0, 0, 0,
       "E|message_start|" ANT1 "||-1\nE|ping|" ANT2 "||-1\n"
       "E|content_block_delta|" ANT3 "||-1\nE|message_stop|" ANT4 "||-1\nrc=0\n"),
    FX("LF", "data: a\n\ndata: b\n\n", 0, 0, 0, "E||a||-1\nE||b||-1\nrc=0\n"),
    FX("CRLF (gemini framing)", "event: e\r\ndata: a\r\n\r\ndata: {\"candidates\":[]}\r\n\r\n",
       0, 0, 0, "E|e|a||-1\nE||{\"candidates\":[]}||-1\nrc=0\n"),
    FX("CR", "event: e\rdata: a\r\rdata: b\r\r", 0, 0, 0, "E|e|a||-1\nE||b||-1\nrc=0\n"),
    FX("mixed line ends",
       "event: x\r\ndata: 1\rdata: 2\n\r\n"   /* CRLF, CR, LF, then CRLF blank */
       "data: 3\r\n\n"                        /* CRLF then LF blank */
       "data: 4\r\r\n"                        /* CR then CRLF blank */
       "data: 5\n\r", 0, 0, 0,                /* LF then CR blank */
       "E|x|1\\n2||-1\nE||3||-1\nE||4||-1\nE||5||-1\nrc=0\n"),
    FX("leading BOM stripped once, a later one is line content",
       "\xEF\xBB\xBF: hi\ndata: a\n\n" "\xEF\xBB\xBF" "data: b\n\ndata: c\n\n", 0, 0, 0,
       "C|hi\nE||a||-1\nE||c||-1\nrc=0\n"),
    FX("two leading BOMs: the second is content",
       "\xEF\xBB\xBF\xEF\xBB\xBF" "data: z\n\ndata: w\n\n", 0, 0, 0, "E||w||-1\nrc=0\n"),
    FX("BOM prefix that is not a BOM (2 bytes)", "\xEF\xBB" "data: x\n\ndata: y\n\n", 0, 0, 0,
       "E||y||-1\nrc=0\n"),
    FX("BOM prefix that is not a BOM (1 byte)", "\xEF" "data: v\n\ndata: u\n\n", 0, 0, 0,
       "E||u||-1\nrc=0\n"),
    FX("BOM then blank line", "\xEF\xBB\xBF\ndata: q\n\n", 0, 0, 0, "E||q||-1\nrc=0\n"),
    FX("BOM alone", "\xEF\xBB\xBF", 0, 0, 0, "rc=0\n"),
    FX("comment keep-alives",
       ": keep-alive\n\n: OPENROUTER PROCESSING\n\ndata: {}\n\n"
       ":no-space\n:  two\n:\n\ndata: a\n: ka\ndata: b\n\n", 0, 0, 0,
       "C|keep-alive\nC|OPENROUTER PROCESSING\nE||{}||-1\nC|no-space\nC| two\nC|\n"
       "C|ka\nE||a\\nb||-1\nrc=0\n"),
    FX("comment callback stops", ": a\n: b\ndata: x\n\n", 0, 0, 1, "C|a\nrc=1\n"),
    FX("multi-line data",
       "data: line1\ndata: line2\ndata:\ndata\ndata: end\n\ndata\n\ndata:\n\n", 0, 0, 0,
       "E||line1\\nline2\\n\\n\\nend||-1\nE||||-1\nE||||-1\nrc=0\n"),
    FX("one optional space after the colon",
       "data:x\n\ndata:  x\n\ndata: \n\nevent:a b\ndata: 1\n\ndata:x:y\n\n", 0, 0, 0,
       "E||x||-1\nE|| x||-1\nE||||-1\nE|a b|1||-1\nE||x:y||-1\nrc=0\n"),
    FX("field without colon; unknown and wrong-case fields ignored",
       "event: set\nevent\ndata: q\n\nfoo\nbar: baz\nDATA: upper\nData: up\ndata: r\n\n",
       0, 0, 0, "E||q||-1\nE||r||-1\nrc=0\n"),
    FX("event (and retry) without data fires nothing and is forgotten",
       "event: lonely\n\ndata: after\n\nevent: x\nid: 7\n\ndata: y\n\n"
       "event: a\nretry: 5\n\ndata: z\n\n", 0, 0, 0,
       "E||after||-1\nE||y|7|-1\nE||z|7|-1\nrc=0\n"),
    FX("id and retry fields",
       "id: 1\ndata: a\n\n"
       "data: b\n\n"                           /* id persists */
       "id\ndata: c\n\n"                       /* no colon: id set to "" */
       "id: bad\0id\ndata: d\n\n"              /* NUL: ignored */
       "retry: 3000\ndata: e\n\n"
       "retry: 30x\ndata: f\n\n"               /* not all digits */
       "retry: -5\nretry:\nretry: 12 \ndata: g\n\n"
       "id: 42\n\ndata: h\n\n"                 /* id set by an event never fired */
       "id:  sp\nretry:0\ndata: i\n\n", 0, 0, 0,
       "E||a|1|-1\nE||b|1|-1\nE||c||-1\nE||d||-1\nE||e||3000\nE||f||-1\nE||g||-1\n"
       "E||h|42|-1\nE||i| sp|0\nrc=0\n"),
    FX("trailing event without blank line (LF)", "data: done\n\ndata: partial\n", 0, 0, 0,
       "E||done||-1\nrc=0\n"),
    FX("trailing event without blank line (CR)", "data: done\n\ndata: partial\r", 0, 0, 0,
       "E||done||-1\nrc=0\n"),
    FX("trailing event without line end", "data: done\n\nevent: e\ndata: partial", 0, 0, 0,
       "E||done||-1\nrc=0\n"),
    /* max_pending = 64 from here: a cap small enough to hit with short lines. */
    FX("100-byte data line over a 64-byte cap",
       "data: ok\n\ndata: " X100 "\n\ndata: never\n\n", 64, 0, 0, "E||ok||-1\nrc=-1\n"),
    FX("100-byte comment over a 64-byte cap", "data: ok\n\n: " X100 "\n\n", 64, 0, 0,
       "E||ok||-1\nrc=-1\n"),
    FX("unterminated 100-byte remainder over a 64-byte cap", "data: ok\n\ndata: " X100,
       64, 0, 0, "E||ok||-1\nrc=-1\n"),
    FX("line of exactly the cap", "data: " X50 "xxxxxxxx\n\n", 64, 0, 0,
       "E||" X50 "xxxxxxxx||-1\nrc=0\n"),
    FX("line one byte over the cap", "data: " X50 "xxxxxxxxx\n\n", 64, 0, 0, "rc=-1\n"),
    FX("data lines accumulate against the cap", "data: " X30 "\ndata: " X30 "\n\n",
       64, 0, 0, "rc=-1\n"),
    FX("event type counts against the cap (fits)", "event: " X50 "\ndata: abcdefg\n\n",
       64, 0, 0, "E|" X50 "|abcdefg||-1\nrc=0\n"),
    FX("event type counts against the cap (over)", "event: " X50 "\ndata: abcdefghi\n\n",
       64, 0, 0, "rc=-1\n"),
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;   /* any fixed non-zero seed */

static uint64_t rng(void)   /* xorshift64: repeatable across runs and libcs */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Feeds fx cut at the given offsets (ascending, each in [0, len]); returns
 * the log, which ends with the first non-OK return code (or 0). */
static const char *run(sse_decoder_t *d, const char *data, size_t len, const fixture_t *fx,
                       const size_t *cuts, size_t ncuts)
{
    static rec_t r;
    memset(&r, 0, sizeof r);
    r.stop_event = fx->stop_event;
    r.stop_comment = fx->stop_comment;
    sse_reset(d);
    size_t start = 0;
    int rc = SSE_OK;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t stop = i < ncuts ? cuts[i] : len;
        size_t n = stop - start;
        char *piece = malloc(n ? n : 1);
        if (n)
            memcpy(piece, data + start, n);
        rc = sse_feed(d, piece, n, on_event, on_comment, &r);
        free(piece);
        start = stop;
        if (rc != SSE_OK)
            break;
    }
    char tail[32];
    snprintf(tail, sizeof tail, "rc=%d\n", rc);
    puts_raw(&r, tail);
    if (r.overflow)
        puts_raw(&r, "LOG OVERFLOW\n");
    return r.log;
}

/* Reports the slicing only on failure, then counts through T_EQ_STR. */
static void check(const char *name, const char *how, size_t a, size_t b,
                  const char *got, const char *expect)
{
    if (strcmp(got, expect) != 0)
        fprintf(stderr, "fixture \"%s\" fed %s (%zu, %zu):\n", name, how, a, b);
    T_EQ_STR(got, expect);
}

/* Random three-piece cuts per fixture: enough to mix empty, tiny and long pieces. */
#define RANDOM_TRIALS 200

static void run_fixture(const fixture_t *fx, const char *data, size_t len)
{
    sse_decoder_t d;
    size_t cut[2];
    sse_init(&d, fx->max_pending);

    check(fx->name, "whole", 0, 0, run(&d, data, len, fx, NULL, 0), fx->expect);
    for (size_t i = 0; i <= len; i++) {
        cut[0] = i;
        check(fx->name, "split at", i, 0, run(&d, data, len, fx, cut, 1), fx->expect);
    }
    size_t *bytes = malloc((len ? len : 1) * sizeof *bytes);
    for (size_t i = 0; i + 1 < len; i++)
        bytes[i] = i + 1;
    check(fx->name, "byte by byte", 0, 0,
          run(&d, data, len, fx, bytes, len ? len - 1 : 0), fx->expect);
    free(bytes);
    for (int t = 0; t < RANDOM_TRIALS; t++) {
        size_t a = (size_t)(rng() % (len + 1)), b = (size_t)(rng() % (len + 1));
        cut[0] = a < b ? a : b;
        cut[1] = a < b ? b : a;
        check(fx->name, "in 3 pieces cut at", cut[0], cut[1],
              run(&d, data, len, fx, cut, 2), fx->expect);
    }
    sse_free(&d);
}

/* A fixture built at run time: events large enough to grow every buffer
 * several times over, so growth itself is sliced at every offset. */
static void test_large_events(void)
{
    enum { BIG = 3000 };   /* > several doublings of the 256-byte first allocation */
    static char in[BIG * 2], out[BIG * 3];
    size_t n = 0, m = 0;
    n += (size_t)sprintf(in + n, "event: big\ndata: ");
    for (int i = 0; i < BIG; i++)
        in[n++] = (char)('a' + i % 26);
    n += (size_t)sprintf(in + n, "\ndata: tail\n\ndata: small\n\n");
    m += (size_t)sprintf(out + m, "E|big|");
    for (int i = 0; i < BIG; i++)
        out[m++] = (char)('a' + i % 26);
    m += (size_t)sprintf(out + m, "\\ntail||-1\nE||small||-1\nrc=0\n");
    fixture_t fx = { "large events", in, n, 0, 0, 0, out };
    run_fixture(&fx, in, n);
}

static const char *feed_str(sse_decoder_t *d, const char *s, int *rc)
{
    static rec_t r;
    memset(&r, 0, sizeof r);
    *rc = sse_feed(d, s, strlen(s), on_event, on_comment, &r);
    return r.log;
}

static void test_reset_and_errors(void)
{
    sse_decoder_t d;
    int rc;

    sse_init(&d, 64);
    /* A half-built event (type, data, partial line, id) is forgotten by reset. */
    feed_str(&d, "id: 9\nevent: x\ndata: part\ndata: mo", &rc);
    T_EQ_INT(rc, SSE_OK);
    T_EQ_INT(sse_pending(&d), 1 + 5 + 8);   /* event "x", data "part\n", line "data: mo" */
    sse_reset(&d);
    T_EQ_INT(sse_pending(&d), 0);
    T_EQ_STR(feed_str(&d, "data: y\n\n", &rc), "E||y||-1\n");

    /* Errors are sticky until reset; reset also re-arms BOM stripping. */
    T_EQ_STR(feed_str(&d, "data: " X100 "\n\n", &rc), "");
    T_EQ_INT(rc, SSE_TOO_LARGE);
    feed_str(&d, "data: z\n\n", &rc);
    T_EQ_INT(rc, SSE_TOO_LARGE);
    sse_reset(&d);
    T_EQ_STR(feed_str(&d, "\xEF\xBB\xBF" "data: z\n\n", &rc), "E||z||-1\n");
    T_EQ_INT(rc, SSE_OK);

    /* After SSE_STOPPED the rest of that slice is dropped, the decoder goes on. */
    sse_reset(&d);
    static rec_t r;
    memset(&r, 0, sizeof r);
    r.stop_event = 1;
    rc = sse_feed(&d, "data: 1\n\ndata: 2\n\n", 18, on_event, on_comment, &r);
    T_EQ_INT(rc, SSE_STOPPED);
    T_EQ_STR(r.log, "E||1||-1\n");
    T_EQ_STR(feed_str(&d, "data: 3\n\n", &rc), "E||3||-1\n");
    T_EQ_INT(rc, SSE_OK);

    /* A data line stopped mid-event by a comment callback must survive the
     * slice it was read from (it is in place until the slice ends). */
    sse_reset(&d);
    memset(&r, 0, sizeof r);
    r.stop_comment = 1;
    char *slice = strdup("data: kept\n: stop\nignored");
    rc = sse_feed(&d, slice, strlen(slice), on_event, on_comment, &r);
    free(slice);
    T_EQ_INT(rc, SSE_STOPPED);
    T_EQ_STR(feed_str(&d, "\n", &rc), "E||kept||-1\n");

    /* No on_comment: comments are skipped silently. */
    sse_reset(&d);
    memset(&r, 0, sizeof r);
    rc = sse_feed(&d, ": c\ndata: 4\n\n", 13, on_event, NULL, &r);
    T_EQ_INT(rc, SSE_OK);
    T_EQ_STR(r.log, "E||4||-1\n");
    sse_free(&d);
}

static void test_retry_state(void)
{
    sse_decoder_t d;
    int rc;
    char want[64];

    sse_init(&d, 0);
    T_EQ_INT(d.reconnect_ms, -1);
    feed_str(&d, "retry: 2500\n\n", &rc);      /* no data: no event, still applies */
    T_EQ_INT(d.reconnect_ms, 2500);
    feed_str(&d, "retry: 1x\ndata: a\n\n", &rc);
    T_EQ_INT(d.reconnect_ms, 2500);
    snprintf(want, sizeof want, "E||a||%ld\n", LONG_MAX);   /* saturates, no wrap */
    T_EQ_STR(feed_str(&d, "retry: 99999999999999999999999\ndata: a\n\n", &rc), want);
    sse_free(&d);
}

/* "No allocation per event in steady state": once the buffers have grown,
 * more events of the same size leave every buffer where it was. */
static void test_steady_state(void)
{
    sse_decoder_t d;
    int rc;
    sse_init(&d, 0);
    for (int i = 0; i < 3; i++) {
        feed_str(&d, "event: e\nid: 1\ndata: x\ndata: y\n\ndata: partial-li", &rc);
        feed_str(&d, "ne\n\n", &rc);
    }
    char *line = d.line, *data = d.data, *event = d.event, *id = d.id;
    size_t caps = d.line_cap + d.data_cap + d.event_cap + d.id_cap;
    for (int i = 0; i < 1000; i++) {
        feed_str(&d, "event: e\nid: 1\ndata: x\ndata: y\n\ndata: partial-li", &rc);
        feed_str(&d, "ne\n\n", &rc);
    }
    T_CHECK(line == d.line && data == d.data && event == d.event && id == d.id);
    T_EQ_INT(d.line_cap + d.data_cap + d.event_cap + d.id_cap, caps);
    sse_free(&d);
}

int main(void)
{
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
        run_fixture(&fixtures[i], fixtures[i].data, fixtures[i].len);
    test_large_events();
    test_reset_and_errors();
    test_retry_state();
    test_steady_state();
    return T_SUMMARY();
}
