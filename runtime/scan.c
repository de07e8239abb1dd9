/* scan.c - see scan.h. */
#include "scan.h"
#include "fmt.h"

#include <ctype.h>
#include <string.h>

/* The number after key (spaces and the colon skipped), or -1. Capped at
 * 2^50 so no count can overflow what it is added to. */
static int64_t num_after(const char *p, size_t n, const char *key)
{
    size_t klen = strlen(key);
    const char *k = fmt_find(p, n, key, klen);
    if (!k) return -1;
    const char *e = p + n;
    k += klen;
    while (k < e && (*k == ' ' || *k == ':' || *k == '\t' || *k == '\n' || *k == '\r')) k++;
    if (k >= e || !isdigit((unsigned char)*k)) return -1;
    int64_t v = 0;
    while (k < e && isdigit((unsigned char)*k) && v < ((int64_t)1 << 50)) v = v * 10 + (*k++ - '0');
    return v;
}

int scan_usage(const char *p, size_t n, int64_t *pt, int64_t *ct)
{
    *pt = *ct = -1;
    const char *u = fmt_find(p, n, "\"usage\"", 7);
    int gemini = 0;
    if (!u && (u = fmt_find(p, n, "\"usageMetadata\"", 15))) gemini = 1;
    if (!u) return 0;
    size_t rest = n - (size_t)(u - p);
    if (gemini) {
        *pt = num_after(u, rest, "\"promptTokenCount\"");
        *ct = num_after(u, rest, "\"candidatesTokenCount\"");
    } else {
        *pt = num_after(u, rest, "\"prompt_tokens\"");
        *ct = num_after(u, rest, "\"completion_tokens\"");
        if (*pt < 0) *pt = num_after(u, rest, "\"input_tokens\"");
        if (*ct < 0) *ct = num_after(u, rest, "\"output_tokens\"");
    }
    return *pt >= 0 || *ct >= 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

void scan_error_message(const char *b, size_t n, char *out, size_t cap)
{
    out[0] = 0;
    const char *k = n ? fmt_find(b, n, "\"message\"", 9) : NULL;
    if (!k) return;
    const char *end = b + n;
    const char *p = skip_ws(k + 9, end);
    if (p >= end || *p != ':') return;
    p = skip_ws(p + 1, end);
    if (p >= end || *p != '"') return;
    p++;
    size_t o = 0;
    while (p < end && *p != '"' && o < cap - 1) {
        unsigned char c = (unsigned char)*p++;
        if (c == '\\' && p < end) {
            c = (unsigned char)*p++;
            if (c == 'n' || c == 't' || c == 'r') c = ' ';
            else if (c == 'u') { c = '?'; p += (end - p) < 4 ? (end - p) : 4; }
        }
        out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[o] = 0;
}
