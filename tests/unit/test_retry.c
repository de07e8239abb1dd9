/* test_retry.c - Retry-After parsing and backoff bounds.
 *
 * Dates are checked against a fixed `now` so the test never depends on the
 * clock: T is the RFC 9110 example instant, Sun, 06 Nov 1994 08:49:37 GMT.
 */
#include "retry.h"
#include "t.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define T_1994 ((time_t)784111777)    /* Sun, 06 Nov 1994 08:49:37 GMT */
#define T_2024 ((time_t)1704067200)   /* Mon, 01 Jan 2024 00:00:00 GMT */
#define DAY_MS INT64_C(86400000)

static int64_t ra(const char *v, time_t now) { return retry_after_parse_ms(NULL, v, now); }

static void test_dates(void)
{
    time_t now = T_1994 - 120;   /* every date form below is two minutes ahead */
    T_EQ_INT(ra("Sun, 06 Nov 1994 08:49:37 GMT", now), 120000);
    T_EQ_INT(ra("Sunday, 06-Nov-94 08:49:37 GMT", now), 120000);
    T_EQ_INT(ra("Sun Nov  6 08:49:37 1994", now), 120000);
    T_EQ_INT(ra("Wed Nov 16 08:49:37 1994", now), 120000 + 10 * DAY_MS);
    T_EQ_INT(ra("  Sun, 06 Nov 1994 08:49:37 GMT \t", now), 120000);   /* OWS */
    /* The weekday need not match the date: we only need to know when. */
    T_EQ_INT(ra("Mon, 06 Nov 1994 08:49:37 GMT", now), 120000);
    /* Leap second: folded into the next minute. */
    T_EQ_INT(ra("Sun, 06 Nov 1994 08:49:60 GMT", now), 143000);

    /* In the past or now: wait 0, never negative. */
    T_EQ_INT(ra("Sun, 06 Nov 1994 08:49:37 GMT", T_1994), 0);
    T_EQ_INT(ra("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 + 5), 0);
    T_EQ_INT(ra("Sunday, 06-Nov-94 08:49:37 GMT", T_2024), 0);
    T_EQ_INT(ra("Thu, 01 Jan 1970 00:00:00 GMT", T_2024), 0);

    /* RFC 850 two-digit years: up to 50 years ahead is the future... */
    T_EQ_INT(ra("Tuesday, 01-Jan-30 00:00:00 GMT", T_2024), (1893456000 - T_2024) * INT64_C(1000));
    /* ...beyond that, the most recent past year with those digits. */
    T_EQ_INT(ra("Saturday, 01-Jan-80 00:00:00 GMT", T_2024), 0);

    /* Calendar checks. */
    T_EQ_INT(ra("Thu, 29 Feb 1996 00:00:00 GMT", (time_t)825552000 - 1), 1000);
    T_EQ_INT(ra("Tue, 29 Feb 2000 00:00:00 GMT", (time_t)951782400 - 1), 1000);
    T_EQ_INT(ra("Wed, 29 Feb 1995 00:00:00 GMT", 0), -1);
    T_EQ_INT(ra("Thu, 29 Feb 1900 00:00:00 GMT", 0), -1);
    T_EQ_INT(ra("Sun, 31 Nov 1994 08:49:37 GMT", 0), -1);
    T_EQ_INT(ra("Sun, 00 Nov 1994 08:49:37 GMT", 0), -1);
    T_EQ_INT(ra("Sun, 06 Nov 1994 24:00:00 GMT", 0), -1);
    T_EQ_INT(ra("Sun, 06 Nov 1994 08:60:00 GMT", 0), -1);
    T_EQ_INT(ra("Sun, 06 Nov 1994 08:49:61 GMT", 0), -1);

    /* Far future and extreme `now`: clamped, no overflow. */
    T_EQ_INT(ra("Fri, 31 Dec 9999 23:59:59 GMT", 0), INT64_C(253402300799000));
    T_EQ_INT(ra("Fri, 31 Dec 9999 23:59:59 GMT", (time_t)INT64_MIN), RETRY_AFTER_MAX_MS);
    T_EQ_INT(ra("Fri, 31 Dec 9999 23:59:59 GMT", (time_t)INT64_MAX), 0);
    T_EQ_INT(ra("Sunday, 06-Nov-94 08:49:37 GMT", (time_t)INT64_MIN), RETRY_AFTER_MAX_MS);
    /* Found by fuzz/fuzz_retry: a clock whose year is near INT_MAX (gmtime
     * still succeeds) made the RFC 850 century arithmetic overflow an int. */
    T_EQ_INT(ra("Sunday, 06-Nov-94 08:49:37 GMT", (time_t)INT64_C(67768036191676799)), 0);
    T_EQ_INT(ra("Sunday, 06-Nov-94 08:49:37 GMT", (time_t)INT64_C(-67768040609740800)), RETRY_AFTER_MAX_MS);
}

static void test_seconds(void)
{
    T_EQ_INT(ra("0", 0), 0);
    T_EQ_INT(ra("2", 0), 2000);
    T_EQ_INT(ra("1.5", 0), 1500);
    T_EQ_INT(ra("0.25", 0), 250);
    T_EQ_INT(ra("1.000", 0), 1000);
    T_EQ_INT(ra("0.0001", 0), 1);      /* below a millisecond rounds up */
    T_EQ_INT(ra("1.0005", 0), 1001);
    T_EQ_INT(ra("1.0000000", 0), 1000);
    T_EQ_INT(ra(" 3 ", 0), 3000);
    T_EQ_INT(ra("007", 0), 7000);
    /* Huge values clamp instead of overflowing. */
    T_EQ_INT(ra("9007199254740", 0), INT64_C(9007199254740000));   /* just below */
    T_EQ_INT(ra("9007199254741", 0), RETRY_AFTER_MAX_MS);            /* just above */
    T_EQ_INT(ra("99999999999999999999999999999999", 0), RETRY_AFTER_MAX_MS);
    T_EQ_INT(ra("99999999999999999999999999999999.999", 0), RETRY_AFTER_MAX_MS);
    T_EQ_INT(ra("9007199254.740", 0), INT64_C(9007199254740));
}

static void test_ms_header(void)
{
    T_EQ_INT(retry_after_parse_ms("250", "10", 0), 250);          /* ms wins */
    T_EQ_INT(retry_after_parse_ms("250", NULL, 0), 250);
    T_EQ_INT(retry_after_parse_ms("0", "10", 0), 0);
    T_EQ_INT(retry_after_parse_ms("1.5", NULL, 0), 2);            /* rounds up */
    T_EQ_INT(retry_after_parse_ms("99999999999999999999", NULL, 0), RETRY_AFTER_MAX_MS);
    /* An invalid ms header falls back to Retry-After. */
    T_EQ_INT(retry_after_parse_ms("abc", "10", 0), 10000);
    T_EQ_INT(retry_after_parse_ms("-5", "10", 0), 10000);
    T_EQ_INT(retry_after_parse_ms("", "1.5", 0), 1500);
    T_EQ_INT(retry_after_parse_ms("abc", "Sun, 06 Nov 1994 08:49:37 GMT", T_1994 - 1), 1000);
    T_EQ_INT(retry_after_parse_ms("abc", NULL, 0), -1);
    T_EQ_INT(retry_after_parse_ms("abc", "xyz", 0), -1);
    T_EQ_INT(retry_after_parse_ms(NULL, NULL, 0), -1);
}

static void test_invalid(void)
{
    static const char *const bad[] = {
        "", " ", "abc", "-1", "-0", "+1", "1e3", ".5", "1.", "1,5", "1.5.2", "10 s", "0x10",
        "1 2", "\xEF\xBB\xBF" "1",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Sun, 06 Nov 1994 08:49:37 GMT x", "Xyz, 06 Nov 1994 08:49:37 GMT",
        "sun, 06 nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun,06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sunday, 06 Nov 94 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov  6 08:49:37", "Sun Nov 06 08:49:37 1994 GMT",
        "Sun", "Sunday", "Sun,", "Sun, 06 Nov 1994 08:49:",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = ra(bad[i], T_1994 - 120);
        if (v != -1)
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        T_EQ_INT(v, -1);
    }
    /* Two-digit day in asctime is accepted (as RFC 9110's grammar allows). */
    T_EQ_INT(ra("Sun Nov 06 08:49:37 1994", T_1994 - 120), 120000);
}

/* The backoff window written out the slow, obviously right way. */
static int64_t window(int64_t base, int64_t cap, int n)
{
    int64_t d = base;
    for (int i = 0; i < n && d < cap; i++)
        d = d > cap / 2 ? cap : d * 2;
    return d < cap ? d : cap;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;   /* fixed seed: failures repeat */

static double rnd01(void)   /* xorshift64 -> [0, 1) with 53 random bits */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void test_backoff_bounds(int64_t base, int64_t cap)
{
    static const double fixed[] = { 0.0, 1e-12, 0.25, 0.5, 0.75, 0.999999 };
    int64_t prev = 0;
    int bad = 0;
    for (int n = 0; n <= 100; n++) {
        int64_t d = window(base, cap, n);
        int64_t lo = d - d / 2;    /* ceil(d / 2) */
        /* Caps grow with n and never pass cap. */
        bad += d < prev || d > cap;
        prev = d;
        for (int k = 0; k < 1000 + 6; k++) {
            double r = k < 6 ? fixed[k] : rnd01();
            int64_t v = retry_backoff_ms(base, cap, n, r);
            if (v < lo || v > d || v > cap) {
                if (bad++ < 5)
                    fprintf(stderr, "backoff(%lld, %lld, %d, %.17g) = %lld not in [%lld, %lld]\n",
                            (long long)base, (long long)cap, n, r, (long long)v,
                            (long long)lo, (long long)d);
            }
        }
        /* The ends of the window are reached (the top exactly only while a
         * double holds the window exactly: 2^52 keeps a margin below 2^53). */
        bad += retry_backoff_ms(base, cap, n, 0.0) != lo;
        if (d <= INT64_C(1) << 52)
            bad += retry_backoff_ms(base, cap, n, nextafter(1.0, 0.0)) != d;
    }
    T_EQ_INT(bad, 0);
}

static void test_backoff(void)
{
    test_backoff_bounds(500, 8000);
    test_backoff_bounds(200, 2000);
    test_backoff_bounds(1, 1);
    test_backoff_bounds(3, 1000001);           /* odd windows */
    test_backoff_bounds(1, INT64_MAX);
    test_backoff_bounds(INT64_MAX / 3, INT64_MAX);
    test_backoff_bounds(INT64_MAX, INT64_MAX);
    test_backoff_bounds(5000, 100);            /* base above cap */

    T_EQ_INT(retry_backoff_ms(500, 8000, 0, 0.0), 250);
    T_EQ_INT(retry_backoff_ms(500, 8000, 3, 0.0), 2000);
    T_EQ_INT(retry_backoff_ms(500, 8000, 4, 0.0), 4000);   /* window 8000 = cap */
    T_EQ_INT(retry_backoff_ms(1, INT64_MAX, 62, 0.0), INT64_C(1) << 61);
    /* 2^-53 short of the top of a 2^62 window: within 1024 of it. */
    T_CHECK(retry_backoff_ms(1, INT64_MAX, 63, nextafter(1.0, 0.0)) > INT64_MAX - 1024);
    /* Huge n: no shift overflow, just the cap. */
    T_EQ_INT(retry_backoff_ms(500, 8000, 1000, 0.0), 4000);
    T_EQ_INT(retry_backoff_ms(500, 8000, 1000, nextafter(1.0, 0.0)), 8000);
    T_EQ_INT(retry_backoff_ms(500, 8000, INT_MAX, 0.5) <= 8000, 1);
    T_EQ_INT(retry_backoff_ms(INT64_MAX, INT64_MAX, 1000, 0.999) <= INT64_MAX, 1);
    /* Degenerate inputs stay in range instead of misbehaving. */
    T_EQ_INT(retry_backoff_ms(0, 8000, 5, 0.5), 0);
    T_EQ_INT(retry_backoff_ms(500, 0, 5, 0.5), 0);
    T_EQ_INT(retry_backoff_ms(-5, 8000, 5, 0.5), 0);
    T_EQ_INT(retry_backoff_ms(500, 8000, -3, 0.0), 250);   /* n < 0 counts as 0 */
    T_EQ_INT(retry_backoff_ms(500, 8000, 0, NAN), 250);
    T_EQ_INT(retry_backoff_ms(500, 8000, 0, -1.0), 250);
    T_EQ_INT(retry_backoff_ms(500, 8000, 0, 1.0), 500);
    T_EQ_INT(retry_backoff_ms(500, 8000, 0, 7.0), 500);
    T_EQ_INT(retry_backoff_ms(500, 8000, 0, INFINITY), 500);
}

static void test_statuses(void)
{
    static const int yes[] = { 408, 429, 500, 502, 503, 504, 529 };
    static const int no[] = { 0, 200, 201, 204, 301, 400, 401, 403, 404, 409, 413, 422,
                              499, 501, 505, 520, 599, -1 };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        T_EQ_INT(retry_status_retryable(yes[i]), 1);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        T_EQ_INT(retry_status_retryable(no[i]), 0);
}

int main(void)
{
    test_dates();
    test_seconds();
    test_ms_header();
    test_invalid();
    test_backoff();
    test_statuses();
    return T_SUMMARY();
}
