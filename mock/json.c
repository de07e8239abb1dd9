/*
 * json.c - just enough JSON for the mock provider: walk the members of one
 * object, skip any value without decoding it, and escape bytes into a JSON
 * string. No allocation, no decoding of escapes: the mock echoes what it was
 * given (a model name arrives JSON-escaped and leaves the same way).
 * For request validation (validate*.c) it also parses a body strictly into a
 * tree of nodes that point into the body (mjson_parse; the tree owns the
 * nodes, allocated in chunks, and is freed in one call).
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

/* ---- a small tree, for request validation (validate.c) -------------------- */

/* Nodes come from chunks of this many: one malloc per 128 values keeps a
 * typical chat body to one or two allocations. */
#define MJT_CHUNK 128
/* A tree holds at most this many values (about 80 MiB of nodes): a body of
 * more is not parsed (mjson_parse sets *too_big), so a 64 MiB array of
 * zeros cannot make the mock allocate gigabytes. */
#define MJT_MAX_NODES (1u << 20)

struct mjt_chunk {
    struct mjt_chunk *next;
    size_t used;
    struct mjnode n[MJT_CHUNK];
};

struct mjtree {
    struct mjt_chunk *chunks;
    const char *end;
    size_t nodes;
};

static struct mjnode *mjt_new(struct mjtree *t)
{
    struct mjt_chunk *c = t->chunks;
    if (t->nodes++ >= MJT_MAX_NODES)
        return NULL;
    if (!c || c->used == MJT_CHUNK) {
        if (!(c = malloc(sizeof(*c))))
            return NULL;
        c->next = t->chunks;
        c->used = 0;
        t->chunks = c;
    }
    struct mjnode *n = &c->n[c->used++];
    memset(n, 0, sizeof(*n));
    return n;
}

static int hexdig(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A JSON string at p (the opening quote), strictly: no raw control bytes,
 * only the escapes JSON has. Returns just past the closing quote or NULL. */
static const char *strict_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u':
                if (end - p < 5 || !hexdig(p[1]) || !hexdig(p[2]) || !hexdig(p[3]) || !hexdig(p[4]))
                    return NULL;
                p += 4;
                break;
            default:
                return NULL;
            }
        }
    }
    return NULL;
}

/* A JSON number at p, by the grammar. Returns just past it or NULL; *is_int
 * is set when it has neither a fraction nor an exponent. */
static const char *strict_number(const char *p, const char *end, int *is_int)
{
    const char *s = p;
    *is_int = 1;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (p < end && *p == '.') {
        *is_int = 0;
        if (++p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *parse_value(struct mjtree *t, const char *p, struct mjnode *n, int depth);

static const char *parse_members(struct mjtree *t, const char *p, struct mjnode *n, int depth)
{
    const char *end = t->end;
    struct mjnode **tail = &n->child;
    p = mjson_ws(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= end || *p != '"')
            return NULL;
        const char *ke = strict_string(p, end);
        struct mjnode *m = ke ? mjt_new(t) : NULL;
        if (!m)
            return NULL;
        m->key = p + 1;
        m->klen = (size_t)(ke - 1 - (p + 1));
        p = mjson_ws(ke, end);
        if (p >= end || *p != ':')
            return NULL;
        if (!(p = parse_value(t, mjson_ws(p + 1, end), m, depth + 1)))
            return NULL;
        *tail = m;
        tail = &m->next;
        n->count++;
        p = mjson_ws(p, end);
        if (p < end && *p == ',') {
            p = mjson_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' ? p + 1 : NULL;
    }
}

static const char *parse_elements(struct mjtree *t, const char *p, struct mjnode *n, int depth)
{
    const char *end = t->end;
    struct mjnode **tail = &n->child;
    p = mjson_ws(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        struct mjnode *e = mjt_new(t);
        if (!e || !(p = parse_value(t, p, e, depth + 1)))
            return NULL;
        *tail = e;
        tail = &e->next;
        n->count++;
        p = mjson_ws(p, end);
        if (p < end && *p == ',') {
            p = mjson_ws(p + 1, end);
            continue;
        }
        return p < end && *p == ']' ? p + 1 : NULL;
    }
}

static const char *parse_value(struct mjtree *t, const char *p, struct mjnode *n, int depth)
{
    const char *end = t->end, *e;
    if (depth >= MJSON_MAX_DEPTH || p >= end)
        return NULL;
    n->s = p;
    switch (*p) {
    case '{':
        n->type = MJ_OBJ;
        e = parse_members(t, p, n, depth);
        break;
    case '[':
        n->type = MJ_ARR;
        e = parse_elements(t, p, n, depth);
        break;
    case '"':
        n->type = MJ_STR;
        if ((e = strict_string(p, end)) != NULL) {
            n->s = p + 1;
            n->n = (size_t)(e - 1 - n->s);
        }
        return e;
    case 't': case 'f': case 'n': {
        static const char *const lits[] = {"true", "false", "null"};
        int i = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        size_t l = strlen(lits[i]);
        if ((size_t)(end - p) < l || memcmp(p, lits[i], l) != 0)
            return NULL;
        n->type = i == 2 ? MJ_NULL : MJ_BOOL;
        n->b = i == 0;
        e = p + l;
        break;
    }
    default: {
        char num[64];
        n->type = MJ_NUM;
        if (!(e = strict_number(p, end, &n->is_int)))
            return NULL;
        size_t l = (size_t)(e - p) < sizeof(num) - 1 ? (size_t)(e - p) : sizeof(num) - 1;
        memcpy(num, p, l);
        num[l] = 0;
        n->num = strtod(num, NULL);
        break;
    }
    }
    if (e)
        n->n = (size_t)(e - p);
    return e;
}

struct mjnode *mjson_parse(const char *p, size_t len, struct mjtree **tree, int *too_big)
{
    struct mjtree *t = calloc(1, sizeof(*t));
    struct mjnode *root;
    *tree = t;
    *too_big = 0;
    if (!t) {
        *too_big = 1; /* out of memory: not a verdict on the text */
        return NULL;
    }
    t->end = p + len;
    p = mjson_ws(p, t->end);
    if (!(root = mjt_new(t)) || !(p = parse_value(t, p, root, 0)) || mjson_ws(p, t->end) != t->end) {
        *too_big = t->nodes > MJT_MAX_NODES;
        return NULL;
    }
    return root;
}

void mjson_tree_free(struct mjtree *t)
{
    if (!t)
        return;
    while (t->chunks) {
        struct mjt_chunk *c = t->chunks;
        t->chunks = c->next;
        free(c);
    }
    free(t);
}

struct mjnode *mj_get(const struct mjnode *obj, const char *key)
{
    if (!obj || obj->type != MJ_OBJ)
        return NULL;
    for (struct mjnode *m = obj->child; m; m = m->next)
        if (mock_key_is(m->key, m->klen, key))
            return m;
    return NULL;
}

int mj_str_is(const struct mjnode *n, const char *s)
{
    return n && n->type == MJ_STR && mock_key_is(n->s, n->n, s);
}
