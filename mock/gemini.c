/*
 * gemini.c - the Gemini (Generative Language API) dialect of the mock:
 * POST /{v1beta,v1,v1alpha}/models/{model}:generateContent,
 * :streamGenerateContent (SSE with ?alt=sse, else one JSON array streamed
 * element by element), :countTokens and :batchEmbedContents (routed as
 * MOCK_EP_EMBEDDINGS with this dialect). The model comes from the path (main.c
 * routes on the ":method" suffix, so it may hold '/'), the key from the
 * `x-goog-api-key` header or `?key=`. Content as in openai.c: the same
 * sentence, a functionCall with args {"city":"Paris"}.
 *
 * countTokens answers {"totalTokens":N} with N the words of every "text"
 * string (mjson_count_words; not the bytes / 4 of generateContent's usage, so
 * a count the gateway relayed or translated is told apart from its own
 * estimate). Like the Developer API it takes only `contents` or
 * `generateContentRequest` (whose `model` must be "models/..."): a top-level
 * systemInstruction, tools or any other member is a 400 INVALID_ARGUMENT.
 *
 * generateContent, streamGenerateContent and countTokens bodies the real API
 * would refuse (validate_gemini.c) get its 400 INVALID_ARGUMENT unless lax=1.
 *
 * Stream: one chunk per content event (a word, or the whole functionCall);
 * every chunk carries usageMetadata (prompt only until the last), the last
 * content chunk also finishReason and the full usage. No opener, no [DONE].
 * SSE lines end in CRLF (Gemini's framing) unless cr=1.
 *
 * batchEmbedContents: {"requests":[{"model":"models/<the URL's model>",
 * "content":{"parts":[...]}, "outputDimensionality"?, "taskType"?,
 * "title"?}, ...]} -> {"embeddings":[{"values":[...]}, ...]}, pretty-printed
 * like the real API, no usage (the real one reports none). Deterministic
 * vectors (embed_value): 8 values per input, or outputDimensionality of them
 * (1..3072, gemini-embedding-001's range), printed with %.17g so most carry
 * 17 significant digits and some an exponent: a relay that goes through a
 * 14-digit JSON encoder shows. Refused with 400 INVALID_ARGUMENT, like the
 * proto JSON parser does: no (or an empty) `requests`, a member it does not
 * know (top level or per request), a request without `content` or whose
 * `model` is not "models/" + the URL's model, a bad outputDimensionality.
 * Unlike the rest of the mock, the reply reads the request body a second
 * time (it stays with the evhttp request until the reply), so the per-request
 * dimensions need no storage in the job.
 */
#include "mock.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define ADD_LIT(b, s) evbuffer_add((b), (s), sizeof(s) - 1)

/* ---- request parsing ---------------------------------------------------- */

/* One element of tools[]: {"functionDeclarations":[{"name":..},..]} (others,
 * such as {"googleSearch":{}}, have no declarations). */
static int on_tool_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    if (mock_key_is(k, klen, "functionDeclarations") && *v == '[')
        mjson_array(v, ve, mock_on_named_object, ud);
    return *(char **)ud != NULL;
}

static int on_tool(const char *v, const char *ve, void *ud)
{
    if (*v == '{')
        mjson_object(v, ve, on_tool_member, ud);
    return *(char **)ud != NULL;
}

static int on_fc_config(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    if (mock_key_is(k, klen, "mode"))
        *(int *)ud = mjson_is(v, ve, "\"NONE\"");
    return 0;
}

/* toolConfig: {"functionCallingConfig":{"mode":"NONE"|...}} */
static int on_tool_config(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    if (mock_key_is(k, klen, "functionCallingConfig") && *v == '{')
        mjson_object(v, ve, on_fc_config, ud);
    return 0;
}

struct parse_ctx {
    struct mock_job *job;
    int mode_none;
};

static int on_request_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    if (mock_key_is(k, klen, "model"))
        *(int *)ud = ve - v > 8 && memcmp(v, "\"models/", 8) == 0;
    return 0;
}

/* countTokens takes `contents` or `generateContentRequest` (a full request
 * naming its model) and nothing else: the proto JSON parser refuses unknown
 * names, systemInstruction and tools included. The first refusal wins. */
static void check_count_member(struct mock_job *job, const char *k, size_t klen, const char *v,
                               const char *ve)
{
    if (job->invalid_arg[0] || mock_key_is(k, klen, "contents"))
        return;
    if (mock_key_is(k, klen, "generateContentRequest") ||
        mock_key_is(k, klen, "generate_content_request")) {
        int model_ok = 0;
        if (*v != '{' || mjson_object(v, ve, on_request_member, &model_ok) != 0 || !model_ok)
            snprintf(job->invalid_arg, sizeof(job->invalid_arg),
                     "* GenerateContentRequest.model: unexpected model name format");
        return;
    }
    snprintf(job->invalid_arg, sizeof(job->invalid_arg),
             "Invalid JSON payload received. Unknown name \"%.*s\": Cannot find field.",
             klen > 64 ? 64 : (int)klen, k);
}

static int on_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    struct parse_ctx *pc = ud;
    struct mock_job *job = pc->job;
    if (job->ep == MOCK_EP_COUNT)
        check_count_member(job, k, klen, v, ve);
    if (mock_key_is(k, klen, "contents") || mock_key_is(k, klen, "generateContentRequest")) {
        job->has_messages = *v == '[' || *v == '{';
    } else if (mock_key_is(k, klen, "tools")) {
        if (*v == '[' && !job->tool)
            mjson_array(v, ve, on_tool, &job->tool);
    } else if (mock_key_is(k, klen, "toolConfig")) {
        if (*v == '{')
            mjson_object(v, ve, on_tool_config, &pc->mode_none);
    }
    return 0;
}

/* Credentials: the header, or a non-empty key= in the query; alt=sse. */
static void parse_query(struct mock_job *job, struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    struct evkeyvalq kv = {0};
    int have_key = mock_has_header(req, "x-goog-api-key");
    if (q && evhttp_parse_query_str(q, &kv) == 0) {
        const char *key = evhttp_find_header(&kv, "key"), *alt = evhttp_find_header(&kv, "alt");
        have_key |= key && *key;
        job->array = !(alt && strcmp(alt, "sse") == 0);
    } else {
        job->array = 1;
    }
    evhttp_clear_headers(&kv);
    job->no_auth = !have_key;
}

/* ---- batchEmbedContents ------------------------------------------------------ */

#define EMBED_DIMS 8         /* values per vector without outputDimensionality */
#define EMBED_MAX_DIMS 3072  /* gemini-embedding-001's largest outputDimensionality */

/* One walk over the body: validation at arrival (out == NULL), the vectors
 * at reply time. The first problem found goes to job->invalid_arg. */
struct embed_walk {
    struct mock_job *job;
    struct evbuffer *out;
    int index;                /* the request being read */
    int dims, has_model, has_content, has_requests;
};

static void embed_invalid(struct embed_walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void embed_invalid(struct embed_walk *w, const char *fmt, ...)
{
    va_list ap;
    if (w->job->invalid_arg[0])
        return;
    va_start(ap, fmt);
    vsnprintf(w->job->invalid_arg, sizeof(w->job->invalid_arg), fmt, ap);
    va_end(ap);
}

/* Value j of vector i: exact binary fractions, thirds and tenths (17
 * significant digits in %.17g) and small negatives (an exponent). */
static double embed_value(int i, int j)
{
    switch (j % 4) {
    case 0: return i + 0.125 * j;
    case 1: return (i + 1) / 3.0;
    case 2: return -(j + 1) / 7.0 * 1e-5;
    default: return 0.1 * (i + j);
    }
}

static void embed_vector(struct evbuffer *b, int i, int dims)
{
    evbuffer_add_printf(b, "%s    {\n      \"values\": [\n", i ? ",\n" : "");
    for (int j = 0; j < dims; j++)
        evbuffer_add_printf(b, "        %.17g%s\n", embed_value(i, j), j + 1 < dims ? "," : "");
    ADD_LIT(b, "      ]\n    }");
}

static int on_content_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    (void)ve;
    if (mock_key_is(k, klen, "parts") && *v == '[')
        *(int *)ud = 1;
    return 0;
}

static int on_embed_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    struct embed_walk *w = ud;
    const char *path_model = w->job->path_id ? w->job->path_id : "";
    if (mock_key_is(k, klen, "model")) {
        size_t pl = strlen(path_model);
        w->has_model = 1;
        if (*v != '"' || (size_t)(ve - v) != pl + 9 || memcmp(v + 1, "models/", 7) != 0 ||
            memcmp(v + 8, path_model, pl) != 0)
            embed_invalid(w, "* BatchEmbedContentsRequest.requests[%d].model: must be \"models/%.64s\" "
                          "(the model of the URL)", w->index, path_model);
    } else if (mock_key_is(k, klen, "content")) {
        if (*v == '{')
            mjson_object(v, ve, on_content_member, &w->has_content);
    } else if (mock_key_is(k, klen, "outputDimensionality") ||
               mock_key_is(k, klen, "output_dimensionality")) {
        long d = 0;
        const char *p = v;
        while (p < ve && *p >= '0' && *p <= '9' && d <= EMBED_MAX_DIMS)
            d = d * 10 + (*p++ - '0');
        if (p != ve || d < 1 || d > EMBED_MAX_DIMS)
            embed_invalid(w, "* BatchEmbedContentsRequest.requests[%d].output_dimensionality: must be an "
                          "integer from 1 to %d", w->index, EMBED_MAX_DIMS);
        else
            w->dims = (int)d;
    } else if (!mock_key_is(k, klen, "taskType") && !mock_key_is(k, klen, "task_type") &&
               !mock_key_is(k, klen, "title")) {
        embed_invalid(w, "Invalid JSON payload received. Unknown name \"%.*s\" at 'requests[%d]': "
                      "Cannot find field.", klen > 64 ? 64 : (int)klen, k, w->index);
    }
    return w->job->invalid_arg[0] != 0;
}

static int on_embed_request(const char *v, const char *ve, void *ud)
{
    struct embed_walk *w = ud;
    w->dims = 0;
    w->has_model = w->has_content = 0;
    if (*v != '{' || mjson_object(v, ve, on_embed_member, w) != 0)
        embed_invalid(w, "Invalid JSON payload received. requests[%d]: expected an object.", w->index);
    else if (!w->has_model)
        embed_invalid(w, "* BatchEmbedContentsRequest.requests[%d].model: unexpected model name format",
                      w->index);
    else if (!w->has_content)
        embed_invalid(w, "* BatchEmbedContentsRequest.requests[%d].content: contents is not specified",
                      w->index);
    if (w->out && !w->job->invalid_arg[0])
        embed_vector(w->out, w->index, w->dims ? w->dims : EMBED_DIMS);
    w->index++;
    return w->job->invalid_arg[0] != 0;
}

static int on_embed_top(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    struct embed_walk *w = ud;
    if (mock_key_is(k, klen, "requests")) {
        w->has_requests = *v == '[';
        if (*v != '[' || mjson_array(v, ve, on_embed_request, w) != 0)
            embed_invalid(w, "Invalid JSON payload received. 'requests': expected a list.");
    } else {
        embed_invalid(w, "Invalid JSON payload received. Unknown name \"%.*s\": Cannot find field.",
                      klen > 64 ? 64 : (int)klen, k);
    }
    return w->job->invalid_arg[0] != 0;
}

/* Walks the request body; returns -1 when it is not a JSON object. */
static int embed_walk(struct mock_job *job, struct evhttp_request *req, struct evbuffer *out)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *p = len ? (const char *)evbuffer_pullup(in, -1) : "";
    struct embed_walk w = {job, out, 0, 0, 0, 0, 0};
    if (mjson_object(p, p + len, on_embed_top, &w) != 0 && !job->invalid_arg[0])
        return -1;
    if (!job->invalid_arg[0] && (!w.has_requests || w.index == 0))
        embed_invalid(&w, "* BatchEmbedContentsRequest.requests: requests is not specified");
    job->n_inputs = w.index;
    return 0;
}

static void embed_reply(struct mock_job *job)
{
    struct evbuffer *b = evbuffer_new();
    ADD_LIT(b, "{\n  \"embeddings\": [\n");
    embed_walk(job, job->req, b);
    ADD_LIT(b, "\n  ]\n}\n");
    mock_send_json(job, b);
    evbuffer_free(b);
}

static void gemini_parse(struct mock_job *job, struct evhttp_request *req)
{
    parse_query(job, req);
    job->eol = job->f.cr ? "\r" : "\r\n";
    job->stream = job->ep == MOCK_EP_STREAM_GEN;
    if (!job->stream)
        job->array = 0;
    else if (job->array)
        job->stream_ctype = "application/json";
    if (job->path_id)
        job->model = mjson_escape_dup(job->path_id, strlen(job->path_id));
    if (job->ep == MOCK_EP_EMBEDDINGS) {
        job->invalid_json = embed_walk(job, req, NULL) != 0;
        return;
    }
    if (job->ep != MOCK_EP_GENERATE && job->ep != MOCK_EP_STREAM_GEN && job->ep != MOCK_EP_COUNT)
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *p = len ? (const char *)evbuffer_pullup(in, -1) : "";
    struct parse_ctx pc = {job, 0};
    job->prompt_tokens = (long)(len / 4);
    if (mjson_object(p, p + len, on_member, &pc) != 0) {
        job->invalid_json = 1;
        return;
    }
    struct mock_verr e;
    if (!job->f.lax && mock_validate_gemini(p, len, job->ep == MOCK_EP_COUNT, &e) != 0)
        job->verr = mock_verr_dup(&e);
    if (job->ep == MOCK_EP_COUNT)
        job->prompt_tokens = mjson_count_words(p, p + len);
    job->tool_call = job->ep != MOCK_EP_COUNT && job->tool != NULL && !pc.mode_none;
    job->total = job->tool_call ? 1 : job->f.events >= 0 ? job->f.events : MOCK_N_WORDS;
}

/* ---- plain replies -------------------------------------------------------- */

/* {"error":{"code":N,"message":..,"status":..}} */
static void send_error(struct mock_job *job, int code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_error(struct mock_job *job, int code, const char *status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"error\":{\"code\":%d,\"message\":\"", code);
    mjson_escape(b, msg, strlen(msg));
    evbuffer_add_printf(b, "\",\"status\":\"%s\"}}\n", status);
    evhttp_add_header(evhttp_request_get_output_headers(job->req), "Content-Type", "application/json");
    evhttp_send_reply(job->req, code, mock_reason_phrase(code), b);
    evbuffer_free(b);
}

static const char *status_name(int code)
{
    switch (code) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 409: return "ABORTED";
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";
    case 501: return "UNIMPLEMENTED";
    case 502: case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

static void gemini_reply_status(struct mock_job *job)
{
    mock_add_retry_headers(job);
    send_error(job, job->f.status, status_name(job->f.status), "mock fault: status %d", job->f.status);
}

/* Parts of the content: the whole sentence (i < 0), word i, the
 * functionCall, or an empty text (i >= total: a finish-only chunk). */
static void add_parts(struct evbuffer *b, const struct mock_job *job, int i)
{
    if (job->tool_call && i < job->total) {
        evbuffer_add_printf(b, "{\"functionCall\":{\"name\":\"%s\",\"args\":%s}}", job->tool,
                            MOCK_TOOL_ARGS);
        return;
    }
    ADD_LIT(b, "{\"text\":\"");
    if (i < 0)
        for (int w = 0; w < job->total; w++)
            mock_add_word(b, job, w);
    else if (i < job->total)
        mock_add_word(b, job, i);
    ADD_LIT(b, "\"}");
}

/* One GenerateContentResponse, without its closing brace. `output` < 0:
 * not finished (no finishReason, prompt-only usage). */
static void add_response(struct evbuffer *b, const struct mock_job *job, int i, long output)
{
    ADD_LIT(b, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[");
    add_parts(b, job, i);
    ADD_LIT(b, "]},");
    if (output >= 0)
        ADD_LIT(b, "\"finishReason\":\"STOP\",");
    evbuffer_add_printf(b, "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":%ld,", job->prompt_tokens);
    if (output >= 0)
        evbuffer_add_printf(b, "\"candidatesTokenCount\":%ld,", output);
    evbuffer_add_printf(b, "\"totalTokenCount\":%ld},\"modelVersion\":\"%s\",\"responseId\":\"mock-%llu\"",
                        job->prompt_tokens + (output > 0 ? output : 0), mock_model(job), job->seq);
}

static int gemini_reply(struct mock_job *job)
{
    if (job->ep == MOCK_EP_NOT_FOUND) {
        send_error(job, 404, "NOT_FOUND", "mock: no Gemini method at %s",
                   evhttp_request_get_uri(job->req));
        return 1;
    }
    if (job->ep == MOCK_EP_BAD_METHOD) {
        send_error(job, 405, "INVALID_ARGUMENT", "Method not allowed for %s",
                   evhttp_request_get_uri(job->req));
        return 1;
    }
    if (job->no_auth) {
        send_error(job, 403, "PERMISSION_DENIED",
                   "Method doesn't allow unregistered callers (callers without established "
                   "identity). Please use API Key or other form of API consumer identity to call "
                   "this API.");
        return 1;
    }
    if (job->invalid_json) {
        send_error(job, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        return 1;
    }
    if (job->verr) {
        send_error(job, 400, "INVALID_ARGUMENT", "%s", job->verr->msg);
        return 1;
    }
    if (job->ep == MOCK_EP_EMBEDDINGS && job->invalid_arg[0]) {
        send_error(job, 400, "INVALID_ARGUMENT", "%s", job->invalid_arg);
        return 1;
    }
    if (job->ep == MOCK_EP_EMBEDDINGS) {
        embed_reply(job);
        return 1;
    }
    struct evbuffer *b = evbuffer_new();
    if (job->ep == MOCK_EP_COUNT && job->invalid_arg[0]) {
        evbuffer_free(b);
        send_error(job, 400, "INVALID_ARGUMENT", "%s", job->invalid_arg);
        return 1;
    } else if (job->ep == MOCK_EP_COUNT) {
        evbuffer_add_printf(b, "{\"totalTokens\":%ld}\n", job->prompt_tokens);
    } else if (!job->has_messages) {
        evbuffer_free(b);
        send_error(job, 400, "INVALID_ARGUMENT",
                   "* GenerateContentRequest.contents: contents is not specified");
        return 1;
    } else if (job->stream) {
        evbuffer_free(b);
        return 0;
    } else {
        add_response(b, job, -1, job->total);
        mock_add_padding(b, job->f.body_kb);
        ADD_LIT(b, "}\n");
    }
    mock_send_json(job, b);
    evbuffer_free(b);
    return 1;
}

/* ---- stream --------------------------------------------------------------- */

/* Opens one stream element: `data: ` (SSE) or the array separator. */
static void el_begin(struct evbuffer *b, const struct mock_job *job, int first)
{
    if (!job->array)
        ADD_LIT(b, "data: ");
    else if (!first)
        evbuffer_add_printf(b, ",%s", job->eol);
}

static void el_end(struct evbuffer *b, const struct mock_job *job)
{
    if (!job->array)
        evbuffer_add_printf(b, "%s%s", job->eol, job->eol);
}

static void gemini_sse_open(struct mock_job *job, struct evbuffer *b)
{
    if (job->array)
        ADD_LIT(b, "[");
}

/* No stream fault is armed: the finish may ride on the last content chunk. A
 * fault due after the content (N >= total) cuts the stream before it. */
static int finish_with_content(const struct mock_job *job)
{
    return job->f.reset_after < 0 && job->f.stall_after < 0 && job->f.error_event < 0;
}

static void gemini_sse_content(struct mock_job *job, struct evbuffer *b, int i)
{
    int last = i == job->total - 1 && finish_with_content(job);
    el_begin(b, job, i == 0);
    add_response(b, job, i, last ? i + 1 : -1);
    ADD_LIT(b, "}");
    el_end(b, job);
    job->finish_sent |= last;
}

/* A finish-only chunk when no content chunk carried it (events=0). */
static void gemini_sse_finish(struct mock_job *job, struct evbuffer *b)
{
    if (job->finish_sent)
        return;
    el_begin(b, job, job->sent == 0);
    add_response(b, job, job->total, job->sent);
    ADD_LIT(b, "}");
    el_end(b, job);
    job->finish_sent = 1;
}

static void gemini_sse_done(struct mock_job *job, struct evbuffer *b)
{
    if (job->array)
        evbuffer_add_printf(b, "%s]", job->eol);
}

static void gemini_sse_error(struct mock_job *job, struct evbuffer *b)
{
    el_begin(b, job, job->sent == 0);
    ADD_LIT(b, "{\"error\":{\"code\":500,\"message\":\"mock mid-stream failure\",\"status\":\"INTERNAL\"}}");
    el_end(b, job);
    if (job->array)
        evbuffer_add_printf(b, "%s]", job->eol);
}

static void gemini_sse_malformed(struct mock_job *job, struct evbuffer *b)
{
    el_begin(b, job, 0);
    ADD_LIT(b, "{\"candidates\":");
    if (!job->array)
        evbuffer_add_printf(b, "%s%s", job->eol, job->eol);
}

const struct mock_dialect mock_gemini = {
    gemini_parse, gemini_reply, gemini_reply_status,
    gemini_sse_open, gemini_sse_content, gemini_sse_finish, NULL,
    gemini_sse_done, gemini_sse_error, gemini_sse_malformed,
};
