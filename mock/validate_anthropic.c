/*
 * validate_anthropic.c - what the Anthropic Messages API refuses (POST
 * /v1/messages and /v1/messages/count_tokens), for the mock provider.
 *
 * Rules cite /work/shared/PROTOCOLS.md ("P2.2" = section 2.2); "(API)" marks
 * the API's own validation that PROTOCOLS does not spell out. Messages follow
 * the API's pydantic wording: "<path>: <problem>", the path dotted with
 * indexes ("messages.1.content.0.tool_use.input: Input should be a valid
 * dictionary"). The dialect answers 400 invalid_request_error with it.
 *
 * Consecutive messages of the same role are one turn (P2.2: the API merges
 * them) for the tool rules: every tool_use of an assistant turn needs its
 * tool_result at the start of the next turn, and every tool_result must
 * answer a tool_use of the turn right before it.
 */
#include "validate.h"

#include <stdio.h>
#include <string.h>

#define EXPECTED_BLOCKS "'text', 'image', 'document', 'search_result', 'thinking', " \
    "'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use', 'web_search_tool_result'"

/* Server-side and newer blocks: accepted as they are (P2.2, P2.3 lists). */
static const char *const OTHER_BLOCKS[] = {
    "search_result", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
    "code_execution_tool_result", "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result", "mcp_tool_use", "mcp_tool_result", "container_upload",
    NULL};

/* "<path>.<key>: Extra inputs are not permitted" for the first member of obj
 * not in keys (API: the request models forbid extra members). */
static int an_extra(struct mock_verr *e, const char *path, const struct mjnode *obj,
                    const char *const *keys)
{
    for (const struct mjnode *m = obj->child; m; m = m->next)
        if (!vkey_in(m->key, m->klen, keys))
            return vfail(e, NULL, NULL, "%s%s%.*s: Extra inputs are not permitted", path,
                         *path ? "." : "", VKEY(m));
    return 0;
}

static int an_dict(struct mock_verr *e, const char *path, const struct mjnode *n)
{
    if (n->type == MJ_OBJ)
        return 0;
    return vfail(e, NULL, NULL, "%s: Input should be a valid dictionary or object to extract fields from",
                 path);
}

/* A required string member; non-empty when `nonempty`. */
static int an_string(struct mock_verr *e, const char *path, const struct mjnode *obj, const char *key,
                     int nonempty)
{
    const struct mjnode *v = mj_get(obj, key);
    if (!v)
        return vfail(e, NULL, NULL, "%s.%s: Field required", path, key);
    if (v->type != MJ_STR)
        return vfail(e, NULL, NULL, "%s.%s: Input should be a valid string", path, key);
    if (nonempty && v->n == 0)
        return vfail(e, NULL, NULL, "%s.%s: String should have at least 1 character", path, key);
    return 0;
}

static int an_tag(struct mock_verr *e, const char *path, const struct mjnode *t, const char *expected)
{
    if (!t)
        return vfail(e, NULL, NULL, "%s: Unable to extract tag using discriminator 'type'", path);
    return vfail(e, NULL, NULL, "%s: Input tag '%.*s' found using 'type' does not match any of the "
                 "expected tags: %s", path, t->type == MJ_STR ? (int)(t->n > 64 ? 64 : t->n) : 0, t->s,
                 expected);
}

/* image / document `source` (P2.2 request content blocks). */
static int an_source(struct mock_verr *e, const char *path, const struct mjnode *b, int document)
{
    static const char *const img_types[] = {"image/jpeg", "image/png", "image/gif", "image/webp", NULL};
    static const char *const b64_keys[] = {"type", "media_type", "data", NULL};
    static const char *const url_keys[] = {"type", "url", NULL};
    static const char *const file_keys[] = {"type", "file_id", NULL};
    static const char *const content_keys[] = {"type", "content", NULL};
    char sp[VPATH], tp[VPATH];
    const struct mjnode *s = mj_get(b, "source"), *t, *mt;
    vpath(sp, "%s.source", path);
    if (!s)
        return vfail(e, NULL, NULL, "%s: Field required", sp);
    if (an_dict(e, sp, s) != 0)
        return -1;
    t = mj_get(s, "type");
    if (mj_str_is(t, "base64") || (document && mj_str_is(t, "text"))) {
        int text = mj_str_is(t, "text");
        vpath(tp, "%s.%s", sp, text ? "text" : "base64");
        if (an_extra(e, tp, s, b64_keys) || an_string(e, tp, s, "media_type", 0) ||
            an_string(e, tp, s, "data", !text))
            return -1;
        mt = mj_get(s, "media_type");
        if (text && !mj_str_is(mt, "text/plain"))
            return vfail(e, NULL, NULL, "%s.media_type: Input should be 'text/plain'", tp);
        if (!text && document && !mj_str_is(mt, "application/pdf"))
            return vfail(e, NULL, NULL, "%s.media_type: Input should be 'application/pdf'", tp);
        if (!document && !vkey_in(mt->s, mt->n, img_types))
            return vfail(e, NULL, NULL, "%s.media_type: Input should be 'image/jpeg', 'image/png', "
                         "'image/gif' or 'image/webp'", tp);
        return 0;
    }
    if (mj_str_is(t, "url")) {
        vpath(tp, "%s.url", sp);
        return an_extra(e, tp, s, url_keys) || an_string(e, tp, s, "url", 1) ? -1 : 0;
    }
    if (mj_str_is(t, "file")) {
        vpath(tp, "%s.file", sp);
        return an_extra(e, tp, s, file_keys) || an_string(e, tp, s, "file_id", 1) ? -1 : 0;
    }
    if (document && mj_str_is(t, "content")) {
        vpath(tp, "%s.content", sp);
        return an_extra(e, tp, s, content_keys);
    }
    return an_tag(e, sp, t, document ? "'base64', 'text', 'content', 'url', 'file'"
                                     : "'base64', 'url', 'file'");
}

enum an_where { AN_USER, AN_ASSISTANT, AN_RESULT, AN_SYSTEM };

static int an_block(struct mock_verr *e, const char *path, const struct mjnode *b, enum an_where where);

/* tool_result.content: a string or text/image/document/search_result blocks (P2.2). */
static int an_result_content(struct mock_verr *e, const char *path, const struct mjnode *b)
{
    const struct mjnode *c = mj_get(b, "content");
    char cp[VPATH];
    if (!c || c->type == MJ_STR)
        return 0;
    vpath(cp, "%s.content", path);
    if (c->type != MJ_ARR)
        return vfail(e, NULL, NULL, "%s: Input should be a valid list", cp);
    int k = 0;
    for (const struct mjnode *x = c->child; x; x = x->next, k++) {
        char xp[VPATH];
        vpath(xp, "%s.%d", cp, k);
        if (an_block(e, xp, x, AN_RESULT) != 0)
            return -1;
    }
    return 0;
}

/* One content block (P2.2 "Request content blocks"): its members, and the
 * role it may appear in (tool_use/thinking: assistant turns; tool_result:
 * user turns). */
static int an_block(struct mock_verr *e, const char *path, const struct mjnode *b, enum an_where where)
{
    static const char *const text_keys[] = {"type", "text", "cache_control", "citations", NULL};
    static const char *const image_keys[] = {"type", "source", "cache_control", NULL};
    static const char *const doc_keys[] = {"type", "source", "title", "context", "citations",
                                           "cache_control", NULL};
    static const char *const use_keys[] = {"type", "id", "name", "input", "cache_control", NULL};
    static const char *const result_keys[] = {"type", "tool_use_id", "content", "is_error",
                                              "cache_control", NULL};
    static const char *const thinking_keys[] = {"type", "thinking", "signature", NULL};
    static const char *const redacted_keys[] = {"type", "data", NULL};
    char tp[VPATH];
    if (an_dict(e, path, b) != 0)
        return -1;
    const struct mjnode *t = mj_get(b, "type");
    if (!t || t->type != MJ_STR)
        return an_tag(e, path, t, EXPECTED_BLOCKS);
    vpath(tp, "%s.%.*s", path, (int)(t->n > 40 ? 40 : t->n), t->s);
    if (mj_str_is(t, "text")) {
        if (an_extra(e, tp, b, text_keys) || an_string(e, tp, b, "text", 0))
            return -1;
        if (mj_get(b, "text")->n == 0) /* P2.2: text blocks must be non-empty */
            return vfail(e, NULL, NULL, "%s: text content blocks must be non-empty",
                         where == AN_SYSTEM ? "system" : "messages");
        return 0;
    }
    if (where == AN_SYSTEM) /* P2.2: system is a string or an array of text blocks */
        return vfail(e, NULL, NULL, "%s.type: Input should be 'text'", path);
    if (mj_str_is(t, "image"))
        return an_extra(e, tp, b, image_keys) || an_source(e, tp, b, 0) ? -1 : 0;
    if (mj_str_is(t, "document"))
        return an_extra(e, tp, b, doc_keys) || an_source(e, tp, b, 1) ? -1 : 0;
    if (vkey_in(t->s, t->n, OTHER_BLOCKS))
        return 0;
    if (where == AN_RESULT) /* P2.2: tool_result content holds text|image|document|search_result */
        return an_tag(e, path, t, "'text', 'image', 'document', 'search_result'");
    if (mj_str_is(t, "tool_use")) {
        const struct mjnode *in = mj_get(b, "input");
        if (an_extra(e, tp, b, use_keys) || an_string(e, tp, b, "id", 1) || an_string(e, tp, b, "name", 1))
            return -1;
        if (!in)
            return vfail(e, NULL, NULL, "%s.input: Field required", tp);
        if (in->type != MJ_OBJ) /* P2.2: input is an object */
            return vfail(e, NULL, NULL, "%s.input: Input should be a valid dictionary", tp);
        if (where != AN_ASSISTANT)
            return vfail(e, NULL, NULL, "%s: `tool_use` blocks can only be in `assistant` messages", path);
        return 0;
    }
    if (mj_str_is(t, "tool_result")) {
        const struct mjnode *ie = mj_get(b, "is_error");
        if (an_extra(e, tp, b, result_keys) || an_string(e, tp, b, "tool_use_id", 1) ||
            an_result_content(e, tp, b))
            return -1;
        if (ie && ie->type != MJ_BOOL)
            return vfail(e, NULL, NULL, "%s.is_error: Input should be a valid boolean", tp);
        if (where != AN_USER)
            return vfail(e, NULL, NULL, "%s: `tool_result` blocks can only be in `user` messages", path);
        return 0;
    }
    if (mj_str_is(t, "thinking") || mj_str_is(t, "redacted_thinking")) {
        int red = mj_str_is(t, "redacted_thinking");
        if (an_extra(e, tp, b, red ? redacted_keys : thinking_keys))
            return -1;
        if (red ? an_string(e, tp, b, "data", 0)
                : an_string(e, tp, b, "thinking", 0) || an_string(e, tp, b, "signature", 0))
            return -1;
        if (where != AN_ASSISTANT)
            return vfail(e, NULL, NULL, "%s: thinking blocks can only be in `assistant` messages", path);
        return 0;
    }
    return an_tag(e, path, t, EXPECTED_BLOCKS);
}

/* A message's content is empty ("" or []): the API refuses that except for
 * a final assistant message (API; P2.2 "text blocks must be non-empty"). */
static int content_empty(const struct mjnode *c)
{
    return c->type == MJ_STR ? c->n == 0 : c->type == MJ_ARR && c->count == 0;
}

static int an_message(struct mock_verr *e, int i, const struct mjnode *m, int last)
{
    static const char *const keys[] = {"role", "content", NULL};
    char path[VPATH];
    vpath(path, "messages.%d", i);
    if (an_dict(e, path, m) || an_extra(e, path, m, keys))
        return -1;
    const struct mjnode *role = mj_get(m, "role"), *c = mj_get(m, "content");
    if (!role)
        return vfail(e, NULL, NULL, "%s.role: Field required", path);
    /* P2.2: roles are user and assistant; system is top-level, not a role */
    if (!mj_str_is(role, "user") && !mj_str_is(role, "assistant"))
        return vfail(e, NULL, NULL, "%s.role: Input should be 'user' or 'assistant'", path);
    int user = mj_str_is(role, "user");
    if (!c)
        return vfail(e, NULL, NULL, "%s.content: Field required", path);
    if (c->type != MJ_STR && c->type != MJ_ARR)
        return vfail(e, NULL, NULL, "%s.content: Input should be a valid list", path);
    if (content_empty(c) && !(last && !user))
        return vfail(e, NULL, NULL, "%s: all messages must have non-empty content except for the "
                     "optional final assistant message", path);
    int k = 0;
    for (const struct mjnode *b = c->type == MJ_ARR ? c->child : NULL; b; b = b->next, k++) {
        char bp[VPATH];
        vpath(bp, "%s.content.%d", path, k);
        if (an_block(e, bp, b, user ? AN_USER : AN_ASSISTANT) != 0)
            return -1;
    }
    return 0;
}

/* ---- tool_use / tool_result pairing over merged turns (P2.2 MUST) ------------ */

static int same_str(const struct mjnode *a, const struct mjnode *b)
{
    return a && b && a->type == MJ_STR && b->type == MJ_STR && a->n == b->n &&
           memcmp(a->s, b->s, a->n) == 0;
}

static int is_block(const struct mjnode *b, const char *type)
{
    return mj_str_is(mj_get(b, "type"), type);
}

/* Messages [from, to) of msgs: does one of their tool_use blocks have this id? */
static int turn_has_use(const struct mjnode *from, const struct mjnode *to, const struct mjnode *id)
{
    for (const struct mjnode *m = from; m != to; m = m->next) {
        const struct mjnode *c = mj_get(m, "content");
        for (const struct mjnode *b = c && c->type == MJ_ARR ? c->child : NULL; b; b = b->next)
            if (is_block(b, "tool_use") && same_str(mj_get(b, "id"), id))
                return 1;
    }
    return 0;
}

/* Does the leading run of tool_result blocks of the turn [from, to) answer id? */
static int turn_leads_with_result(const struct mjnode *from, const struct mjnode *to,
                                  const struct mjnode *id)
{
    for (const struct mjnode *m = from; m != to; m = m->next) {
        const struct mjnode *c = mj_get(m, "content");
        if (c->type == MJ_STR)
            return 0;
        for (const struct mjnode *b = c->child; b; b = b->next) {
            if (!is_block(b, "tool_result"))
                return 0;
            if (same_str(mj_get(b, "tool_use_id"), id))
                return 1;
        }
    }
    return 0;
}

static int an_tool_pairs(struct mock_verr *e, const struct mjnode *msgs)
{
    const struct mjnode *prev_from = NULL, *prev_to = NULL; /* the previous turn */
    int prev_user = 0, prev_at = 0, at = 0;
    const struct mjnode *m = msgs->child;
    while (m) {
        /* the turn: m and the messages of the same role after it */
        int user = mj_str_is(mj_get(m, "role"), "user"), start = at;
        const struct mjnode *from = m;
        while (m && mj_str_is(mj_get(m, "role"), "user") == user) {
            m = m->next;
            at++;
        }
        const struct mjnode *to = m;
        if (user && prev_from && !prev_user) {
            /* every tool_use of the assistant turn is answered first thing */
            int i = prev_at;
            for (const struct mjnode *a = prev_from; a != prev_to; a = a->next, i++) {
                const struct mjnode *c = mj_get(a, "content");
                for (const struct mjnode *b = c->type == MJ_ARR ? c->child : NULL; b; b = b->next) {
                    const struct mjnode *id = mj_get(b, "id");
                    if (is_block(b, "tool_use") && !turn_leads_with_result(from, to, id))
                        return vfail(e, NULL, NULL, "messages.%d: `tool_use` ids were found without "
                                     "`tool_result` blocks immediately after: %.*s. Each `tool_use` "
                                     "block must have a corresponding `tool_result` block in the next "
                                     "message.", i, (int)(id->n > 80 ? 80 : id->n), id->s);
                }
            }
        }
        if (user) {
            int i = start;
            for (const struct mjnode *u = from; u != to; u = u->next, i++) {
                const struct mjnode *c = mj_get(u, "content");
                int k = 0;
                for (const struct mjnode *b = c->type == MJ_ARR ? c->child : NULL; b; b = b->next, k++) {
                    const struct mjnode *id = mj_get(b, "tool_use_id");
                    if (is_block(b, "tool_result") &&
                        !(prev_from && !prev_user && turn_has_use(prev_from, prev_to, id)))
                        return vfail(e, NULL, NULL, "messages.%d.content.%d: unexpected `tool_use_id` "
                                     "found in `tool_result` blocks: %.*s. Each `tool_result` block "
                                     "must have a corresponding `tool_use` block in the previous "
                                     "message.", i, k, (int)(id->n > 80 ? 80 : id->n), id->s);
                }
            }
        }
        prev_from = from;
        prev_to = to;
        prev_user = user;
        prev_at = start;
    }
    return 0;
}

/* ---- top level ---------------------------------------------------------------- */

static int an_system(struct mock_verr *e, const struct mjnode *s)
{
    if (s->type == MJ_STR)
        return 0;
    if (s->type != MJ_ARR) /* P2.2: a string or an array of text blocks */
        return vfail(e, NULL, NULL, "system: Input should be a valid list");
    int k = 0;
    for (const struct mjnode *b = s->child; b; b = b->next, k++) {
        char bp[VPATH];
        vpath(bp, "system.%d", k);
        if (an_block(e, bp, b, AN_SYSTEM) != 0)
            return -1;
    }
    return 0;
}

/* A versioned server/client tool type: letters and '_' then "_YYYYMMDD". */
static int versioned_tool(const struct mjnode *t)
{
    if (!t || t->type != MJ_STR || t->n < 10 || t->s[t->n - 9] != '_')
        return 0;
    for (size_t i = t->n - 8; i < t->n; i++)
        if (t->s[i] < '0' || t->s[i] > '9')
            return 0;
    return 1;
}

/* tools[] (P2.2 `tools` row): custom tools need name + input_schema of type
 * "object"; versioned server tools pass. Names are unique (API). */
static int an_tools(struct mock_verr *e, const struct mjnode *tools)
{
    static const char *const keys[] = {"type", "name", "description", "input_schema", "cache_control",
                                       "strict", NULL};
    if (tools->type != MJ_ARR)
        return vfail(e, NULL, NULL, "tools: Input should be a valid list");
    int k = 0;
    for (const struct mjnode *t = tools->child; t; t = t->next, k++) {
        char path[VPATH];
        vpath(path, "tools.%d", k);
        if (an_dict(e, path, t) != 0)
            return -1;
        const struct mjnode *type = mj_get(t, "type"), *name = mj_get(t, "name"), *s;
        if (type && !mj_str_is(type, "custom")) {
            if (!versioned_tool(type))
                return an_tag(e, path, type, "'custom', 'bash_20250124', 'text_editor_20250124', "
                              "'web_search_20250305', ...");
            if (an_string(e, path, t, "name", 1) != 0)
                return -1;
            continue;
        }
        vpath(path, "tools.%d.custom", k);
        if (an_extra(e, path, t, keys) || an_string(e, path, t, "name", 1))
            return -1;
        if (!vname(name, 128))   /* ^[a-zA-Z0-9_-]{1,128}$ (API) */
            return vfail(e, NULL, NULL, "%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
                         path);
        if ((s = mj_get(t, "description")) && s->type != MJ_STR)
            return vfail(e, NULL, NULL, "%s.description: Input should be a valid string", path);
        if (!(s = mj_get(t, "input_schema")))
            return vfail(e, NULL, NULL, "%s.input_schema: Field required", path);
        if (s->type != MJ_OBJ)
            return vfail(e, NULL, NULL, "%s.input_schema: Input should be a valid dictionary", path);
        const struct mjnode *st = mj_get(s, "type");
        if (!st)
            return vfail(e, NULL, NULL, "%s.input_schema.type: Field required", path);
        if (!mj_str_is(st, "object"))
            return vfail(e, NULL, NULL, "%s.input_schema.type: Input should be 'object'", path);
        for (const struct mjnode *o = tools->child; o != t; o = o->next)
            if (same_str(mj_get(o, "name"), name))
                return vfail(e, NULL, NULL, "tools: Tool names must be unique.");
    }
    return 0;
}

/* tool_choice (P2.2 `tool_choice` row): auto | any | tool(name) | none;
 * disable_parallel_tool_use on the first three. */
static int an_tool_choice(struct mock_verr *e, const struct mjnode *tc)
{
    static const char *const keys[] = {"type", "disable_parallel_tool_use", NULL};
    static const char *const tool_keys[] = {"type", "name", "disable_parallel_tool_use", NULL};
    static const char *const none_keys[] = {"type", NULL};
    if (an_dict(e, "tool_choice", tc) != 0)
        return -1;
    const struct mjnode *t = mj_get(tc, "type"), *d = mj_get(tc, "disable_parallel_tool_use");
    if (mj_str_is(t, "auto") || mj_str_is(t, "any")) {
        if (an_extra(e, mj_str_is(t, "auto") ? "tool_choice.auto" : "tool_choice.any", tc, keys))
            return -1;
    } else if (mj_str_is(t, "tool")) {
        if (an_extra(e, "tool_choice.tool", tc, tool_keys) || an_string(e, "tool_choice.tool", tc, "name", 1))
            return -1;
    } else if (mj_str_is(t, "none")) {
        return an_extra(e, "tool_choice.none", tc, none_keys);
    } else {
        return an_tag(e, "tool_choice", t, "'auto', 'any', 'tool', 'none'");
    }
    if (d && d->type != MJ_BOOL)
        return vfail(e, NULL, NULL, "tool_choice.%.*s.disable_parallel_tool_use: Input should be a "
                     "valid boolean", (int)t->n, t->s);
    return 0;
}

/* thinking (P2.2 `thinking` row); budget_tokens >= 1024 and below
 * max_tokens (API; P3.1 note on reasoning_effort). */
static int an_thinking(struct mock_verr *e, const struct mjnode *th, const struct mjnode *max)
{
    static const char *const en_keys[] = {"type", "budget_tokens", NULL};
    static const char *const keys[] = {"type", NULL};
    if (an_dict(e, "thinking", th) != 0)
        return -1;
    const struct mjnode *t = mj_get(th, "type"), *b = mj_get(th, "budget_tokens");
    if (mj_str_is(t, "disabled") || mj_str_is(t, "adaptive"))
        return an_extra(e, mj_str_is(t, "disabled") ? "thinking.disabled" : "thinking.adaptive", th, keys);
    if (!mj_str_is(t, "enabled"))
        return an_tag(e, "thinking", t, "'enabled', 'disabled', 'adaptive'");
    if (an_extra(e, "thinking.enabled", th, en_keys) != 0)
        return -1;
    if (!b)
        return vfail(e, NULL, NULL, "thinking.enabled.budget_tokens: Field required");
    if (!vint(b, -1e18, 1e18))
        return vfail(e, NULL, NULL, "thinking.enabled.budget_tokens: Input should be a valid integer");
    if (b->num < 1024)
        return vfail(e, NULL, NULL, "thinking.enabled.budget_tokens: Input should be greater than or "
                     "equal to 1024");
    if (max && max->type == MJ_NUM && max->num <= b->num)
        return vfail(e, NULL, NULL, "`max_tokens` must be greater than `thinking.budget_tokens`. Please "
                     "consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
                     "extended-thinking#max-tokens-and-context-window-size");
    return 0;
}

static int an_request(struct mock_verr *e, const struct mjnode *root, int count)
{
    /* P2.2 field table (messages) and P2.6 (count_tokens: no max_tokens, no stream) */
    static const char *const keys[] = {"model", "max_tokens", "messages", "system", "temperature",
                                       "top_p", "top_k", "stop_sequences", "stream", "tools",
                                       "tool_choice", "metadata", "thinking", "service_tier",
                                       "container", "output_config", "mcp_servers", "inference_geo",
                                       NULL};
    static const char *const count_keys[] = {"model", "messages", "system", "tools", "tool_choice",
                                             "thinking", NULL};
    static const char *const meta_keys[] = {"user_id", NULL};
    const struct mjnode *n, *msgs, *max = NULL;
    if (root->type != MJ_OBJ)
        return vfail(e, NULL, NULL, "Input should be a valid dictionary or object to extract fields from");
    if (an_extra(e, "", root, count ? count_keys : keys) != 0)
        return -1;
    /* P2.2: model required */
    if (!(n = mj_get(root, "model")))
        return vfail(e, NULL, NULL, "model: Field required");
    if (n->type != MJ_STR || n->n == 0)
        return vfail(e, NULL, NULL, "model: Input should be a valid string");
    /* P2.2: max_tokens required, a positive integer (not on count_tokens, P2.6) */
    if (!count) {
        if (!(max = mj_get(root, "max_tokens")) || max->type == MJ_NULL)
            return vfail(e, NULL, NULL, "max_tokens: Field required");
        if (!vint(max, -1e18, 1e18))
            return vfail(e, NULL, NULL, "max_tokens: Input should be a valid integer");
        if (max->num < 1)
            return vfail(e, NULL, NULL, "max_tokens: Input should be greater than or equal to 1");
    }
    /* P2.2: messages required, a non-empty list of user/assistant messages */
    if (!(msgs = mj_get(root, "messages")))
        return vfail(e, NULL, NULL, "messages: Field required");
    if (msgs->type != MJ_ARR)
        return vfail(e, NULL, NULL, "messages: Input should be a valid list");
    if (msgs->count == 0)
        return vfail(e, NULL, NULL, "messages: at least one message is required");
    int i = 0;
    for (const struct mjnode *m = msgs->child; m; m = m->next, i++)
        if (an_message(e, i, m, m->next == NULL) != 0)
            return -1;
    if (an_tool_pairs(e, msgs) != 0)
        return -1;
    if ((n = mj_get(root, "system")) && an_system(e, n) != 0)
        return -1;
    /* P2.2: temperature 0-1 */
    if ((n = mj_get(root, "temperature")) && !vnum(n, 0, 1))
        return vfail(e, NULL, NULL, "temperature: Input should be %s",
                     n->type != MJ_NUM ? "a valid number" : n->num < 0 ? "greater than or equal to 0"
                                                                       : "less than or equal to 1");
    if ((n = mj_get(root, "top_p")) && !vnum(n, 0, 1)) /* (API) */
        return vfail(e, NULL, NULL, "top_p: Input should be a valid number between 0 and 1");
    if ((n = mj_get(root, "top_k")) && !vint(n, 0, 1e18)) /* (API) */
        return vfail(e, NULL, NULL, "top_k: Input should be a valid integer, greater than or equal to 0");
    /* P2.2: stop_sequences is a list of strings */
    if ((n = mj_get(root, "stop_sequences"))) {
        if (n->type != MJ_ARR)
            return vfail(e, NULL, NULL, "stop_sequences: Input should be a valid list");
        int k = 0;
        for (const struct mjnode *s = n->child; s; s = s->next, k++)
            if (s->type != MJ_STR)
                return vfail(e, NULL, NULL, "stop_sequences.%d: Input should be a valid string", k);
    }
    if ((n = mj_get(root, "stream")) && n->type != MJ_BOOL)
        return vfail(e, NULL, NULL, "stream: Input should be a valid boolean");
    if ((n = mj_get(root, "tools")) && an_tools(e, n) != 0)
        return -1;
    if ((n = mj_get(root, "tool_choice")) && an_tool_choice(e, n) != 0)
        return -1;
    if ((n = mj_get(root, "thinking")) && an_thinking(e, n, max) != 0)
        return -1;
    /* P2.2 `metadata` row: {user_id} */
    if ((n = mj_get(root, "metadata"))) {
        const struct mjnode *u = mj_get(n, "user_id");
        if (an_dict(e, "metadata", n) || an_extra(e, "metadata", n, meta_keys))
            return -1;
        if (u && u->type != MJ_STR && u->type != MJ_NULL)
            return vfail(e, NULL, NULL, "metadata.user_id: Input should be a valid string");
    }
    /* P2.2 `others` row: service_tier auto | standard_only */
    if ((n = mj_get(root, "service_tier")) && !mj_str_is(n, "auto") && !mj_str_is(n, "standard_only"))
        return vfail(e, NULL, NULL, "service_tier: Input should be 'auto' or 'standard_only'");
    return 0;
}

int mock_validate_anthropic(const char *body, size_t len, int count_tokens, struct mock_verr *e)
{
    return vrun(body, len, e, an_request, count_tokens,
                "There was an issue with your request body: it is not valid JSON");
}
