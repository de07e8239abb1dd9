/* fuzz_retry.c - libFuzzer target for runtime/retry.c.
 *
 * Input layout: byte 0 selects how `now` is chosen, bytes 1..8 feed `now`,
 * bytes 9..28 the backoff arguments (base, cap, n, rnd), the rest is split at
 * the first NUL into the "retry-after-ms" and "Retry-After" values (either may
 * be absent, chosen by bits of byte 0).
 *
 * Checked:
 *  - retry_after_parse_ms returns -1 or a value in [0, RETRY_AFTER_MAX_MS];
 *  - a "retry-after-ms" that a reference parser accepts as a decimal wins,
 *    with the value the reference computes (ms, fractions rounded up,
 *    saturated at the max); a "Retry-After" in delta-seconds likewise;
 *  - a date never gives more than the distance from `now` to year 9999 end;
 *  - retry_backoff_ms is within [ceil(d/2), d] for d = min(cap, base * 2^n)
 *    (0 when base or cap <= 0), computed here in 128-bit arithmetic.
 * UBSan catches any signed overflow on the way.
 */
#include "retry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_retry: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

/* Reference decimal parser: OWS? digits ("." digits)? OWS?, in units of
 * 1/scale ms; -2 when not a decimal. Independent of retry.c's code path:
 * exact 128-bit arithmetic, then one saturation. */
static int64_t ref_decimal(const char *s, int64_t scale)
{
    const int64_t max = RETRY_AFTER_MAX_MS;
    while (*s == ' ' || *s == '\t') s++;
    if (*s < '0' || *s > '9') return -2;
    __int128 whole = 0;
    int big = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (*s - '0');
        if (whole > max) { big = 1; whole = max + 1; }
    }
    __int128 frac_ms = 0;   /* ms from the fraction, rounded up */
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9') return -2;
        /* value of the fraction in units of 1/scale, as digits / 10^k */
        __int128 num = 0, den = 1;
        int nonzero_tail = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (den < 1000000000000000000LL) { num = num * 10 + (*s - '0'); den *= 10; }
            else if (*s != '0') nonzero_tail = 1;
        }
        __int128 x = num * scale;
        frac_ms = x / den + ((x % den) != 0 || nonzero_tail);
    }
    while (*s == ' ' || *s == '\t') s++;
    if (*s) return -2;
    if (big) return max;
    __int128 v = whole * scale + frac_ms;
    return v > max ? max : (int64_t)v;
}

static void check_backoff(int64_t base, int64_t cap, int n, double rnd)
{
    int64_t got = retry_backoff_ms(base, cap, n, rnd);
    if (base <= 0 || cap <= 0) {
        if (got != 0) FAIL("backoff(%lld, %lld, %d) = %lld, expected 0", (long long)base, (long long)cap, n, (long long)got);
        return;
    }
    int m = n < 0 ? 0 : n;
    __int128 d = base;
    for (int i = 0; i < m && d <= cap; i++) d *= 2;
    if (d > cap) d = cap;
    __int128 lo = d - d / 2;
    if (got < lo || got > d)
        FAIL("backoff(%lld, %lld, %d, %g) = %lld outside [%lld, %lld]", (long long)base,
             (long long)cap, n, rnd, (long long)got, (long long)lo, (long long)d);
    if (got > cap) FAIL("backoff above cap");
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 29) return 0;
    uint8_t mode = in[0];
    int64_t now;
    uint64_t raw = get_u64(in + 1);
    switch (mode & 3) {
    case 0:  now = 1700000000 + (int64_t)(raw % (100ull * 365 * 86400)); break;   /* realistic */
    case 1:  now = (int64_t)(raw % 4000000000ull); break;                       /* 1970..2096 */
    case 2:  now = (int64_t)raw; break;                                         /* anything */
    default:   /* near the ends of what gmtime accepts (years around +-2^31) */
        now = (raw & 1 ? INT64_C(67768036191676799) : INT64_C(-67768040609740800)) +
              (int64_t)((raw >> 1) % (INT64_C(1) << 40)) - (INT64_C(1) << 39);
        break;
    }

    int64_t base = (int64_t)get_u64(in + 9), cap = (int64_t)get_u64(in + 17);
    int n = (int)(int32_t)((uint32_t)in[25] << 24 | (uint32_t)in[26] << 16 | (uint32_t)in[27] << 8 | in[28]);
    double rnd;
    uint64_t rbits = raw ^ (uint64_t)base;
    if (mode & 0x40) memcpy(&rnd, &rbits, sizeof rnd);        /* any double, NaN and inf too */
    else rnd = (double)(rbits >> 11) / 9007199254740992.0;    /* [0, 1) */
    if (mode & 0x80) { base &= 0xFFFFF; cap &= 0xFFFFFF; n &= 127; }   /* plausible sizes */
    check_backoff(base, cap, n, rnd);

    /* The strings: a NUL-separated pair, each NUL-terminated copy. */
    const char *text = (const char *)in + 29;
    size_t tlen = size - 29;
    const char *sep = memchr(text, '\0', tlen);
    size_t alen = sep ? (size_t)(sep - text) : tlen;
    char *a = malloc(alen + 1);
    memcpy(a, text, alen);
    a[alen] = 0;
    size_t blen = sep ? tlen - alen - 1 : 0;
    char *b = malloc(blen + 1);
    if (blen) memcpy(b, sep + 1, blen);
    b[blen] = 0;
    /* NUL inside a value ends it early: strings are C strings. */
    const char *ms = (mode & 4) ? a : NULL;
    const char *ra = (mode & 8) ? (ms ? b : a) : NULL;

    int64_t got = retry_after_parse_ms(ms, ra, (time_t)now);
    if (got != -1 && (got < 0 || got > RETRY_AFTER_MAX_MS)) FAIL("parse = %lld out of range", (long long)got);
    int64_t want_ms = ms ? ref_decimal(ms, 1) : -2;
    int64_t want_s = ra ? ref_decimal(ra, 1000) : -2;
    if (want_ms >= 0) {
        if (got != want_ms) FAIL("retry-after-ms \"%s\" = %lld, reference %lld", ms, (long long)got, (long long)want_ms);
    } else if (want_s >= 0) {
        if (got != want_s) FAIL("Retry-After \"%s\" = %lld, reference %lld", ra, (long long)got, (long long)want_s);
    } else if (!ra && got != -1) {
        FAIL("no valid header but %lld", (long long)got);
    } else if (got > 0) {
        /* Must have been a date: at most up to the end of year 9999. */
        const int64_t y10000 = INT64_C(253402300800);
        if (now < y10000 && (__int128)got > ((__int128)y10000 - now) * 1000 + 1000)
            FAIL("date \"%s\" gave %lld ms from now=%lld", ra, (long long)got, (long long)now);
    }
    /* Same answer twice (no hidden state). */
    if (retry_after_parse_ms(ms, ra, (time_t)now) != got) FAIL("not deterministic");
    retry_status_retryable((int)now);
    free(a);
    free(b);
    return 0;
}
