/*
 * validate.h - the mock provider's request validation: each dialect's API
 * refuses what the real one refuses (/work/shared/PROTOCOLS.md; the rules,
 * with the section each comes from, are in validate.c, validate_anthropic.c
 * and validate_gemini.c). The dialect files call one function per endpoint
 * at parse time and answer the error in their own envelope; the fault key
 * `lax=1` skips the call (main.c).
 *
 * Only what a translator could get wrong is checked: shapes, required and
 * unknown members, value ranges, the order of tool calls and their results.
 * Content (model names, image bytes, schema semantics) is not judged.
 */
#ifndef MOCK_VALIDATE_H
#define MOCK_VALIDATE_H

#include <stddef.h>

#include "mock.h"

/* Why a body was refused. Anthropic and Gemini use msg only; OpenAI also
 * param ("" = null) and code (NULL = null). */
struct mock_verr {
    char msg[512];
    char param[160];
    const char *code;
};

/* Each returns 0 when the real API would accept the body, else -1 with e
 * filled. A body that is not JSON at all is refused too (the dialect's own
 * check usually answers first); one of more than 2^20 JSON values is not
 * judged (0), so a huge body cannot make the mock allocate gigabytes. */
int mock_validate_openai_chat(const char *body, size_t len, int azure, struct mock_verr *e);
int mock_validate_anthropic(const char *body, size_t len, int count_tokens, struct mock_verr *e);
int mock_validate_gemini(const char *body, size_t len, int count_tokens, struct mock_verr *e);
/* A malloc'd copy of e for the job to keep (NULL on ENOMEM: then the body
 * is answered as if valid). */
struct mock_verr *mock_verr_dup(const struct mock_verr *e);

/* ---- shared by validate*.c ----------------------------------------------- */

/* Parses body and runs check(e, root, arg) on it; a body that is not JSON
 * fails with bad_json as the message, one too big to judge passes (0). */
struct mjnode;
typedef int (*vcheck_fn)(struct mock_verr *e, const struct mjnode *root, int arg);
int vrun(const char *body, size_t len, struct mock_verr *e, vcheck_fn check, int arg, const char *bad_json);

/* Fills e and returns -1 (so `return vfail(...)` ends a check). */
int vfail(struct mock_verr *e, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Schema walks stop descending below this depth (accepted, not judged):
 * no real schema nests this deep, and each level costs a path buffer. */
#define VALIDATE_MAX_DEPTH 48
/* Paths in messages ("messages.3.content.1", "contents[2].parts[0]") are cut
 * at this length; long enough for any real nesting. */
#define VPATH 256

/* snprintf into a path buffer of VPATH bytes, cut when longer (a wrapper,
 * so the compiler does not warn about every possible cut). */
void vpath(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The member's key as printf arguments: "%.*s", VKEY(m). */
#define VKEY(m) (int)((m)->klen > 64 ? 64 : (m)->klen), (m)->key

/* True when the name is one of the NULL-terminated list. */
int vkey_in(const char *k, size_t klen, const char *const *names);
/* An integral number (1, 1.0, 1e3) in [lo, hi]. */
int vint(const struct mjnode *n, double lo, double hi);
/* A string matching ^[a-zA-Z0-9_-]{1,max}$ (the APIs' tool and schema names). */
int vname(const struct mjnode *n, size_t max);
/* A JSON number in [lo, hi]. */
int vnum(const struct mjnode *n, double lo, double hi);
/* Standard or URL-safe base64, padding optional ("\/" counts as '/', as
 * lua-cjson writes it). Empty is not base64 here. */
int vbase64(const struct mjnode *n);

#endif
