/*
 * validate.c - request validation shared by the dialects (helpers declared in
 * validate.h), and the OpenAI Chat Completions rules (also Azure's). The
 * Anthropic rules are in validate_anthropic.c, Gemini's in validate_gemini.c.
 *
 * Each rule cites the PROTOCOLS.md section it comes from ("P1.1" = section
 * 1.1 of /work/shared/PROTOCOLS.md). A rule marked "(API)" is the real API's
 * own validation, not written down there; those are kept to what is well
 * known from the APIs' error messages. The first violation wins, as the
 * message a real server sends names one problem.
 *
 * OpenAI errors: 400 {"error":{"message","type":"invalid_request_error",
 * "param","code"}} with OpenAI's wording ("Missing required parameter:
 * 'messages'.", code missing_required_parameter, ...). Unknown top-level
 * members are NOT refused here: the OpenAI dialect of the mock also stands in
 * for OpenAI-compatible servers (vLLM, OpenRouter, ...) that take extras.
 */
#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------ */

int vfail(struct mock_verr *e, const char *param, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    e->code = code;
    return -1;
}

void vpath(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, VPATH, fmt, ap);
    va_end(ap);
}

int vkey_in(const char *k, size_t klen, const char *const *names)
{
    for (; *names; names++)
        if (mock_key_is(k, klen, *names))
            return 1;
    return 0;
}

int vint(const struct mjnode *n, double lo, double hi)
{
    return n && n->type == MJ_NUM && n->num == floor(n->num) && n->num >= lo && n->num <= hi;
}

int vname(const struct mjnode *n, size_t max)
{
    if (!n || n->type != MJ_STR || n->n == 0 || n->n > max)
        return 0;
    for (size_t i = 0; i < n->n; i++) {
        char c = n->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int vnum(const struct mjnode *n, double lo, double hi)
{
    return n && n->type == MJ_NUM && n->num >= lo && n->num <= hi;
}

int vbase64(const struct mjnode *n)
{
    size_t i, pad = 0;
    if (!n || n->type != MJ_STR || n->n == 0)
        return 0;
    for (i = 0; i < n->n; i++) {
        char c = n->s[i];
        if (c == '\\' && i + 1 < n->n && n->s[i + 1] == '/') {
            i++;
            c = '/';
        }
        if (c == '=') {
            if (++pad > 2)
                return 0;
            continue;
        }
        if (pad) /* nothing but padding after padding */
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* ---- OpenAI chat/completions ------------------------------------------------ */

static const char *type_name(const struct mjnode *n)
{
    switch (n->type) {
    case MJ_NULL: return "null";
    case MJ_BOOL: return "a boolean";
    case MJ_NUM: return n->is_int ? "an integer" : "a decimal";
    case MJ_STR: return "a string";
    case MJ_ARR: return "an array";
    case MJ_OBJ: return "an object";
    }
    return "?";
}

static int oa_type(struct mock_verr *e, const char *param, const char *want, const struct mjnode *n)
{
    return vfail(e, param, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.",
                 param, want, type_name(n));
}

static int oa_missing(struct mock_verr *e, const char *param)
{
    return vfail(e, param, "missing_required_parameter", "Missing required parameter: '%s'.", param);
}

static int oa_empty(struct mock_verr *e, const char *param)
{
    return vfail(e, param, "empty_array", "Invalid '%s': empty array. Expected an array with minimum "
                 "length 1, but got an empty array instead.", param);
}

/* A numeric parameter in [lo, hi] (P1.1 sampling table). */
static int oa_range(struct mock_verr *e, const struct mjnode *root, const char *name, int integer,
                    double lo, double hi)
{
    const struct mjnode *n = mj_get(root, name);
    if (!n || n->type == MJ_NULL)
        return 0;
    if (n->type != MJ_NUM || (integer && n->num != floor(n->num)))
        return oa_type(e, name, integer ? "an integer" : "a number", n);
    const char *kind = integer ? "integer" : "decimal";
    if (n->num < lo)
        return vfail(e, name, integer ? "integer_below_min_value" : "decimal_below_min_value",
                     "Invalid '%s': %s below minimum value. Expected a value >= %g, but got %g "
                     "instead.", name, kind, lo, n->num);
    if (n->num > hi)
        return vfail(e, name, integer ? "integer_above_max_value" : "decimal_above_max_value",
                     "Invalid '%s': %s above maximum value. Expected a value <= %g, but got %g "
                     "instead.", name, kind, hi, n->num);
    return 0;
}


static int oa_name(struct mock_verr *e, const char *param, const struct mjnode *n)
{
    if (!n)
        return oa_missing(e, param);
    if (n->type != MJ_STR)
        return oa_type(e, param, "a string", n);
    if (n->n > 64)
        return vfail(e, param, "string_above_max_length", "Invalid '%s': string too long. Expected a "
                     "string with maximum length 64, but got a string with length %zu instead.",
                     param, n->n);
    if (!vname(n, 64))   /* function and json_schema names (API) */
        return vfail(e, param, "invalid_value", "Invalid '%s': string does not match pattern. "
                     "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param);
    return 0;
}

/* Content parts (P1.1 "Content parts"): which types a role may send. */
static int oa_part(struct mock_verr *e, const char *base, int i, const struct mjnode *p,
                   const char *const *allowed, const char *allowed_text)
{
    char param[VPATH], sub[VPATH];
    vpath(param, "%s[%d]", base, i);
    if (p->type != MJ_OBJ)
        return oa_type(e, param, "an object", p);
    const struct mjnode *t = mj_get(p, "type");
    vpath(sub, "%s.type", param);
    if (!t)
        return oa_missing(e, sub);
    if (t->type != MJ_STR || !vkey_in(t->s, t->n, allowed))
        return vfail(e, sub, "invalid_value", "Invalid value: '%.*s'. Supported values are: %s.",
                     t->type == MJ_STR ? (int)(t->n > 64 ? 64 : t->n) : 0, t->s, allowed_text);
    if (mj_str_is(t, "text") || mj_str_is(t, "refusal")) {
        const char *f = mj_str_is(t, "text") ? "text" : "refusal";
        const struct mjnode *v = mj_get(p, f);
        vpath(sub, "%s.%s", param, f);
        if (!v)
            return oa_missing(e, sub);
        if (v->type != MJ_STR)
            return oa_type(e, sub, "a string", v);
    } else if (mj_str_is(t, "image_url")) {
        const struct mjnode *iu = mj_get(p, "image_url"), *url = mj_get(iu, "url"), *d;
        vpath(sub, "%s.image_url", param);
        if (!iu)
            return oa_missing(e, sub);
        if (iu->type != MJ_OBJ)
            return oa_type(e, sub, "an object", iu);
        vpath(sub, "%s.image_url.url", param);
        if (!url)
            return oa_missing(e, sub);
        if (url->type != MJ_STR)
            return oa_type(e, sub, "a string", url);
        static const char *const details[] = {"auto", "low", "high", NULL};
        if ((d = mj_get(iu, "detail")) && (d->type != MJ_STR || !vkey_in(d->s, d->n, details))) {
            vpath(sub, "%s.image_url.detail", param);
            return vfail(e, sub, "invalid_value", "Invalid value for '%s': expected one of 'auto', "
                         "'low' or 'high'.", sub);
        }
    } else if (mj_str_is(t, "input_audio")) {
        const struct mjnode *a = mj_get(p, "input_audio"), *fmt = mj_get(a, "format");
        static const char *const fmts[] = {"wav", "mp3", NULL};
        vpath(sub, "%s.input_audio", param);
        if (!a)
            return oa_missing(e, sub);
        if (a->type != MJ_OBJ)
            return oa_type(e, sub, "an object", a);
        vpath(sub, "%s.input_audio.data", param);
        if (!mj_get(a, "data"))
            return oa_missing(e, sub);
        if (!fmt || fmt->type != MJ_STR || !vkey_in(fmt->s, fmt->n, fmts)) {
            vpath(sub, "%s.input_audio.format", param);
            return vfail(e, sub, "invalid_value", "Invalid value for '%s': expected 'wav' or 'mp3'.", sub);
        }
    } else if (mj_str_is(t, "file")) {
        const struct mjnode *f = mj_get(p, "file");
        vpath(sub, "%s.file", param);
        if (!f)
            return oa_missing(e, sub);
        if (f->type != MJ_OBJ)
            return oa_type(e, sub, "an object", f);
        if (!mj_get(f, "file_id") && !mj_get(f, "file_data"))
            return vfail(e, sub, "invalid_value", "Invalid '%s': one of 'file_id' or 'file_data' "
                         "is required.", sub);
    }
    return 0;
}

/* content: a string or a non-empty array of the role's parts; null only
 * where `nullable` (P1.1 message table). */
static int oa_content(struct mock_verr *e, int i, const struct mjnode *m, const char *const *allowed,
                      const char *allowed_text, int nullable)
{
    char param[VPATH];
    const struct mjnode *c = mj_get(m, "content");
    vpath(param, "messages[%d].content", i);
    if (!c || c->type == MJ_NULL) {
        if (nullable)
            return 0;
        if (!c)
            return oa_missing(e, param);
        return vfail(e, param, "invalid_type", "Invalid value for 'content': expected a string, "
                     "got null.");
    }
    if (c->type == MJ_STR)
        return 0;
    if (c->type != MJ_ARR)
        return oa_type(e, param, "one of a string or array of objects", c);
    if (c->count == 0)
        return oa_empty(e, param);
    int k = 0;
    for (const struct mjnode *p = c->child; p; p = p->next, k++)
        if (oa_part(e, param, k, p, allowed, allowed_text) != 0)
            return -1;
    return 0;
}

static const char *const TEXT_ONLY[] = {"text", NULL};
static const char *const USER_PARTS[] = {"text", "image_url", "input_audio", "file", NULL};
static const char *const ASSISTANT_PARTS[] = {"text", "refusal", NULL};

/* One tool call of an assistant message (P1.1 "Tool call object"):
 * arguments is a JSON-encoded string, not an object. */
static int oa_tool_call(struct mock_verr *e, int i, int k, const struct mjnode *tc)
{
    char param[VPATH], sub[VPATH];
    vpath(param, "messages[%d].tool_calls[%d]", i, k);
    if (tc->type != MJ_OBJ)
        return oa_type(e, param, "an object", tc);
    const struct mjnode *id = mj_get(tc, "id"), *t = mj_get(tc, "type");
    vpath(sub, "%s.id", param);
    if (!id)
        return oa_missing(e, sub);
    if (id->type != MJ_STR)
        return oa_type(e, sub, "a string", id);
    vpath(sub, "%s.type", param);
    if (!t)
        return oa_missing(e, sub);
    if (mj_str_is(t, "custom"))
        return 0;
    if (!mj_str_is(t, "function"))
        return vfail(e, sub, "invalid_value", "Invalid value: '%.*s'. Supported values are: "
                     "'function' and 'custom'.", t->type == MJ_STR ? (int)(t->n > 64 ? 64 : t->n) : 0,
                     t->s);
    const struct mjnode *f = mj_get(tc, "function"), *name = mj_get(f, "name"),
                        *args = mj_get(f, "arguments");
    vpath(sub, "%s.function", param);
    if (!f)
        return oa_missing(e, sub);
    if (f->type != MJ_OBJ)
        return oa_type(e, sub, "an object", f);
    vpath(sub, "%s.function.name", param);
    if (!name)
        return oa_missing(e, sub);
    if (name->type != MJ_STR)
        return oa_type(e, sub, "a string", name);
    vpath(sub, "%s.function.arguments", param);
    if (!args)
        return oa_missing(e, sub);
    if (args->type != MJ_STR)
        return oa_type(e, sub, "a string", args);
    return 0;
}

/* The raw string id of a tool call (NULL for a malformed one). */
static const struct mjnode *tc_id(const struct mjnode *tc)
{
    const struct mjnode *id = mj_get(tc, "id");
    return id && id->type == MJ_STR ? id : NULL;
}

static int tc_has(const struct mjnode *calls, const struct mjnode *id)
{
    for (const struct mjnode *tc = calls ? calls->child : NULL; tc; tc = tc->next) {
        const struct mjnode *x = tc_id(tc);
        if (x && x->n == id->n && memcmp(x->s, id->s, id->n) == 0)
            return 1;
    }
    return 0;
}

/* Tool messages answer the assistant message right before them (tool
 * messages between), and every tool call is answered before the next other
 * message (P1.1 `tool` row: tool_call_id required; P6.11 message-shape
 * rules; the wording is the API's). */
static int oa_tool_order(struct mock_verr *e, const struct mjnode *msgs)
{
    const struct mjnode *calls = NULL; /* the open assistant's tool_calls */
    int calls_at = -1, i = 0;
    char param[VPATH];
    for (const struct mjnode *m = msgs->child; m; m = m->next, i++) {
        const struct mjnode *role = mj_get(m, "role");
        if (mj_str_is(role, "tool")) {
            const struct mjnode *id = mj_get(m, "tool_call_id");
            vpath(param, "messages.[%d].role", i);
            if (!calls)
                return vfail(e, param, NULL, "Invalid parameter: messages with role 'tool' must be a "
                             "response to a preceeding message with 'tool_calls'.");
            if (!tc_has(calls, id))
                return vfail(e, param, NULL, "Invalid parameter: 'tool_call_id' of '%.*s' not found "
                             "in 'tool_calls' of previous message.", (int)(id->n > 80 ? 80 : id->n),
                             id->s);
            continue;
        }
        if (calls) {
            /* leaving the tool messages: every call must have been answered */
            for (const struct mjnode *tc = calls->child; tc; tc = tc->next) {
                const struct mjnode *id = tc_id(tc), *t;
                int answered = 0, j = 0;
                for (t = msgs->child; t && t != m; t = t->next, j++)
                    if (j > calls_at && mj_str_is(mj_get(t, "role"), "tool")) {
                        const struct mjnode *tid = mj_get(t, "tool_call_id");
                        if (id && tid->n == id->n && memcmp(tid->s, id->s, id->n) == 0)
                            answered = 1;
                    }
                if (!answered) {
                    vpath(param, "messages.[%d].role", calls_at);
                    return vfail(e, param, NULL, "An assistant message with 'tool_calls' must be "
                                 "followed by tool messages responding to each 'tool_call_id'. The "
                                 "following tool_call_ids did not have response messages: %.*s",
                                 id ? (int)(id->n > 80 ? 80 : id->n) : 0, id ? id->s : "");
                }
            }
        }
        calls = NULL;
        if (mj_str_is(role, "assistant")) {
            const struct mjnode *tcs = mj_get(m, "tool_calls");
            if (tcs && tcs->type == MJ_ARR && tcs->count > 0) {
                calls = tcs;
                calls_at = i;
            }
        }
    }
    return 0;
}

static int oa_message(struct mock_verr *e, int i, const struct mjnode *m)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", "function", NULL};
    char param[VPATH];
    vpath(param, "messages[%d]", i);
    if (m->type != MJ_OBJ)
        return oa_type(e, param, "an object", m);
    const struct mjnode *role = mj_get(m, "role");
    vpath(param, "messages[%d].role", i);
    if (!role)
        return oa_missing(e, param);
    /* P1.1 message table: the roles */
    if (role->type != MJ_STR || !vkey_in(role->s, role->n, roles))
        return vfail(e, param, "invalid_value", "Invalid value: '%.*s'. Supported values are: "
                     "'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
                     role->type == MJ_STR ? (int)(role->n > 64 ? 64 : role->n) : 0, role->s);
    if (mj_str_is(role, "system") || mj_str_is(role, "developer"))
        return oa_content(e, i, m, TEXT_ONLY, "'text'", 0);
    if (mj_str_is(role, "user"))
        return oa_content(e, i, m, USER_PARTS, "'text', 'image_url', 'input_audio' and 'file'", 0);
    if (mj_str_is(role, "tool")) {
        const struct mjnode *id = mj_get(m, "tool_call_id");
        vpath(param, "messages[%d].tool_call_id", i);
        if (!id)
            return oa_missing(e, param);
        if (id->type != MJ_STR)
            return oa_type(e, param, "a string", id);
        return oa_content(e, i, m, TEXT_ONLY, "'text'", 0);
    }
    if (mj_str_is(role, "function"))
        return 0; /* deprecated; not sent by the gateway */
    /* assistant: content may be null (or absent) only with tool_calls or
     * function_call (P1.1 message table) */
    const struct mjnode *tcs = mj_get(m, "tool_calls");
    int has_calls = (tcs && tcs->type != MJ_NULL) || mj_get(m, "function_call");
    if (oa_content(e, i, m, ASSISTANT_PARTS, "'text' and 'refusal'", has_calls) != 0)
        return -1;
    if (tcs && tcs->type != MJ_NULL) {
        vpath(param, "messages[%d].tool_calls", i);
        if (tcs->type != MJ_ARR)
            return oa_type(e, param, "an array", tcs);
        if (tcs->count == 0)
            return oa_empty(e, param);
        int k = 0;
        for (const struct mjnode *tc = tcs->child; tc; tc = tc->next, k++)
            if (oa_tool_call(e, i, k, tc) != 0)
                return -1;
    }
    return 0;
}

/* tools[] (P1.1 `tools` row): {"type":"function","function":{"name",...}}. */
static int oa_tools(struct mock_verr *e, const struct mjnode *tools)
{
    char param[VPATH];
    int k = 0;
    if (tools->type != MJ_ARR)
        return oa_type(e, "tools", "an array", tools);
    for (const struct mjnode *t = tools->child; t; t = t->next, k++) {
        vpath(param, "tools[%d]", k);
        if (t->type != MJ_OBJ)
            return oa_type(e, param, "an object", t);
        const struct mjnode *type = mj_get(t, "type"), *f = mj_get(t, "function"), *p;
        vpath(param, "tools[%d].type", k);
        if (!type)
            return oa_missing(e, param);
        if (mj_str_is(type, "custom"))
            continue;
        if (!mj_str_is(type, "function"))
            return vfail(e, param, "invalid_value", "Invalid value: '%.*s'. Supported values are: "
                         "'function' and 'custom'.", type->type == MJ_STR ? (int)(type->n > 64 ? 64 : type->n) : 0,
                         type->s);
        vpath(param, "tools[%d].function", k);
        if (!f)
            return oa_missing(e, param);
        if (f->type != MJ_OBJ)
            return oa_type(e, param, "an object", f);
        vpath(param, "tools[%d].function.name", k);
        if (oa_name(e, param, mj_get(f, "name")) != 0)
            return -1;
        vpath(param, "tools[%d].function.parameters", k);
        if ((p = mj_get(f, "parameters")) && p->type != MJ_OBJ)
            return oa_type(e, param, "an object", p);
    }
    return 0;
}

/* tool_choice (P1.1 `tool_choice` row). */
static int oa_tool_choice(struct mock_verr *e, const struct mjnode *tc)
{
    static const char *const modes[] = {"none", "auto", "required", NULL};
    static const char *const types[] = {"function", "allowed_tools", "custom", NULL};
    if (tc->type == MJ_STR) {
        if (!vkey_in(tc->s, tc->n, modes))
            return vfail(e, "tool_choice", "invalid_value", "Invalid value: '%.*s'. Supported values "
                         "are: 'none', 'auto', and 'required'.", (int)(tc->n > 64 ? 64 : tc->n), tc->s);
        return 0;
    }
    if (tc->type != MJ_OBJ)
        return oa_type(e, "tool_choice", "a string or an object", tc);
    const struct mjnode *t = mj_get(tc, "type");
    if (!t)
        return oa_missing(e, "tool_choice.type");
    if (t->type != MJ_STR || !vkey_in(t->s, t->n, types))
        return vfail(e, "tool_choice.type", "invalid_value", "Invalid value: '%.*s'. Supported values "
                     "are: 'function', 'allowed_tools' and 'custom'.",
                     t->type == MJ_STR ? (int)(t->n > 64 ? 64 : t->n) : 0, t->s);
    if (mj_str_is(t, "function")) {
        const struct mjnode *f = mj_get(tc, "function");
        if (!f)
            return oa_missing(e, "tool_choice.function");
        if (f->type != MJ_OBJ)
            return oa_type(e, "tool_choice.function", "an object", f);
        return oa_name(e, "tool_choice.function.name", mj_get(f, "name"));
    }
    return 0;
}

/* response_format (P1.1 `response_format` row): json_schema needs a name. */
static int oa_response_format(struct mock_verr *e, const struct mjnode *rf)
{
    static const char *const types[] = {"text", "json_object", "json_schema", NULL};
    if (rf->type != MJ_OBJ)
        return oa_type(e, "response_format", "an object", rf);
    const struct mjnode *t = mj_get(rf, "type");
    if (!t)
        return oa_missing(e, "response_format.type");
    if (t->type != MJ_STR || !vkey_in(t->s, t->n, types))
        return vfail(e, "response_format.type", "invalid_value", "Invalid value: '%.*s'. Supported "
                     "values are: 'text', 'json_object' and 'json_schema'.",
                     t->type == MJ_STR ? (int)(t->n > 64 ? 64 : t->n) : 0, t->s);
    if (!mj_str_is(t, "json_schema"))
        return 0;
    const struct mjnode *js = mj_get(rf, "json_schema"), *s;
    if (!js)
        return oa_missing(e, "response_format.json_schema");
    if (js->type != MJ_OBJ)
        return oa_type(e, "response_format.json_schema", "an object", js);
    if (oa_name(e, "response_format.json_schema.name", mj_get(js, "name")) != 0)
        return -1;
    if ((s = mj_get(js, "schema")) && s->type != MJ_OBJ)
        return oa_type(e, "response_format.json_schema.schema", "an object", s);
    return 0;
}

/* stop: a string or an array of at most 4 strings (P1.1 `stop` row). */
static int oa_stop(struct mock_verr *e, const struct mjnode *s)
{
    if (s->type == MJ_NULL || s->type == MJ_STR)
        return 0;
    if (s->type != MJ_ARR)
        return oa_type(e, "stop", "a string or an array of strings", s);
    if (s->count > 4)
        return vfail(e, "stop", "array_above_max_length", "Invalid 'stop': array too long. Expected an "
                     "array with maximum length 4, but got an array with length %zu instead.", s->count);
    int k = 0;
    for (const struct mjnode *x = s->child; x; x = x->next, k++)
        if (x->type != MJ_STR) {
            char param[VPATH];
            vpath(param, "stop[%d]", k);
            return oa_type(e, param, "a string", x);
        }
    return 0;
}

static int oa_chat(struct mock_verr *e, const struct mjnode *root, int azure)
{
    const struct mjnode *n, *msgs, *tools;
    if (root->type != MJ_OBJ)
        return vfail(e, NULL, NULL, "We could not parse the JSON body of your request.");
    /* P1.1: model (string) required; Azure takes it from the deployment (P5) */
    n = mj_get(root, "model");
    if (!n && !azure)
        return vfail(e, "model", NULL, "you must provide a model parameter");
    if (n && n->type != MJ_STR && !(azure && n->type == MJ_NULL))
        return oa_type(e, "model", "a string", n);
    /* P1.1: messages (array, min 1) required */
    if (!(msgs = mj_get(root, "messages")))
        return oa_missing(e, "messages");
    if (msgs->type != MJ_ARR)
        return oa_type(e, "messages", "an array", msgs);
    if (msgs->count == 0)
        return oa_empty(e, "messages");
    int i = 0;
    for (const struct mjnode *m = msgs->child; m; m = m->next, i++)
        if (oa_message(e, i, m) != 0)
            return -1;
    if (oa_tool_order(e, msgs) != 0)
        return -1;
    /* P1.1 sampling table: ranges */
    if (oa_range(e, root, "temperature", 0, 0, 2) || oa_range(e, root, "top_p", 0, 0, 1) ||
        oa_range(e, root, "n", 1, 1, 128) || oa_range(e, root, "presence_penalty", 0, -2, 2) ||
        oa_range(e, root, "frequency_penalty", 0, -2, 2) || oa_range(e, root, "top_logprobs", 1, 0, 20) ||
        oa_range(e, root, "max_tokens", 1, 1, 1e12) ||
        oa_range(e, root, "max_completion_tokens", 1, 1, 1e12))
        return -1;
    if ((n = mj_get(root, "stop")) && oa_stop(e, n) != 0)
        return -1;
    n = mj_get(root, "stream");
    if (n && n->type != MJ_BOOL && n->type != MJ_NULL)
        return oa_type(e, "stream", "a boolean", n);
    /* P1.1 / P6.11: stream_options only valid with stream:true */
    const struct mjnode *so = mj_get(root, "stream_options");
    if (so && so->type != MJ_NULL && !(n && n->type == MJ_BOOL && n->b))
        return vfail(e, "stream_options", NULL, "The 'stream_options' parameter is only allowed when "
                     "'stream' is enabled.");
    if (so && so->type != MJ_NULL && so->type != MJ_OBJ)
        return oa_type(e, "stream_options", "an object", so);
    tools = mj_get(root, "tools");
    if (tools && tools->type == MJ_NULL)
        tools = NULL;
    if (tools && oa_tools(e, tools) != 0)
        return -1;
    /* tool_choice and parallel_tool_calls need tools (API) */
    if ((n = mj_get(root, "tool_choice")) && n->type != MJ_NULL) {
        if (!tools || tools->count == 0)
            return vfail(e, "tool_choice", NULL, "Invalid value for 'tool_choice': 'tool_choice' is "
                         "only allowed when 'tools' are specified.");
        if (oa_tool_choice(e, n) != 0)
            return -1;
    }
    if ((n = mj_get(root, "parallel_tool_calls")) && n->type != MJ_NULL) {
        if (!tools || tools->count == 0)
            return vfail(e, "parallel_tool_calls", NULL, "Invalid value for 'parallel_tool_calls': "
                         "'parallel_tool_calls' is only allowed when 'tools' are specified.");
        if (n->type != MJ_BOOL)
            return oa_type(e, "parallel_tool_calls", "a boolean", n);
    }
    if ((n = mj_get(root, "response_format")) && n->type != MJ_NULL && oa_response_format(e, n) != 0)
        return -1;
    return 0;
}

int vrun(const char *body, size_t len, struct mock_verr *e, vcheck_fn check, int arg, const char *bad_json)
{
    struct mjtree *t;
    int too_big;
    const struct mjnode *root = mjson_parse(body, len, &t, &too_big);
    int rc = root ? check(e, root, arg)
           : too_big ? 0 /* not judged (validate.h) */
                     : vfail(e, NULL, NULL, "%s", bad_json);
    mjson_tree_free(t);
    return rc;
}

int mock_validate_openai_chat(const char *body, size_t len, int azure, struct mock_verr *e)
{
    return vrun(body, len, e, oa_chat, azure, "We could not parse the JSON body of your request.");
}

struct mock_verr *mock_verr_dup(const struct mock_verr *e)
{
    struct mock_verr *d = malloc(sizeof(*d));
    if (d)
        *d = *e;
    return d;
}
