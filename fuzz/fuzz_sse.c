/* fuzz_sse.c - libFuzzer target for runtime/sse.c.
 *
 * Input layout: byte 0 picks the cap (max_pending), bytes 1..3 seed the
 * slicing and the stop point, the rest is the stream. Every input is decoded
 * five ways and the runs must agree:
 *   A. whole, in one sse_feed;
 *   B. in pieces cut at offsets drawn from the seed (empty pieces included);
 *   C. byte by byte (short streams only: the cost is one call per byte);
 *   D. after sse_reset on the decoder of A, whole again (reset keeps buffers
 *      and must forget everything else);
 *   E. whole, with the event callback stopping at event k: what it saw must be
 *      a prefix of A's events.
 * "Agree" means the same hash over the sequence of events and comments, the
 * same final return code and, when no error, the same bytes pending.
 * Per event: lengths consistent with the bytes (ASan checks every byte is
 * readable: the hash reads them all), no line break in any field, no NUL in
 * the id, retry -1 or >= 0, nothing pending above the cap.
 */
#include "sse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_sse: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

typedef struct rec {
    uint64_t hash;      /* FNV-1a over every event and comment, in order */
    size_t   events;
    size_t   stop_at;   /* stop (return 1) at this event number, 0 = never */
    size_t   cap;       /* the decoder's max_pending (SIZE_MAX when none) */
} rec_t;

static void mix(rec_t *r, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        r->hash ^= b[i];
        r->hash *= 0x100000001b3ull;
    }
}

static void mix_field(rec_t *r, char tag, const char *s, size_t n)
{
    mix(r, &tag, 1);
    mix(r, &n, sizeof n);
    if (n) mix(r, s, n);
}

static void check_text(const char *what, const char *s, size_t n, int allow_nul)
{
    if (n && !s) FAIL("%s: NULL pointer with length %zu", what, n);
    if (n && (memchr(s, '\n', n) || memchr(s, '\r', n))) FAIL("%s: line break inside", what);
    if (!allow_nul && n && memchr(s, '\0', n)) FAIL("%s: NUL inside", what);
}

static int on_event(const sse_event_t *ev, void *arg)
{
    rec_t *r = arg;
    if (!ev->event || !ev->data || !ev->id) FAIL("event with a NULL field pointer");
    check_text("event type", ev->event, ev->event_len, 1);
    check_text("id", ev->id, ev->id_len, 0);
    if (ev->data_len && memchr(ev->data, '\r', ev->data_len)) FAIL("CR inside data");
    if (ev->retry_ms < -1) FAIL("retry_ms %ld", ev->retry_ms);
    /* A dispatched event's data and type were held under the cap (the
     * in-place line counts as if copied, plus its '\n'). */
    if (r->cap != SIZE_MAX && ev->data_len + 1 + ev->event_len > r->cap)
        FAIL("event of %zu+%zu bytes under a cap of %zu", ev->data_len, ev->event_len, r->cap);
    mix_field(r, 'E', ev->event, ev->event_len);
    mix_field(r, 'D', ev->data, ev->data_len);
    mix_field(r, 'I', ev->id, ev->id_len);
    mix(r, &ev->retry_ms, sizeof ev->retry_ms);
    r->events++;
    return r->stop_at && r->events == r->stop_at;
}

static int on_comment(const char *text, size_t len, void *arg)
{
    rec_t *r = arg;
    check_text("comment", text, len, 1);
    mix_field(r, 'C', text, len);
    return 0;
}

static void check_pending(const sse_decoder_t *d, size_t cap, int rc)
{
    if (rc < 0) return;
    size_t p = sse_pending(d);
    /* Up to two bytes of a possible BOM are held before the cap can judge
     * them (they may still vanish as a BOM). */
    if (p > cap && !(!d->bom_checked && p <= 2))
        FAIL("sse_pending %zu above max_pending %zu", p, cap);
}

typedef struct outcome {
    uint64_t hash;
    size_t   events;
    int      rc;
    size_t   pending;
} outcome_t;

static outcome_t finish(const sse_decoder_t *d, const rec_t *r, int rc)
{
    outcome_t o = { r->hash, r->events, rc, rc < 0 ? 0 : sse_pending(d) };
    return o;
}

static void same(const char *how, outcome_t a, outcome_t b)
{
    if (a.rc != b.rc) FAIL("%s: rc %d, whole gave %d", how, b.rc, a.rc);
    if (a.events != b.events) FAIL("%s: %zu events, whole gave %zu", how, b.events, a.events);
    if (a.hash != b.hash) FAIL("%s: different events than whole", how);
    if (a.pending != b.pending) FAIL("%s: %zu bytes pending, whole left %zu", how, b.pending, a.pending);
}

static uint64_t rng_next(uint64_t *s)   /* xorshift64 */
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

/* Feeds in pieces; keeps going while SSE_OK (an error sticks: keep feeding
 * to check that it does). */
static int feed_all(sse_decoder_t *d, rec_t *r, const char *buf, size_t len,
                    const size_t *cuts, size_t ncuts)
{
    int rc = SSE_OK;
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        int prev = rc;
        rc = sse_feed(d, buf + at, to - at, on_event, on_comment, r);
        if (prev < 0 && rc != prev) FAIL("error %d not sticky (then %d)", prev, rc);
        if (rc == SSE_STOPPED) FAIL("stopped without a stop point");
        check_pending(d, r->cap, rc);
        at = to;
    }
    return rc;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 4) return 0;
    size_t cap;
    switch (in[0] >> 6) {
    case 0:  cap = 0; break;                         /* no cap */
    case 1:  cap = 1 + (in[0] & 63); break;          /* tiny: every line hits it */
    case 2:  cap = 16 + (size_t)(in[0] & 63) * 8; break;
    default: cap = 512 + (size_t)(in[0] & 63) * 64; break;
    }
    uint64_t seed = ((uint64_t)in[1] << 16 | (uint64_t)in[2] << 8 | in[3]) * 0x9E3779B97F4A7C15ull + 1;
    const char *buf = (const char *)in + 4;
    size_t len = size - 4;
    size_t eff_cap = cap ? cap : SIZE_MAX;

    /* A: whole. */
    sse_decoder_t d;
    sse_init(&d, cap);
    rec_t ra = { 0xcbf29ce484222325ull, 0, 0, eff_cap };
    int rc = sse_feed(&d, buf, len, on_event, on_comment, &ra);
    if (rc == SSE_STOPPED) FAIL("stopped without a stop point");
    check_pending(&d, eff_cap, rc);
    outcome_t whole = finish(&d, &ra, rc);

    /* D: reset, whole again on the same (grown) buffers. */
    sse_reset(&d);
    if (sse_pending(&d) != 0) FAIL("sse_reset left %zu bytes pending", sse_pending(&d));
    rec_t rd = { 0xcbf29ce484222325ull, 0, 0, eff_cap };
    rc = sse_feed(&d, buf, len, on_event, on_comment, &rd);
    same("after sse_reset", whole, finish(&d, &rd, rc));
    sse_free(&d);

    /* B: random cuts (sorted, duplicates allowed: empty slices). */
    size_t cuts[16], ncuts = (size_t)(rng_next(&seed) % 17);
    for (size_t i = 0; i < ncuts; i++) cuts[i] = len ? (size_t)(rng_next(&seed) % (len + 1)) : 0;
    qsort(cuts, ncuts, sizeof cuts[0], cmp_size);
    sse_init(&d, cap);
    rec_t rb = { 0xcbf29ce484222325ull, 0, 0, eff_cap };
    rc = feed_all(&d, &rb, buf, len, cuts, ncuts);
    same("random slices", whole, finish(&d, &rb, rc));
    sse_free(&d);

    /* C: byte by byte. */
    if (len <= 512) {
        sse_init(&d, cap);
        rec_t rc1 = { 0xcbf29ce484222325ull, 0, 0, eff_cap };
        int r1 = SSE_OK;
        for (size_t i = 0; i < len; i++) {
            int prev = r1;
            r1 = sse_feed(&d, buf + i, 1, on_event, on_comment, &rc1);
            if (prev < 0 && r1 != prev) FAIL("error %d not sticky (then %d)", prev, r1);
            check_pending(&d, eff_cap, r1);
        }
        same("byte by byte", whole, finish(&d, &rc1, r1));
        sse_free(&d);
    }

    /* E: stop at event k; the events seen are a prefix of the whole run. */
    if (whole.events) {
        size_t k = 1 + (size_t)(rng_next(&seed) % whole.events);
        sse_init(&d, cap);
        rec_t re = { 0xcbf29ce484222325ull, 0, k, eff_cap };
        rec_t ref = { 0xcbf29ce484222325ull, 0, k, eff_cap };
        size_t at = 0;
        int r2 = SSE_OK;
        for (size_t i = 0; i <= ncuts && r2 == SSE_OK; i++) {
            size_t to = i < ncuts ? cuts[i] : len;
            r2 = sse_feed(&d, buf + at, to - at, on_event, on_comment, &re);
            check_pending(&d, eff_cap, r2);
            at = to;
        }
        /* The reference: the whole stream, stopped at the same event. */
        sse_decoder_t d2;
        sse_init(&d2, cap);
        int r3 = sse_feed(&d2, buf, len, on_event, on_comment, &ref);
        sse_free(&d2);
        if (r3 != SSE_STOPPED) FAIL("whole run with stop at %zu returned %d", k, r3);
        if (r2 != SSE_STOPPED) FAIL("sliced run with stop at %zu returned %d", k, r2);
        if (re.events != k || re.hash != ref.hash) FAIL("stopped run saw other events than the whole run");
        /* Still usable after a stop: more input is accepted. */
        r2 = sse_feed(&d, "data: x\n\n", 9, on_event, on_comment, &re);
        if (r2 < 0 && r2 != SSE_TOO_LARGE) FAIL("feed after stop returned %d", r2);
        sse_free(&d);
    }
    return 0;
}
