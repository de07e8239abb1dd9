/* test_scan.c - usage and error messages read out of upstream JSON without a
 * decoder (runtime/scan.c). */
#include "scan.h"
#include "fmt.h"
#include "t.h"

#include <string.h>

static int usage(const char *s, int64_t *pt, int64_t *ct) { return scan_usage(s, strlen(s), pt, ct); }

static void test_usage(void)
{
    int64_t pt, ct;
    T_EQ_INT(usage("{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}", &pt, &ct), 1);
    T_EQ_INT(pt, 12); T_EQ_INT(ct, 7);
    /* Anthropic names, spaces and newlines around the colon */
    T_EQ_INT(usage("{\"usage\": {\"input_tokens\" :\n 5, \"output_tokens\": 3}}", &pt, &ct), 1);
    T_EQ_INT(pt, 5); T_EQ_INT(ct, 3);
    /* Gemini, and a message_start that has only input tokens */
    T_EQ_INT(usage("{\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":4}}", &pt, &ct), 1);
    T_EQ_INT(pt, 9); T_EQ_INT(ct, 4);
    T_EQ_INT(usage("{\"usage\":{\"input_tokens\":30}}", &pt, &ct), 1);
    T_EQ_INT(pt, 30); T_EQ_INT(ct, -1);
    /* no usage, a usage without numbers, a huge number capped */
    T_EQ_INT(usage("{\"choices\":[]}", &pt, &ct), 0);
    T_EQ_INT(usage("{\"usage\":null}", &pt, &ct), 0);
    T_EQ_INT(usage("{\"usage\":{\"prompt_tokens\":99999999999999999999}}", &pt, &ct), 1);
    T_CHECK(pt >= ((int64_t)1 << 50) && pt < ((int64_t)1 << 54));
    /* the range is respected: a key right after the end does not count */
    const char *t = "{\"usage\":{\"prompt_tokens\":12}}";
    T_EQ_INT(scan_usage(t, 20, &pt, &ct), 0);
}

static void msg(const char *body, size_t cap, const char *want)
{
    char out[256];
    scan_error_message(body, strlen(body), out, cap);
    T_EQ_STR(out, want);
}

static void test_message(void)
{
    msg("{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":\"insufficient_quota\"}}", 256,
        "You exceeded your current quota");
    msg("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\" : \"Overloaded\"}}", 256, "Overloaded");
    msg("{\"error\":{\"code\":429,\"message\":\"a\\nb\\\"c\\u00e9d\",\"status\":\"RESOURCE_EXHAUSTED\"}}", 256,
        "a b\"c?d");
    msg("{\"error\":{\"message\":\"caf\xc3\xa9\"}}", 256, "caf??");
    msg("{\"error\":{\"message\":\"abcdefgh\"}}", 5, "abcd");           /* cut at cap - 1 */
    msg("{\"error\":{\"message\":42}}", 256, "");                       /* not a string */
    msg("{\"error\":\"no message here\"}", 256, "");
    msg("", 256, "");
    msg("{\"message\":\"unterminated", 256, "unterminated");
}

/* fmt_find agrees with memmem: every needle of a few shapes at every offset
 * and length of the haystack, found or not. */
static void test_find(void)
{
    const char *hay = "{\"usage\":{\"a\":1},\"uu\":\"\"usage\"\"}x\"u";
    const char *needles[] = { "", "{", "x", "\"", "\"usage\"", "usage", "\"u", "uu", "\"\"", "}x\"u", "nope", "\"usage\"\"}x\"u!" };
    size_t hn = strlen(hay);
    int bad = 0;
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++) {
        size_t k = strlen(needles[i]);
        for (size_t off = 0; off <= hn; off++)
            for (size_t n = 0; off + n <= hn; n++)
                if (fmt_find(hay + off, n, needles[i], k) != (const char *)memmem(hay + off, n, needles[i], k)) bad++;
    }
    T_EQ_INT(bad, 0);
    T_CHECK(fmt_find("ab", 2, "abc", 3) == NULL);
    T_CHECK(fmt_find("xab", 3, "ab", 2) != NULL);
}

int main(void)
{
    test_find();
    test_usage();
    test_message();
    return T_SUMMARY();
}
