/* retry.h - retry timing: Retry-After parsing and exponential backoff.
 * Pure functions, no allocation, no I/O. */
#ifndef MOONGATE_RETRY_H
#define MOONGATE_RETRY_H

#include <stdint.h>
#include <time.h>

/* Largest delay retry_after_parse_ms returns: 2^53 ms (~285,000 years). Any
 * real server value is far below it; it stays exact as a Lua number (a
 * double) and leaves room to add a millisecond clock without overflow. */
#define RETRY_AFTER_MAX_MS (INT64_C(1) << 53)

/* Parses the delay an upstream asked for. retry_after_ms: the value of a
 * "retry-after-ms" header or NULL; retry_after: "Retry-After" (delta-seconds,
 * possibly fractional, or an IMF-fixdate / RFC 850 / asctime HTTP date) or
 * NULL. now: current wall-clock time (for dates). retry-after-ms wins when
 * valid. Returns the delay in milliseconds (>= 0, a date in the past gives 0),
 * or -1 when neither header is present or valid. Values above
 * RETRY_AFTER_MAX_MS are clamped to it. */
int64_t retry_after_parse_ms(const char *retry_after_ms, const char *retry_after, time_t now);

/* Exponential backoff with jitter for the n-th retry (n = 0 for the first
 * retry): d = min(cap, base * 2^n); result uniformly in [d/2, d]. rnd is a
 * uniform random value in [0, 1). base_ms, cap_ms >= 0. Never exceeds cap_ms,
 * never overflows for any n. */
int64_t retry_backoff_ms(int64_t base_ms, int64_t cap_ms, int n, double rnd);

/* Whether an upstream HTTP status is worth another attempt:
 * 408, 429, 500, 502, 503, 504 (and 529, "overloaded"). */
int retry_status_retryable(int status);

#endif
