/* retry.c - how long to wait before another upstream attempt.
 *
 * Owns nothing: pure functions over the caller's strings. Parses
 * "retry-after-ms" (OpenAI's SDKs honour it, so providers send it) and
 * "Retry-After" (RFC 9110 10.2.3: delta-seconds or an HTTP-date in any of the
 * three formats of 5.6.7), and computes exponential backoff with jitter.
 *
 * Every value a server sends is untrusted: arithmetic saturates at
 * RETRY_AFTER_MAX_MS instead of overflowing, and the date parser is strict and
 * locale-free (strptime's %a/%b follow LC_TIME, which a host may change).
 */
#include "retry.h"

#include <string.h>

static const char *const wkday_short[7] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const wkday_long[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"
};
static const char *const month_name[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_ows(char c) { return c == ' ' || c == '\t'; }

static const char *skip_ows(const char *s)
{
    while (is_ows(*s))
        s++;
    return s;
}

static int64_t sat_add(int64_t a, int64_t b)   /* both in [0, MAX] */
{
    return a > RETRY_AFTER_MAX_MS - b ? RETRY_AFTER_MAX_MS : a + b;
}

static int64_t sat_mul(int64_t a, int64_t b)   /* a >= 0, b > 0 */
{
    return a > RETRY_AFTER_MAX_MS / b ? RETRY_AFTER_MAX_MS : a * b;
}

/* A non-negative decimal "1", "1.5", "0.250" (OWS around it allowed) in
 * units of 1/scale of the unit it names; scale is 1000 for seconds and 1 for
 * milliseconds. Fractions of a millisecond round up: the server asked for
 * "at least". Returns 0 and *out in ms, or -1 when it is not such a number. */
static int parse_decimal(const char *s, int64_t scale, int64_t *out)
{
    int64_t whole = 0, num = 0, den = 1;
    int rest = 0;

    s = skip_ows(s);
    if (!is_digit(*s))
        return -1;   /* also rejects "-1", "+1", ".5" and "" */
    for (; is_digit(*s); s++)
        whole = sat_add(sat_mul(whole, 10), *s - '0');
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return -1;
        /* Keep the digits that still count in milliseconds (den divides
         * scale, so num * scale / den is exact); note whether any later digit
         * is non-zero so the result can round up. */
        for (; is_digit(*s); s++) {
            if (den < scale) {
                num = num * 10 + (*s - '0');
                den *= 10;
            } else if (*s != '0') {
                rest = 1;
            }
        }
    }
    if (*skip_ows(s) != '\0')
        return -1;
    *out = sat_add(sat_mul(whole, scale), num * scale / den + rest);
    return 0;
}

/* Exactly n digits. */
static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

static int lit(const char **s, const char *l)
{
    size_t n = strlen(l);
    if (strncmp(*s, l, n) != 0)
        return -1;
    *s += n;
    return 0;
}

static int name_in(const char **s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (lit(s, names[i]) == 0)
            return i;
    return -1;
}

static int hms(const char **s, struct tm *tm)
{
    if (digits(s, 2, &tm->tm_hour) < 0 || lit(s, ":") < 0 ||
        digits(s, 2, &tm->tm_min) < 0 || lit(s, ":") < 0 ||
        digits(s, 2, &tm->tm_sec) < 0)
        return -1;
    return 0;
}

static int days_in_month(int year, int mon)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return dim[mon] + (mon == 1 && leap);
}

/* RFC 9110 5.6.7: IMF-fixdate, obsolete RFC 850 and asctime formats. The
 * weekday must be a real name but need not match the date (we only wait). */
static int parse_http_date(const char *s, time_t now, time_t *out)
{
    struct tm tm;
    int year = 0;

    memset(&tm, 0, sizeof tm);
    s = skip_ows(s);
    if (name_in(&s, wkday_long, 7) >= 0) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        int yy;
        if (lit(&s, ", ") < 0 || digits(&s, 2, &tm.tm_mday) < 0 || lit(&s, "-") < 0 ||
            (tm.tm_mon = name_in(&s, month_name, 12)) < 0 || lit(&s, "-") < 0 ||
            digits(&s, 2, &yy) < 0 || lit(&s, " ") < 0 || hms(&s, &tm) < 0 ||
            lit(&s, " GMT") < 0)
            return -1;
        /* Two-digit year: a date more than 50 years ahead is the most recent
         * past year with those digits (RFC 9110 5.6.7). */
        struct tm nt;
        int cur = 1970;
        /* A clock outside years 0..9999 (tm_year + 1900 could overflow an
         * int near INT_MAX) is clamped: any answer is as good, none is UB. */
        if (gmtime_r(&now, &nt))
            cur = nt.tm_year < -1900 ? 0 : nt.tm_year > 9999 - 1900 ? 9999 : nt.tm_year + 1900;
        year = cur - cur % 100 + yy;
        if (year > cur + 50)
            year -= 100;
    } else if (name_in(&s, wkday_short, 7) >= 0) {
        if (*s == ',') {
            /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
            if (lit(&s, ", ") < 0 || digits(&s, 2, &tm.tm_mday) < 0 || lit(&s, " ") < 0 ||
                (tm.tm_mon = name_in(&s, month_name, 12)) < 0 || lit(&s, " ") < 0 ||
                digits(&s, 4, &year) < 0 || lit(&s, " ") < 0 || hms(&s, &tm) < 0 ||
                lit(&s, " GMT") < 0)
                return -1;
        } else {
            /* asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space) */
            if (lit(&s, " ") < 0 || (tm.tm_mon = name_in(&s, month_name, 12)) < 0 ||
                lit(&s, " ") < 0)
                return -1;
            if (*s == ' ') {
                s++;
                if (digits(&s, 1, &tm.tm_mday) < 0)
                    return -1;
            } else if (digits(&s, 2, &tm.tm_mday) < 0) {
                return -1;
            }
            if (lit(&s, " ") < 0 || hms(&s, &tm) < 0 || lit(&s, " ") < 0 ||
                digits(&s, 4, &year) < 0)
                return -1;
        }
    } else {
        return -1;
    }
    if (*skip_ows(s) != '\0')
        return -1;
    /* tm_sec 60 is a leap second; timegm folds it into the next minute. */
    if (tm.tm_mday < 1 || tm.tm_mday > days_in_month(year, tm.tm_mon) ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year = year - 1900;
    *out = timegm(&tm);
    return 0;
}

int64_t retry_after_parse_ms(const char *retry_after_ms, const char *retry_after, time_t now)
{
    int64_t ms;
    time_t at;

    if (retry_after_ms && parse_decimal(retry_after_ms, 1, &ms) == 0)
        return ms;
    if (!retry_after)
        return -1;
    if (parse_decimal(retry_after, 1000, &ms) == 0)
        return ms;
    if (parse_http_date(retry_after, now, &at) < 0)
        return -1;
    int64_t t = (int64_t)at, n = (int64_t)now, secs;
    if (t <= n)
        return 0;
    if (__builtin_sub_overflow(t, n, &secs))
        return RETRY_AFTER_MAX_MS;
    return sat_mul(secs, 1000);
}

int64_t retry_backoff_ms(int64_t base_ms, int64_t cap_ms, int n, double rnd)
{
    int64_t d;

    if (base_ms <= 0 || cap_ms <= 0)
        return 0;
    if (n < 0)
        n = 0;
    /* base * 2^n > cap  <=>  base > floor(cap / 2^n), tested without ever
     * forming base * 2^n; a shift by 63 or more would be undefined, and
     * cap >> 63 is 0 for any non-negative cap anyway. */
    if (n >= 63 || base_ms > (cap_ms >> n))
        d = cap_ms;
    else
        d = base_ms << n;

    /* Uniform over the integers [ceil(d/2), d]: span + 1 values. span is at
     * most 2^62, so the double product and the cast back are exact enough
     * and cannot overflow; the clamp covers rnd rounding up to 1. */
    int64_t span = d / 2, lo = d - span;
    if (!(rnd > 0.0))   /* also catches NaN */
        rnd = 0.0;
    double x = rnd * (double)(span + 1);
    int64_t j = x >= (double)span ? span : (int64_t)x;
    return lo + j;
}

int retry_status_retryable(int status)
{
    switch (status) {
    case 408:   /* request timeout */
    case 429:   /* rate limited (quota exhaustion too; the policy may refine) */
    case 500:
    case 502:
    case 503:
    case 504:
    case 529:   /* Anthropic "overloaded" */
        return 1;
    default:
        return 0;
    }
}
