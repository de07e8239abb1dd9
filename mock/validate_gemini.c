/*
 * validate_gemini.c - what the Gemini API refuses in a GenerateContentRequest
 * (:generateContent, :streamGenerateContent) and a CountTokensRequest
 * (:countTokens), for the mock provider.
 *
 * Rules cite /work/shared/PROTOCOLS.md ("P4.2" = section 4.2); "(API)" marks
 * the API's own validation that PROTOCOLS does not spell out. Two kinds of
 * message, as Google's front end sends them (the dialect answers 400
 * INVALID_ARGUMENT with either):
 *   - the proto JSON parser: `Invalid JSON payload received. Unknown name
 *     "x" at 'generation_config': Cannot find field.` (unknown members of any
 *     message, schemas included), `Invalid value at '<path>' (<type>), <value>`;
 *   - the request checks: `* GenerateContentRequest.<path>: <problem>\n`.
 * Paths use the proto's snake_case names (contents[0].parts[1].function_call);
 * members are accepted in lowerCamel or snake_case, as the parser does.
 */
#include "validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A proto field: its JSON name and its proto name (accepted both ways). */
struct gfield {
    const char *camel, *snake;
};

struct gctx {
    struct mock_verr *e;
    const char *req;  /* "GenerateContentRequest" or "CountTokensRequest" */
};

static const struct mjnode *gget(const struct mjnode *obj, const char *camel, const char *snake)
{
    const struct mjnode *n = mj_get(obj, camel);
    return n ? n : mj_get(obj, snake);
}

/* The proto parser's refusal of a member the message does not have (P4.2:
 * fields not in Gemini's messages, e.g. additionalProperties in a schema). */
static int gunknown(struct gctx *g, const char *at, const struct mjnode *obj, const struct gfield *f)
{
    for (const struct mjnode *m = obj->child; m; m = m->next) {
        const struct gfield *x;
        for (x = f; x->camel; x++)
            if (mock_key_is(m->key, m->klen, x->camel) || mock_key_is(m->key, m->klen, x->snake))
                break;
        if (x->camel)
            continue;
        if (*at)
            return vfail(g->e, NULL, NULL, "Invalid JSON payload received. Unknown name \"%.*s\" at "
                         "'%s': Cannot find field.", VKEY(m), at);
        return vfail(g->e, NULL, NULL, "Invalid JSON payload received. Unknown name \"%.*s\": Cannot "
                     "find field.", VKEY(m));
    }
    return 0;
}

/* A value of the wrong JSON type for its proto field. */
static int gbad(struct gctx *g, const char *path, const char *type, const struct mjnode *n)
{
    int len = (int)(n->n > 64 ? 64 : n->n);
    if (n->type == MJ_ARR)
        return vfail(g->e, NULL, NULL, "Invalid JSON payload received. Invalid value at '%s' (%s): "
                     "Proto field is not repeating, cannot start list.", path, type);
    return vfail(g->e, NULL, NULL, "Invalid JSON payload received. Invalid value at '%s' (%s), %s%.*s%s",
                 path, type, n->type == MJ_STR ? "\"" : "", len, n->s, n->type == MJ_STR ? "\"" : "");
}

/* A request check's refusal: "* GenerateContentRequest.<path>: <msg>\n". */
static int gsem(struct gctx *g, const char *path, const char *msg)
{
    return vfail(g->e, NULL, NULL, "* %s.%s: %s\n", g->req, path, msg);
}

static int is_obj(const struct mjnode *n) { return n && n->type == MJ_OBJ; }

/* An int32/int64 field: a JSON integer or a numeric string (proto JSON). */
static int gint_ok(const struct mjnode *n)
{
    if (n->type == MJ_NUM)
        return vint(n, -9.3e18, 9.3e18);
    if (n->type != MJ_STR || n->n == 0)
        return 0;
    for (size_t i = 0; i < n->n; i++)
        if (!isdigit((unsigned char)n->s[i]) && !(i == 0 && n->s[i] == '-'))
            return 0;
    return 1;
}

/* Case-insensitive match of a string node against a list (enum values: the
 * API takes "object" as well as "OBJECT", its own REST samples use both). */
static int genum(const struct mjnode *n, const char *const *vals)
{
    if (!n || n->type != MJ_STR)
        return 0;
    for (; *vals; vals++)
        if (strlen(*vals) == n->n && strncasecmp(*vals, n->s, n->n) == 0)
            return 1;
    return 0;
}

/* ---- Schema (P4.2: functionDeclarations[].parameters is an OpenAPI-3.0
 * subset; $schema, additionalProperties, $ref/$defs... are rejected) ------- */

static const struct gfield SCHEMA_F[] = {
    {"type", "type"}, {"format", "format"}, {"title", "title"}, {"description", "description"},
    {"nullable", "nullable"}, {"enum", "enum"}, {"maxItems", "max_items"}, {"minItems", "min_items"},
    {"properties", "properties"}, {"required", "required"}, {"minProperties", "min_properties"},
    {"maxProperties", "max_properties"}, {"minLength", "min_length"}, {"maxLength", "max_length"},
    {"pattern", "pattern"}, {"example", "example"}, {"anyOf", "any_of"},
    {"propertyOrdering", "property_ordering"}, {"default", "default"}, {"items", "items"},
    {"minimum", "minimum"}, {"maximum", "maximum"}, {NULL, NULL}};

#define SCHEMA_T "type.googleapis.com/google.ai.generativelanguage.v1beta.Schema"

static int gschema(struct gctx *g, const char *path, const struct mjnode *s, int depth)
{
    static const char *const types[] = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN",
                                        "ARRAY", "OBJECT", "NULL", NULL};
    static const char *const strings[] = {"format", "title", "description", "pattern", NULL};
    static const char *const ints[] = {"maxItems", "max_items", "minItems", "min_items",
                                       "minProperties", "min_properties", "maxProperties",
                                       "max_properties", "minLength", "min_length", "maxLength",
                                       "max_length", NULL};
    char sub[VPATH];
    const struct mjnode *n, *props;
    if (depth > VALIDATE_MAX_DEPTH)
        return 0;
    if (s->type != MJ_OBJ)
        return gbad(g, path, SCHEMA_T, s);
    if (gunknown(g, path, s, SCHEMA_F) != 0)
        return -1;
    const struct mjnode *t = mj_get(s, "type");
    if (t) {
        vpath(sub, "%s.type", path);
        if (!genum(t, types)) /* a JSON Schema type list ["string","null"] lands here too */
            return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.Type", t);
    }
    for (const struct mjnode *m = s->child; m; m = m->next) {
        vpath(sub, "%s.%.*s", path, VKEY(m));
        if (vkey_in(m->key, m->klen, strings) && m->type != MJ_STR)
            return gbad(g, sub, "TYPE_STRING", m);
        if (vkey_in(m->key, m->klen, ints) && !gint_ok(m))
            return gbad(g, sub, "TYPE_INT64", m);
        if ((mock_key_is(m->key, m->klen, "minimum") || mock_key_is(m->key, m->klen, "maximum")) &&
            m->type != MJ_NUM)
            return gbad(g, sub, "TYPE_DOUBLE", m);
        if (mock_key_is(m->key, m->klen, "nullable") && m->type != MJ_BOOL)
            return gbad(g, sub, "TYPE_BOOL", m);
    }
    props = gget(s, "properties", "properties");
    if (props) {
        int k = 0;
        if (props->type != MJ_OBJ) {
            vpath(sub, "%s.properties", path);
            return gbad(g, sub, SCHEMA_T, props);
        }
        for (const struct mjnode *p = props->child; p; p = p->next, k++) {
            vpath(sub, "%s.properties[%d].value", path, k);
            if (gschema(g, sub, p, depth + 1) != 0)
                return -1;
        }
    }
    /* (API) an OBJECT needs properties: "should be non-empty for OBJECT type" */
    if (genum(t, (const char *const[]){"OBJECT", NULL}) && (!props || props->count == 0)) {
        vpath(sub, "%s.properties", path);
        return gsem(g, sub, "should be non-empty for OBJECT type");
    }
    if ((n = mj_get(s, "items"))) {
        vpath(sub, "%s.items", path);
        if (gschema(g, sub, n, depth + 1) != 0)
            return -1;
    }
    if ((n = gget(s, "anyOf", "any_of"))) {
        int k = 0;
        vpath(sub, "%s.any_of", path);
        if (n->type != MJ_ARR)
            return gbad(g, sub, SCHEMA_T, n);
        for (const struct mjnode *x = n->child; x; x = x->next, k++) {
            vpath(sub, "%s.any_of[%d]", path, k);
            if (gschema(g, sub, x, depth + 1) != 0)
                return -1;
        }
    }
    /* (API) required names must be properties */
    if ((n = mj_get(s, "required"))) {
        int k = 0;
        vpath(sub, "%s.required", path);
        if (n->type != MJ_ARR)
            return gbad(g, sub, "TYPE_STRING", n);
        for (const struct mjnode *x = n->child; x; x = x->next, k++) {
            vpath(sub, "%s.required[%d]", path, k);
            if (x->type != MJ_STR)
                return gbad(g, sub, "TYPE_STRING", x);
            const struct mjnode *p = props ? props->child : NULL;
            while (p && !(p->klen == x->n && memcmp(p->key, x->s, x->n) == 0))
                p = p->next;
            if (!p)
                return gsem(g, sub, "property is not defined");
        }
    }
    /* (API) enum: strings, on a STRING schema */
    if ((n = mj_get(s, "enum"))) {
        vpath(sub, "%s.enum", path);
        if (n->type != MJ_ARR)
            return gbad(g, sub, "TYPE_STRING", n);
        if (t && !genum(t, (const char *const[]){"STRING", NULL}))
            return gsem(g, sub, "only allowed for STRING type");
        int k = 0;
        for (const struct mjnode *x = n->child; x; x = x->next, k++)
            if (x->type != MJ_STR) {
                vpath(sub, "%s.enum[%d]", path, k);
                return gbad(g, sub, "TYPE_STRING", x);
            }
    }
    return 0;
}

/* ---- Content and Part (P4.2 request, "Roles", "Part kinds") ---------------- */

static const struct gfield CONTENT_F[] = {{"role", "role"}, {"parts", "parts"}, {NULL, NULL}};
static const struct gfield PART_F[] = {
    {"text", "text"}, {"inlineData", "inline_data"}, {"fileData", "file_data"},
    {"functionCall", "function_call"}, {"functionResponse", "function_response"},
    {"executableCode", "executable_code"}, {"codeExecutionResult", "code_execution_result"},
    {"thought", "thought"}, {"thoughtSignature", "thought_signature"},
    {"partMetadata", "part_metadata"}, {"videoMetadata", "video_metadata"},
    {"mediaResolution", "media_resolution"}, {NULL, NULL}};
/* The members of the `data` oneof: a part has exactly one. */
static const struct gfield DATA_F[] = {
    {"text", "text"}, {"inlineData", "inline_data"}, {"fileData", "file_data"},
    {"functionCall", "function_call"}, {"functionResponse", "function_response"},
    {"executableCode", "executable_code"}, {"codeExecutionResult", "code_execution_result"},
    {NULL, NULL}};
static const struct gfield BLOB_F[] = {{"mimeType", "mime_type"}, {"data", "data"},
                                       {"displayName", "display_name"}, {NULL, NULL}};
static const struct gfield FILE_F[] = {{"mimeType", "mime_type"}, {"fileUri", "file_uri"},
                                       {"displayName", "display_name"}, {NULL, NULL}};
static const struct gfield CALL_F[] = {{"id", "id"}, {"name", "name"}, {"args", "args"},
                                       {"partialArgs", "partial_args"}, {"willContinue", "will_continue"},
                                       {NULL, NULL}};
static const struct gfield RESP_F[] = {{"id", "id"}, {"name", "name"}, {"response", "response"},
                                       {"willContinue", "will_continue"}, {"scheduling", "scheduling"},
                                       {"parts", "parts"}, {NULL, NULL}};

#define STRUCT_T "type.googleapis.com/google.protobuf.Struct"

/* functionCall / functionResponse: a name, and an object for args/response. */
static int gfunction(struct gctx *g, const char *path, const struct mjnode *f, int response)
{
    char sub[VPATH];
    const struct mjnode *name, *v;
    if (f->type != MJ_OBJ)
        return gbad(g, path, response ? "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionResponse"
                                      : "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCall", f);
    if (gunknown(g, path, f, response ? RESP_F : CALL_F) != 0)
        return -1;
    name = mj_get(f, "name");
    vpath(sub, "%s.name", path);
    if (name && name->type != MJ_STR)
        return gbad(g, sub, "TYPE_STRING", name);
    if (!name || name->n == 0)
        return gsem(g, sub, "Name cannot be empty.");
    v = mj_get(f, response ? "response" : "args");
    vpath(sub, "%s.%s", path, response ? "response" : "args");
    if (v && v->type != MJ_OBJ)
        return gbad(g, sub, STRUCT_T, v);
    return 0;
}

static int gpart(struct gctx *g, const char *path, const struct mjnode *p)
{
    char sub[VPATH];
    const struct mjnode *first = NULL, *n;
    if (p->type != MJ_OBJ)
        return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.Part", p);
    if (gunknown(g, path, p, PART_F) != 0)
        return -1;
    /* P4.2 "Part kinds": exactly one of the data members */
    for (const struct mjnode *m = p->child; m; m = m->next) {
        const struct gfield *x;
        for (x = DATA_F; x->camel; x++)
            if (mock_key_is(m->key, m->klen, x->camel) || mock_key_is(m->key, m->klen, x->snake))
                break;
        if (!x->camel || m->type == MJ_NULL)
            continue;
        if (first)
            return vfail(g->e, NULL, NULL, "Invalid JSON payload received. Invalid value at '%s.data' "
                         "(oneof), oneof field 'data' is already set. Cannot overwrite with '%s'",
                         path, x->snake);
        first = m;
    }
    vpath(sub, "%s.data", path);
    if (!first)
        return gsem(g, sub, "required oneof field 'data' must have one initialized field");
    if ((n = mj_get(p, "text")) && n->type != MJ_STR) {
        vpath(sub, "%s.text", path);
        return gbad(g, sub, "TYPE_STRING", n);
    }
    if ((n = gget(p, "inlineData", "inline_data"))) {
        vpath(sub, "%s.inline_data", path);
        if (n->type != MJ_OBJ)
            return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.Blob", n);
        if (gunknown(g, sub, n, BLOB_F) != 0)
            return -1;
        const struct mjnode *d = mj_get(n, "data"), *mt = gget(n, "mimeType", "mime_type");
        vpath(sub, "%s.inline_data.data", path);
        if (d && !vbase64(d)) /* bytes: base64 (proto JSON) */
            return gbad(g, sub, "TYPE_BYTES", d);
        if (!d || d->n == 0)
            return gsem(g, sub, "Required field is not set.");
        vpath(sub, "%s.inline_data.mime_type", path);
        if (!mt || mt->type != MJ_STR || mt->n == 0)
            return gsem(g, sub, "Required field is not set.");
    }
    if ((n = gget(p, "fileData", "file_data"))) {
        vpath(sub, "%s.file_data", path);
        if (n->type != MJ_OBJ)
            return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.FileData", n);
        if (gunknown(g, sub, n, FILE_F) != 0)
            return -1;
        const struct mjnode *u = gget(n, "fileUri", "file_uri");
        vpath(sub, "%s.file_data.file_uri", path);
        if (!u || u->type != MJ_STR || u->n == 0)
            return gsem(g, sub, "Required field is not set.");
    }
    if ((n = gget(p, "functionCall", "function_call"))) {
        vpath(sub, "%s.function_call", path);
        if (gfunction(g, sub, n, 0) != 0)
            return -1;
    }
    if ((n = gget(p, "functionResponse", "function_response"))) {
        vpath(sub, "%s.function_response", path);
        if (gfunction(g, sub, n, 1) != 0)
            return -1;
    }
    if ((n = mj_get(p, "thought")) && n->type != MJ_BOOL) {
        vpath(sub, "%s.thought", path);
        return gbad(g, sub, "TYPE_BOOL", n);
    }
    /* P4.2: thoughtSignature is opaque bytes, echoed unchanged (base64) */
    if ((n = gget(p, "thoughtSignature", "thought_signature")) && !vbase64(n)) {
        vpath(sub, "%s.thought_signature", path);
        return gbad(g, sub, "TYPE_BYTES", n);
    }
    return 0;
}

/* A Content: role user|model (contents only), non-empty parts. */
static int gcontent(struct gctx *g, const char *path, const struct mjnode *c, int system)
{
    char sub[VPATH];
    if (c->type != MJ_OBJ)
        return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.Content", c);
    if (gunknown(g, path, c, CONTENT_F) != 0)
        return -1;
    const struct mjnode *role = mj_get(c, "role"), *parts = mj_get(c, "parts");
    if (role && role->type != MJ_STR) {
        vpath(sub, "%s.role", path);
        return gbad(g, sub, "TYPE_STRING", role);
    }
    /* P4.2 "Roles: user and model only" */
    if (!system && role && role->n && !mj_str_is(role, "user") && !mj_str_is(role, "model"))
        return vfail(g->e, NULL, NULL, "Please use a valid role: user, model.");
    vpath(sub, "%s.parts", path);
    if (parts && parts->type != MJ_ARR)
        return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.Part", parts);
    if (!parts || parts->count == 0) /* (API) */
        return gsem(g, sub, "contents.parts must not be empty.");
    int k = 0;
    for (const struct mjnode *p = parts->child; p; p = p->next, k++) {
        vpath(sub, "%s.parts[%d]", path, k);
        if (gpart(g, sub, p) != 0)
            return -1;
    }
    return 0;
}

/* The function parts of one content: how many, and is `name` among them. */
static int count_parts(const struct mjnode *c, const char *camel, const char *snake)
{
    int n = 0;
    for (const struct mjnode *p = mj_get(c, "parts")->child; p; p = p->next)
        n += gget(p, camel, snake) != NULL;
    return n;
}

static int has_call_named(const struct mjnode *c, const struct mjnode *name)
{
    for (const struct mjnode *p = mj_get(c, "parts")->child; p; p = p->next) {
        const struct mjnode *f = gget(p, "functionCall", "function_call"), *n = mj_get(f, "name");
        if (n && n->n == name->n && memcmp(n->s, name->s, n->n) == 0)
            return 1;
    }
    return 0;
}

/* Function-call turns and their responses (P4.2: function responses go in
 * the user turn right after the model's call, by name; the wording of the
 * refusals is the API's): a call turn follows a user turn, a response turn
 * follows the call turn, one response per call, each naming a call. */
static int gturns(struct gctx *g, const char *base, const struct mjnode *contents)
{
    const struct mjnode *prev = NULL;
    int i = 0;
    for (const struct mjnode *c = contents->child; c; prev = c, c = c->next, i++) {
        int calls = count_parts(c, "functionCall", "function_call");
        int resps = count_parts(c, "functionResponse", "function_response");
        if (calls > 0 && (!prev || mj_str_is(mj_get(prev, "role"), "model")))
            return vfail(g->e, NULL, NULL, "Please ensure that function call turn comes immediately "
                         "after a user turn or after a function response turn.");
        if (resps == 0)
            continue;
        int prev_calls = prev ? count_parts(prev, "functionCall", "function_call") : 0;
        if (prev_calls == 0)
            return vfail(g->e, NULL, NULL, "Please ensure that function response turn comes "
                         "immediately after a function call turn.");
        if (resps != prev_calls)
            return vfail(g->e, NULL, NULL, "Please ensure that the number of function response parts "
                         "is equal to the number of function call parts of the function call turn.");
        int k = 0;
        for (const struct mjnode *p = mj_get(c, "parts")->child; p; p = p->next, k++) {
            const struct mjnode *f = gget(p, "functionResponse", "function_response");
            const struct mjnode *name = mj_get(f, "name");
            if (f && !has_call_named(prev, name)) {
                char sub[VPATH];
                vpath(sub, "%scontents[%d].parts[%d].function_response.name", base, i, k);
                return gsem(g, sub, "function response name does not match any function call of the "
                            "previous turn.");
            }
        }
    }
    return 0;
}

/* ---- tools, toolConfig, generationConfig ----------------------------------- */

static const struct gfield TOOL_F[] = {
    {"functionDeclarations", "function_declarations"}, {"googleSearchRetrieval", "google_search_retrieval"},
    {"codeExecution", "code_execution"}, {"googleSearch", "google_search"},
    {"computerUse", "computer_use"}, {"urlContext", "url_context"}, {"fileSearch", "file_search"},
    {"googleMaps", "google_maps"}, {NULL, NULL}};
static const struct gfield DECL_F[] = {
    {"name", "name"}, {"description", "description"}, {"parameters", "parameters"},
    {"parametersJsonSchema", "parameters_json_schema"}, {"response", "response"},
    {"responseJsonSchema", "response_json_schema"}, {"behavior", "behavior"}, {NULL, NULL}};

/* (API) ^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$ */
static int decl_name_ok(const struct mjnode *n)
{
    if (!n || n->type != MJ_STR || n->n == 0 || n->n > 64)
        return 0;
    if (!isalpha((unsigned char)n->s[0]) && n->s[0] != '_')
        return 0;
    for (size_t i = 1; i < n->n; i++) {
        char c = n->s[i];
        if (!isalnum((unsigned char)c) && c != '_' && c != '.' && c != ':' && c != '-')
            return 0;
    }
    return 1;
}

/* tools[] (P4.2 request: functionDeclarations and the built-in tools; a
 * declaration's parameters in the Schema subset, P4.2). */
static int gtools(struct gctx *g, const char *base, const struct mjnode *tools)
{
    char path[VPATH], sub[VPATH];
    vpath(path, "%stools", base);
    if (tools->type != MJ_ARR)
        return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.Tool", tools);
    int k = 0;
    for (const struct mjnode *t = tools->child; t; t = t->next, k++) {
        vpath(path, "%stools[%d]", base, k);
        if (t->type != MJ_OBJ)
            return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.Tool", t);
        if (gunknown(g, path, t, TOOL_F) != 0)
            return -1;
        const struct mjnode *fds = gget(t, "functionDeclarations", "function_declarations");
        if (!fds)
            continue;
        if (fds->type != MJ_ARR) {
            vpath(sub, "%s.function_declarations", path);
            return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionDeclaration", fds);
        }
        int d = 0;
        for (const struct mjnode *fd = fds->child; fd; fd = fd->next, d++) {
            char dp[VPATH];
            const struct mjnode *p;
            vpath(dp, "%s.function_declarations[%d]", path, d);
            if (fd->type != MJ_OBJ)
                return gbad(g, dp, "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionDeclaration", fd);
            if (gunknown(g, dp, fd, DECL_F) != 0)
                return -1;
            vpath(sub, "%s.name", dp);
            if (!decl_name_ok(mj_get(fd, "name")))
                return gsem(g, sub, "Invalid function name. Must start with a letter or an underscore. "
                            "Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), "
                            "or dashes (-), with a maximum length of 64.");
            if ((p = mj_get(fd, "parameters"))) {
                vpath(sub, "%s.parameters", dp);
                if (gschema(g, sub, p, 0) != 0)
                    return -1;
            }
            if ((p = mj_get(fd, "response"))) {
                vpath(sub, "%s.response", dp);
                if (gschema(g, sub, p, 0) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* toolConfig (P4.2): functionCallingConfig.mode AUTO|ANY|NONE|VALIDATED;
 * allowedFunctionNames only with ANY (and VALIDATED). */
static int gtool_config(struct gctx *g, const char *base, const struct mjnode *tc)
{
    static const struct gfield F[] = {{"functionCallingConfig", "function_calling_config"},
                                      {"retrievalConfig", "retrieval_config"}, {NULL, NULL}};
    static const struct gfield FCC_F[] = {{"mode", "mode"},
                                          {"allowedFunctionNames", "allowed_function_names"}, {NULL, NULL}};
    static const char *const modes[] = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED", NULL};
    char path[VPATH], sub[VPATH];
    vpath(path, "%stool_config", base);
    if (tc->type != MJ_OBJ)
        return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.ToolConfig", tc);
    if (gunknown(g, path, tc, F) != 0)
        return -1;
    const struct mjnode *fcc = gget(tc, "functionCallingConfig", "function_calling_config");
    if (!fcc)
        return 0;
    vpath(path, "%stool_config.function_calling_config", base);
    if (fcc->type != MJ_OBJ)
        return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig", fcc);
    if (gunknown(g, path, fcc, FCC_F) != 0)
        return -1;
    const struct mjnode *mode = mj_get(fcc, "mode"), *names = gget(fcc, "allowedFunctionNames",
                                                                   "allowed_function_names");
    vpath(sub, "%s.mode", path);
    if (mode && !genum(mode, modes))
        return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode", mode);
    if (names) {
        vpath(sub, "%s.allowed_function_names", path);
        if (names->type != MJ_ARR)
            return gbad(g, sub, "TYPE_STRING", names);
        if (!genum(mode, (const char *const[]){"ANY", "VALIDATED", NULL}))
            return gsem(g, sub, "allowed_function_names may only be set when mode is ANY.");
    }
    return 0;
}

static const struct gfield GEN_F[] = {
    {"stopSequences", "stop_sequences"}, {"responseMimeType", "response_mime_type"},
    {"responseSchema", "response_schema"}, {"responseJsonSchema", "response_json_schema"},
    {"responseModalities", "response_modalities"}, {"candidateCount", "candidate_count"},
    {"maxOutputTokens", "max_output_tokens"}, {"temperature", "temperature"}, {"topP", "top_p"},
    {"topK", "top_k"}, {"seed", "seed"}, {"presencePenalty", "presence_penalty"},
    {"frequencyPenalty", "frequency_penalty"}, {"responseLogprobs", "response_logprobs"},
    {"logprobs", "logprobs"}, {"enableEnhancedCivicAnswers", "enable_enhanced_civic_answers"},
    {"speechConfig", "speech_config"}, {"thinkingConfig", "thinking_config"},
    {"mediaResolution", "media_resolution"}, {"imageConfig", "image_config"}, {NULL, NULL}};

/* generationConfig (P4.2 request: its members; unknown ones refused). */
static int ggeneration(struct gctx *g, const char *base, const struct mjnode *gc)
{
    static const struct gfield THINK_F[] = {{"thinkingBudget", "thinking_budget"},
                                            {"includeThoughts", "include_thoughts"},
                                            {"thinkingLevel", "thinking_level"}, {NULL, NULL}};
    /* (API) response_mime_type values */
    static const char *const mimes[] = {"text/plain", "application/json", "application/xml",
                                        "application/yaml", "text/x.enum", NULL};
    /* P4.2 lists these fields; their types and ranges are the API's (API) */
    static const struct { const char *camel, *snake; int integer; double lo, hi; } nums[] = {
        {"temperature", "temperature", 0, 0, 2}, {"topP", "top_p", 0, 0, 1},
        {"topK", "top_k", 1, 0, 2147483647.0}, {"candidateCount", "candidate_count", 1, 1, 2147483647.0},
        {"maxOutputTokens", "max_output_tokens", 1, 1, 2147483647.0},
        {"seed", "seed", 1, -2147483648.0, 2147483647.0},
        {"presencePenalty", "presence_penalty", 0, -1e9, 1e9},
        {"frequencyPenalty", "frequency_penalty", 0, -1e9, 1e9},
        {"logprobs", "logprobs", 1, 0, 2147483647.0}};
    char path[VPATH], sub[VPATH];
    const struct mjnode *n;
    vpath(path, "%sgeneration_config", base);
    if (gc->type != MJ_OBJ)
        return gbad(g, path, "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig", gc);
    if (gunknown(g, path, gc, GEN_F) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (!(n = gget(gc, nums[i].camel, nums[i].snake)))
            continue;
        vpath(sub, "%s.%s", path, nums[i].snake);
        if (nums[i].integer ? !gint_ok(n) : n->type != MJ_NUM)
            return gbad(g, sub, nums[i].integer ? "TYPE_INT32" : "TYPE_FLOAT", n);
        if (n->type == MJ_NUM && (n->num < nums[i].lo || n->num > nums[i].hi)) {
            char msg[VPATH];
            vpath(msg, "must be in the range [%g, %g].", nums[i].lo, nums[i].hi);
            return gsem(g, sub, msg);
        }
    }
    /* P4.7 `stop` row: stopSequences, at most 5 strings */
    if ((n = gget(gc, "stopSequences", "stop_sequences"))) {
        vpath(sub, "%s.stop_sequences", path);
        if (n->type != MJ_ARR)
            return gbad(g, sub, "TYPE_STRING", n);
        for (const struct mjnode *s = n->child; s; s = s->next)
            if (s->type != MJ_STR)
                return gbad(g, sub, "TYPE_STRING", s);
        if (n->count > 5)
            return gsem(g, sub, "the number of stop_sequences must not exceed 5.");
    }
    const struct mjnode *mime = gget(gc, "responseMimeType", "response_mime_type");
    if (mime) {
        vpath(sub, "%s.response_mime_type", path);
        if (mime->type != MJ_STR)
            return gbad(g, sub, "TYPE_STRING", mime);
        if (!vkey_in(mime->s, mime->n, mimes))
            return gsem(g, sub, "allowed mimetypes are `text/plain`, `application/json`, "
                        "`application/xml`, `application/yaml` and `text/x.enum`.");
    }
    if ((n = gget(gc, "responseSchema", "response_schema"))) {
        vpath(sub, "%s.response_schema", path);
        if (gschema(g, sub, n, 0) != 0)
            return -1;
        /* (API) a schema needs a JSON (or enum) response */
        if (!mj_str_is(mime, "application/json") && !mj_str_is(mime, "text/x.enum"))
            return gsem(g, sub, "response_mime_type must be one of ['application/json', "
                        "'text/x.enum'] when response_schema is set.");
    }
    if ((n = gget(gc, "responseLogprobs", "response_logprobs")) && n->type != MJ_BOOL) {
        vpath(sub, "%s.response_logprobs", path);
        return gbad(g, sub, "TYPE_BOOL", n);
    }
    if ((n = gget(gc, "thinkingConfig", "thinking_config"))) {
        vpath(sub, "%s.thinking_config", path);
        if (n->type != MJ_OBJ)
            return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig", n);
        if (gunknown(g, sub, n, THINK_F) != 0)
            return -1;
        const struct mjnode *b = gget(n, "thinkingBudget", "thinking_budget");
        if (b && !gint_ok(b)) {
            vpath(sub, "%s.thinking_config.thinking_budget", path);
            return gbad(g, sub, "TYPE_INT32", b);
        }
        /* P4.2 Thinking: budget and level, not both */
        if (b && gget(n, "thinkingLevel", "thinking_level"))
            return gsem(g, sub, "thinking_budget and thinking_level are mutually exclusive.");
    }
    return 0;
}

/* ---- the request ------------------------------------------------------------ */

static const struct gfield REQ_F[] = {
    {"model", "model"}, {"contents", "contents"}, {"systemInstruction", "system_instruction"},
    {"generationConfig", "generation_config"}, {"tools", "tools"}, {"toolConfig", "tool_config"},
    {"safetySettings", "safety_settings"}, {"cachedContent", "cached_content"}, {"labels", "labels"},
    {NULL, NULL}};

/* A GenerateContentRequest at `base` ("" or "generate_content_request."):
 * the members of P4.2's request, nothing else. */
static int grequest(struct gctx *g, const char *base, const struct mjnode *r)
{
    static const struct gfield SAFETY_F[] = {{"category", "category"}, {"threshold", "threshold"},
                                             {"method", "method"}, {NULL, NULL}};
    char path[VPATH], sub[VPATH];
    const struct mjnode *n, *contents;
    vpath(path, "%.*s", *base ? (int)strlen(base) - 1 : 0, base);
    if (gunknown(g, path, r, REQ_F) != 0)
        return -1;
    /* P4.2 / brief: contents required, non-empty (cachedContent does not waive it) */
    contents = mj_get(r, "contents");
    vpath(sub, "%scontents", base);
    if (contents && contents->type != MJ_ARR)
        return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.Content", contents);
    if (!contents || contents->count == 0)
        return gsem(g, sub, "contents is not specified");
    int i = 0;
    for (const struct mjnode *c = contents->child; c; c = c->next, i++) {
        vpath(sub, "%scontents[%d]", base, i);
        if (gcontent(g, sub, c, 0) != 0)
            return -1;
    }
    if (gturns(g, base, contents) != 0)
        return -1;
    if ((n = gget(r, "systemInstruction", "system_instruction"))) {
        vpath(sub, "%ssystem_instruction", base);
        if (gcontent(g, sub, n, 1) != 0)
            return -1;
    }
    if ((n = mj_get(r, "tools")) && gtools(g, base, n) != 0)
        return -1;
    if ((n = gget(r, "toolConfig", "tool_config")) && gtool_config(g, base, n) != 0)
        return -1;
    if ((n = gget(r, "generationConfig", "generation_config")) && ggeneration(g, base, n) != 0)
        return -1;
    if ((n = gget(r, "safetySettings", "safety_settings"))) {
        vpath(sub, "%ssafety_settings", base);
        if (n->type != MJ_ARR)
            return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.SafetySetting", n);
        int k = 0;
        for (const struct mjnode *s = n->child; s; s = s->next, k++) {
            vpath(sub, "%ssafety_settings[%d]", base, k);
            if (!is_obj(s))
                return gbad(g, sub, "type.googleapis.com/google.ai.generativelanguage.v1beta.SafetySetting", s);
            if (gunknown(g, sub, s, SAFETY_F) != 0)
                return -1;
        }
    }
    if ((n = gget(r, "cachedContent", "cached_content")) && n->type != MJ_STR) {
        vpath(sub, "%scached_content", base);
        return gbad(g, sub, "TYPE_STRING", n);
    }
    return 0;
}

/* countTokens (P4.5): `contents`, or `generateContentRequest` naming its
 * model "models/..."; the Developer API refuses anything else at the top. */
static int gcount(struct gctx *g, const struct mjnode *r)
{
    static const struct gfield F[] = {{"contents", "contents"},
                                      {"generateContentRequest", "generate_content_request"}, {NULL, NULL}};
    const struct mjnode *gcr = gget(r, "generateContentRequest", "generate_content_request"), *c;
    if (gunknown(g, "", r, F) != 0)
        return -1;
    if (gcr) {
        const struct mjnode *model = gcr->type == MJ_OBJ ? mj_get(gcr, "model") : NULL;
        if (!model || model->type != MJ_STR || model->n < 8 || memcmp(model->s, "models/", 7) != 0)
            return vfail(g->e, NULL, NULL, "* GenerateContentRequest.model: unexpected model name format\n");
        return grequest(g, "generate_content_request.", gcr);
    }
    if ((c = mj_get(r, "contents"))) {
        int i = 0;
        if (c->type != MJ_ARR)
            return gbad(g, "contents", "type.googleapis.com/google.ai.generativelanguage.v1beta.Content", c);
        for (const struct mjnode *x = c->child; x; x = x->next, i++) {
            char sub[VPATH];
            vpath(sub, "contents[%d]", i);
            if (gcontent(g, sub, x, 0) != 0)
                return -1;
        }
        return gturns(g, "", c);
    }
    return 0;
}

int mock_validate_gemini(const char *body, size_t len, int count_tokens, struct mock_verr *e)
{
    struct mjtree *t;
    int too_big;
    struct gctx g = {e, count_tokens ? "CountTokensRequest" : "GenerateContentRequest"};
    const struct mjnode *root = mjson_parse(body, len, &t, &too_big);
    int rc;
    if (!root && too_big)
        rc = 0; /* not judged (validate.h) */
    else if (!root || root->type != MJ_OBJ)
        rc = vfail(e, NULL, NULL, "Invalid JSON payload received.");
    else
        rc = count_tokens ? gcount(&g, root) : grequest(&g, "", root);
    mjson_tree_free(t);
    return rc;
}
