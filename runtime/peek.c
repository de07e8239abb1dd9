/* peek.c - see peek.h. A recursive-descent validator (depth-limited like
 * cjson) that looks at the members of the top-level object as it passes
 * them. Its grammar follows what Debian's cjson 2.1.0 decodes with
 * decode_invalid_numbers(false), so a body both accept or both refuse:
 * numbers as strtod reads them once cjson saw a '-' or a digit, less a
 * leading zero ("1." and "-.5" pass; ".5", "01", hex, inf and nan do not), any byte but NUL inside strings, only the
 * JSON escapes (tests/unit/test_peek.c compares both on a corpus). */
#include "peek.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct jp {
    const char *p, *e;
    int depth;
    const char *err;
} jp_t;

static int fail(jp_t *j, const char *why)
{
    if (!j->err) j->err = why;
    return -1;
}

static void ws(jp_t *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hex4(const char *p, const char *e)
{
    if (e - p < 4) return 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))) return 0;
    }
    return 1;
}

static unsigned unhex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* j->p at the opening quote; on success j->p is past the closing one and
 * s, n and esc describe the bytes between. */
/* The first '"', '\\' or NUL at or after q (e when none): what a string's
 * scan stops at. Prompts make most of a body's bytes string bytes, so this
 * goes 16 at a time where SSE2 is there (x86-64 always). */
static const char *string_stop(const char *q, const char *e)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), zero = _mm_setzero_si128();
    while (e - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                   _mm_cmpeq_epi8(v, zero));
        int m = _mm_movemask_epi8(hit);
        if (m) return q + __builtin_ctz((unsigned)m);
        q += 16;
    }
#endif
    while (q < e && *q != '"' && *q != '\\' && *q != 0) q++;
    return q;
}

static int string(jp_t *j, const char **s, size_t *n, int *esc)
{
    const char *start = ++j->p;
    int e = 0;
    for (;;) {
        const char *q = string_stop(j->p, j->e);
        j->p = q;
        if (q >= j->e || *q == 0) return fail(j, "unterminated string");
        if (*q == '"') break;
        e = 1;
        if (q + 1 >= j->e) return fail(j, "unterminated string");
        switch (q[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            j->p = q + 2;
            break;
        case 'u': {
            if (!hex4(q + 2, j->e)) { j->p = q; return fail(j, "invalid \\u escape"); }
            /* UTF-16 surrogates come in pairs, high then low (cjson refuses
             * anything else) */
            unsigned hi = unhex4(q + 2);
            if (hi >= 0xD800 && hi <= 0xDFFF) {
                if (hi >= 0xDC00 || j->e - q < 12 || q[6] != '\\' || q[7] != 'u' || !hex4(q + 8, j->e)
                    || (unhex4(q + 8) & 0xFC00) != 0xDC00) {
                    j->p = q;
                    return fail(j, "unpaired UTF-16 surrogate escape");
                }
                j->p = q + 12;
            } else {
                j->p = q + 6;
            }
            break;
        }
        default:
            return fail(j, "invalid escape in string");
        }
    }
    if (s) { *s = start; *n = (size_t)(j->p - start); *esc = e; }
    j->p++;
    return 0;
}

static int digits(jp_t *j)
{
    const char *s = j->p;
    while (j->p < j->e && *j->p >= '0' && *j->p <= '9') j->p++;
    return j->p > s;
}

static int number(jp_t *j)
{
    if (*j->p == '-') j->p++;
    if (j->e - j->p >= 2 && j->p[0] == '0' && j->p[1] >= '0' && j->p[1] <= '9') return fail(j, "invalid number");
    int intpart = digits(j);
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (!digits(j) && !intpart) return fail(j, "invalid number");
    } else if (!intpart) {
        return fail(j, "invalid number");
    }
    if (j->p < j->e && (*j->p | 0x20) == 'e') {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-')) j->p++;
        if (!digits(j)) return fail(j, "invalid number");
    }
    return 0;
}

static int literal(jp_t *j, const char *word, size_t n)
{
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, word, n) != 0) return fail(j, "invalid value");
    j->p += n;
    return 0;
}

static int value(jp_t *j);

/* j->p at '[' or '{': enters the container. 1: it was empty (and is
 * closed), 0: it has elements or members, -1: too deeply nested. */
static int enter(jp_t *j, char close)
{
    if (++j->depth > PEEK_MAX_DEPTH) return fail(j, "too deeply nested");
    j->p++;
    ws(j);
    if (j->p < j->e && *j->p == close) {
        j->p++;
        j->depth--;
        return 1;
    }
    return 0;
}

/* After an element or member: 1 at the closing bracket (not consumed), 0
 * past a comma, -1 on anything else. */
static int after_item(jp_t *j, char close)
{
    ws(j);
    if (j->p >= j->e) return fail(j, close == ']' ? "unterminated array" : "unterminated object");
    if (*j->p == close) return 1;
    if (*j->p != ',') return fail(j, close == ']' ? "expected ',' or ']' in array" : "expected ',' or '}' in object");
    j->p++;
    return 0;
}

static int array(jp_t *j, int *nonempty)
{
    int empty = enter(j, ']');
    if (empty < 0) return -1;
    if (nonempty) *nonempty = !empty;
    if (empty) return 0;
    for (;;) {
        if (value(j)) return -1;
        int end = after_item(j, ']');
        if (end < 0) return -1;
        if (end) break;
    }
    j->p++;
    j->depth--;
    return 0;
}

/* A member name equal to `want` (escapes decoded when there are any). */
static int key_is(const char *k, size_t n, int esc, const char *want, size_t wn)
{
    if (!esc) return n == wn && memcmp(k, want, wn) == 0;
    char buf[96];   /* \uXXXX is 6 bytes for 1: a longer name cannot decode to a wanted one */
    if (n > sizeof buf || n > 6 * wn) return 0;
    size_t m = peek_unescape(k, n, buf);
    return m == wn && memcmp(buf, want, wn) == 0;
}
#define KEY_IS(k, n, esc, lit) key_is(k, n, esc, lit, sizeof(lit) - 1)

/* An object. When top is set (the body itself), its members are looked at;
 * `usage` (for stream_options) gets whether include_usage is true. */
static int object(jp_t *j, peek_t *top, int *usage)
{
    int empty = enter(j, '}');
    if (empty) return empty < 0 ? -1 : 0;
    for (;;) {
        if (j->p >= j->e || *j->p != '"') return fail(j, "expected a member name");
        const char *k;
        size_t kn;
        int kesc;
        if (string(j, &k, &kn, &kesc)) return -1;
        ws(j);
        if (j->p >= j->e || *j->p != ':') return fail(j, "expected ':' after a member name");
        j->p++;
        ws(j);
        if (j->p >= j->e) return fail(j, "expected a value");
        char c = *j->p;
        if (usage && KEY_IS(k, kn, kesc, "include_usage")) {
            *usage = c == 't';
            if (value(j)) return -1;
        } else if (!top) {
            if (value(j)) return -1;
        } else if (KEY_IS(k, kn, kesc, "model")) {
            top->flags |= PEEK_MODEL;
            if (c == '"') {
                top->flags |= PEEK_MODEL_STR;
                if (string(j, &top->model, &top->model_len, &top->model_escaped)) return -1;
            } else {
                top->flags &= ~PEEK_MODEL_STR;
                top->model = NULL;
                top->model_len = 0;
                if (value(j)) return -1;
            }
        } else if (KEY_IS(k, kn, kesc, "stream")) {
            top->flags = c == 't' ? top->flags | PEEK_STREAM : top->flags & ~PEEK_STREAM;
            if (value(j)) return -1;
        } else if (KEY_IS(k, kn, kesc, "stream_options")) {
            int u = 0;
            if (c == '{' ? object(j, NULL, &u) : value(j)) return -1;
            top->flags = u ? top->flags | PEEK_USAGE : top->flags & ~PEEK_USAGE;
        } else if (KEY_IS(k, kn, kesc, "messages") || KEY_IS(k, kn, kesc, "contents")) {
            int bit = KEY_IS(k, kn, kesc, "messages") ? PEEK_MESSAGES : PEEK_CONTENTS;
            int ne = 0;
            if (c == '[' ? array(j, &ne) : value(j)) return -1;
            top->flags = ne ? top->flags | bit : top->flags & ~bit;
        } else {
            if (value(j)) return -1;
        }
        int end = after_item(j, '}');
        if (end < 0) return -1;
        if (end) break;
        ws(j);
    }
    j->p++;
    j->depth--;
    return 0;
}

static int value(jp_t *j)
{
    ws(j);
    if (j->p >= j->e) return fail(j, "expected a value");
    switch (*j->p) {
    case '{': return object(j, NULL, NULL);
    case '[': return array(j, NULL);
    case '"': return string(j, NULL, NULL, NULL);
    case 't': return literal(j, "true", 4);
    case 'f': return literal(j, "false", 5);
    case 'n': return literal(j, "null", 4);
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) return number(j);   /* ".5" no, "-.5" yes */
        return fail(j, "invalid value");
    }
}

int peek_body(const char *p, size_t n, peek_t *out)
{
    memset(out, 0, sizeof *out);
    jp_t j = { p, p + n, 0, NULL };
    ws(&j);
    int rc;
    if (j.p < j.e && *j.p == '{') {
        out->flags |= PEEK_OBJECT;
        rc = object(&j, out, NULL);
    } else {
        rc = value(&j);
    }
    if (rc == 0) {
        ws(&j);
        if (j.p != j.e) rc = fail(&j, "unexpected data after the JSON value");
    }
    if (rc != 0) {
        out->flags = 0;
        out->model = NULL;
        out->model_len = 0;
        out->err = j.err;
        out->err_at = (size_t)(j.p - p);
        return -1;
    }
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t peek_unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) { out[o++] = s[i]; continue; }
        char c = s[++i];
        switch (c) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            if (!hex4(s + i + 1, s + n)) { out[o++] = 'u'; break; }
            unsigned cp = unhex4(s + i + 1);
            i += 4;                                   /* at the last hex digit */
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u'
                && hex4(s + i + 3, s + n)) {
                unsigned lo = unhex4(s + i + 3);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            o += put_utf8(out + o, cp);
            break;
        }
        default: out[o++] = c; break;   /* \" \\ \/ */
        }
    }
    return o;
}
