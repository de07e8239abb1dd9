/* peek.h - what routing needs from a client's JSON body, read in one pass
 * over its bytes without decoding it: whether it is valid JSON and an
 * object, its `model`, `stream`, `stream_options.include_usage`, and whether
 * `messages` / `contents` are non-empty arrays. The stock router reads these
 * (moongate.request req:_peek); a policy that wants more still gets the full
 * decode from req:json(). Pure functions over byte ranges; no allocation.
 *
 * Duplicate members: the last one wins, as with cjson's decode. */
#ifndef MOONGATE_PEEK_H
#define MOONGATE_PEEK_H

#include <stddef.h>

enum {
    PEEK_OBJECT   = 1,    /* the body is a JSON object */
    PEEK_STREAM   = 2,    /* "stream": true */
    PEEK_USAGE    = 4,    /* "stream_options": {"include_usage": true} */
    PEEK_MESSAGES = 8,    /* "messages" is an array with at least one element */
    PEEK_CONTENTS = 16,   /* "contents" likewise (Gemini) */
    PEEK_MODEL    = 32,   /* "model" is present (any type) */
    PEEK_MODEL_STR = 64,  /* ... and a string: see model, model_len */
};

#define PEEK_MAX_DEPTH 1000   /* cjson's decode limit */

typedef struct peek {
    int flags;
    const char *model;    /* the raw string between the quotes (escapes kept) */
    size_t model_len;
    int model_escaped;    /* it contains a backslash: use peek_unescape */
    const char *err;      /* when invalid: what is wrong ... */
    size_t err_at;        /* ... and at which byte offset */
} peek_t;

/* Scans p[0..n). Returns 0 for valid JSON (out->flags say what was seen),
 * -1 for invalid JSON (out->err, out->err_at). */
int peek_body(const char *p, size_t n, peek_t *out);

/* Decodes the JSON string escapes of s[0..n) (the bytes between the quotes)
 * into out, which needs n bytes; returns the decoded length. \uXXXX becomes
 * UTF-8 (a surrogate pair one 4-byte sequence, a lone surrogate U+FFFD). */
size_t peek_unescape(const char *s, size_t n, char *out);

#endif
