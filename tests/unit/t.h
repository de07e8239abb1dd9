/* t.h - the smallest unit-test harness that CI can read.
 *
 * Header-only, one test program per translation unit. Each check counts a
 * pass or a failure; a failure prints file:line and the values involved and
 * the test goes on, so one run shows every broken case. T_SUMMARY() prints
 * "<program>: N passed, N failed" (the line .ci/run and tools/test.sh read)
 * and evaluates to the exit code: 0 when nothing failed, else 1.
 *
 *   int main(void) { T_CHECK(1 + 1 == 2); T_EQ_INT(f(), 3); return T_SUMMARY(); }
 *
 * Each macro argument is evaluated exactly once.
 */
#ifndef MOONGATE_T_H
#define MOONGATE_T_H

#include <errno.h>   /* program_invocation_short_name (GNU, with _GNU_SOURCE) */
#include <stdio.h>
#include <string.h>

static int t_passed_ __attribute__((unused));
static int t_failed_ __attribute__((unused));

#define T_CHECK(cond) do {                                                    \
        if (cond) { t_passed_++; }                                            \
        else { t_failed_++;                                                   \
               fprintf(stderr, "%s:%d: check failed: %s\n",                   \
                       __FILE__, __LINE__, #cond); }                          \
    } while (0)

#define T_EQ_INT(a, b) do {                                                   \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);               \
        if (t_a_ == t_b_) { t_passed_++; }                                    \
        else { t_failed_++;                                                   \
               fprintf(stderr, "%s:%d: %s == %s: got %lld, expected %lld\n",  \
                       __FILE__, __LINE__, #a, #b, t_a_, t_b_); }             \
    } while (0)

#define T_EQ_STR(a, b) do {                                                   \
        const char *t_a_ = (a), *t_b_ = (b);                                  \
        if (t_a_ && t_b_ ? strcmp(t_a_, t_b_) == 0 : t_a_ == t_b_) {          \
            t_passed_++;                                                      \
        } else { t_failed_++;                                                 \
               fprintf(stderr, "%s:%d: %s == %s:\n  got      \"%s\"\n"        \
                       "  expected \"%s\"\n", __FILE__, __LINE__, #a, #b,     \
                       t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); }     \
    } while (0)

#define T_SUMMARY()                                                           \
    (printf("%s: %d passed, %d failed\n", program_invocation_short_name,      \
            t_passed_, t_failed_),                                            \
     fflush(stdout), t_failed_ ? 1 : 0)

#endif
