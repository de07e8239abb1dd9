/*
 * json.c - just enough JSON for the mock provider: walk the members of one
 * object, skip any value without decoding it, and escape bytes into a JSON
 * string. No allocation, no decoding of escapes: the mock echoes what it was
 * given (a model name arrives JSON-escaped and leaves the same way).
 */
#include "mock.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* Nesting deeper than this is refused rather than scanned: a hostile body
 * cannot make the skipper loop forever, and no real request nests this deep. */
#define MJSON_MAX_DEPTH 256

const char *mjson_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns just past the closing quote or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p >= end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

const char *mjson_skip_value(const char *p, const char *end)
{
    p = mjson_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        char stack[MJSON_MAX_DEPTH];
        int depth = 0;
        stack[depth++] = *p == '{' ? '}' : ']';
        for (p++; p < end; p++) {
            switch (*p) {
            case '"':
                p = skip_string(p, end);
                if (!p)
                    return NULL;
                p--;
                break;
            case '{': case '[':
                if (depth == MJSON_MAX_DEPTH)
                    return NULL;
                stack[depth++] = *p == '{' ? '}' : ']';
                break;
            case '}': case ']':
                if (stack[--depth] != *p)
                    return NULL;
                if (depth == 0)
                    return p + 1;
                break;
            default:
                break;
            }
        }
        return NULL;
    }
    /* number or literal: up to a delimiter */
    const char *s = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
           *p != '\t' && *p != '\n' && *p != '\r')
        p++;
    return p > s ? p : NULL;
}

int mjson_object(const char *p, const char *end, mjson_member_cb cb, void *ud)
{
    int stopped = 0;
    p = mjson_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    p = mjson_ws(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        if (p >= end || *p != '"')
            return -1;
        const char *k = p + 1, *ke = skip_string(p, end);
        if (!ke)
            return -1;
        p = mjson_ws(ke, end);
        if (p >= end || *p != ':')
            return -1;
        const char *v = mjson_ws(p + 1, end), *ve = mjson_skip_value(v, end);
        if (!ve)
            return -1;
        if (!stopped && cb && cb(k, (size_t)(ke - 1 - k), v, ve, ud))
            stopped = 1; /* keep scanning: the caller still wants a validity verdict */
        p = mjson_ws(ve, end);
        if (p < end && *p == ',') {
            p = mjson_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            return 0;
        return -1;
    }
}

int mjson_array(const char *p, const char *end, mjson_elem_cb cb, void *ud)
{
    p = mjson_ws(p, end);
    if (p >= end || *p != '[')
        return -1;
    p = mjson_ws(p + 1, end);
    if (p < end && *p == ']')
        return 0;
    for (;;) {
        const char *ve = mjson_skip_value(p, end);
        if (!ve)
            return -1;
        if (cb && cb(p, ve, ud))
            return 0;
        p = mjson_ws(ve, end);
        if (p < end && *p == ',') {
            p = mjson_ws(p + 1, end);
            continue;
        }
        return p < end && *p == ']' ? 0 : -1;
    }
}

int mjson_is(const char *val, const char *vend, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(vend - val) == n && memcmp(val, lit, n) == 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlongs, surrogates and > U+10FFFF */
    if (c == 0xe0 && s[1] < 0xa0) return 0;
    if (c == 0xed && s[1] > 0x9f) return 0;
    if (c == 0xf0 && s[1] < 0x90) return 0;
    if (c == 0xf4 && s[1] > 0x8f) return 0;
    return len;
}

void mjson_escape(struct evbuffer *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n, *run = p;
    while (p < e) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_len(p, (size_t)(e - p));
            if (l) {
                p += l;
                continue;
            }
        }
        if (p > run)
            evbuffer_add(out, run, (size_t)(p - run));
        switch (c) {
        case '"': evbuffer_add(out, "\\\"", 2); break;
        case '\\': evbuffer_add(out, "\\\\", 2); break;
        case '\n': evbuffer_add(out, "\\n", 2); break;
        case '\r': evbuffer_add(out, "\\r", 2); break;
        case '\t': evbuffer_add(out, "\\t", 2); break;
        default:
            if (c < 0x20)
                evbuffer_add_printf(out, "\\u%04x", c);
            else
                evbuffer_add(out, "\\ufffd", 6); /* invalid UTF-8 byte */
        }
        run = ++p;
    }
    if (p > run)
        evbuffer_add(out, run, (size_t)(p - run));
}

char *mjson_escape_dup(const char *s, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    char *out = NULL;
    if (!b)
        return NULL;
    mjson_escape(b, s, n);
    size_t len = evbuffer_get_length(b);
    if ((out = malloc(len + 1)) != NULL) {
        evbuffer_remove(b, out, len);
        out[len] = 0;
    }
    evbuffer_free(b);
    return out;
}

/* ---- the mock's token count ---------------------------------------------- */

/* Nesting walked by the word count; deeper values are not counted (a
 * count body this deep is not a prompt anyone sends). */
#define WORDS_MAX_DEPTH 64

struct words {
    long n;
    int depth;
};

/* Words in the raw string [v, ve) (quotes included, escapes untouched). */
static long words_in(const char *v, const char *ve)
{
    long n = 0;
    int in_word = 0;
    for (const char *p = v + 1; p < ve - 1; p++) {
        int blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
        if (*p == '\\' && p + 1 < ve - 1) {
            blank = p[1] == 'n' || p[1] == 't' || p[1] == 'r';
            p++; /* the escaped byte belongs to the escape */
        }
        if (blank) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            n++;
        }
    }
    return n;
}

static void words_value(const char *v, const char *ve, struct words *w);

static int words_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    struct words *w = ud;
    if (*v == '"') {
        if (mock_key_is(k, klen, "text") || mock_key_is(k, klen, "content") ||
            mock_key_is(k, klen, "system"))
            w->n += words_in(v, ve);
    } else {
        words_value(v, ve, w);
    }
    return 0;
}

static int words_elem(const char *v, const char *ve, void *ud)
{
    words_value(v, ve, ud);
    return 0;
}

static void words_value(const char *v, const char *ve, struct words *w)
{
    if (w->depth >= WORDS_MAX_DEPTH)
        return;
    w->depth++;
    if (*v == '{')
        mjson_object(v, ve, words_member, w);
    else if (*v == '[')
        mjson_array(v, ve, words_elem, w);
    w->depth--;
}

long mjson_count_words(const char *p, const char *end)
{
    struct words w = {0, 0};
    p = mjson_ws(p, end);
    if (p < end)
        words_value(p, end, &w);
    return w.n;
}
