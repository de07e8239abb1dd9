/*
 * openai.c - the OpenAI dialect of the mock: what the bytes are. Parses the
 * request (model, stream, include_usage, tools, tool_choice, embeddings input)
 * into the job, and writes every body: chat, completions, embeddings, models,
 * error envelopes, and each SSE event. job.c decides when they are sent.
 * Azure (/openai/deployments/{d}/...) is this dialect with the deployment as
 * the model and an `api-key` check. A chat body the real API would refuse
 * (validate.c) gets its 400 unless lax=1. The content all dialects share (the
 * sentence, the tool arguments, padding, retry headers) lives here too.
 */
#include "mock.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

/* The reply sentence is these words plus "<model>." (N_WORDS in all). */
static const char *const words[] = {"Hello", "from", "the", "mock", "provider,", "model"};
#define N_WORDS MOCK_N_WORDS
/* Tool-call arguments, streamed as two fragments (already JSON-string escaped). */
const char *const mock_tool_frags[MOCK_N_TOOL_FRAGS] = {"{\\\"city\\\":", "\\\"Paris\\\"}"};
#define N_TOOL_FRAGS MOCK_N_TOOL_FRAGS

/* ---- request parsing ---------------------------------------------------- */

static char *dup_raw(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

int mock_key_is(const char *k, size_t klen, const char *name)
{
    size_t n = strlen(name);
    return klen == n && memcmp(k, name, n) == 0;
}

/* A JSON string value as raw contents; NULL if the value is not a string. */
char *mock_dup_string(const char *v, const char *ve)
{
    if (ve - v < 2 || *v != '"')
        return NULL;
    return dup_raw(v + 1, (size_t)(ve - v - 2));
}

static int on_stream_option(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    struct mock_job *job = ud;
    if (mock_key_is(k, klen, "include_usage"))
        job->include_usage = mjson_is(v, ve, "true");
    return 0;
}

int mock_on_name_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    char **name = ud;
    if (mock_key_is(k, klen, "name") && !*name)
        *name = mock_dup_string(v, ve);
    return *name != NULL;
}

int mock_on_named_object(const char *v, const char *ve, void *ud)
{
    if (*v == '{')
        mjson_object(v, ve, mock_on_name_member, ud);
    return *(char **)ud != NULL;
}

/* Tools: Chat format {"type":"function","function":{"name":..}}, also the flat
 * Responses format {"type":"function","name":..}; the first name wins. */
static int on_tool_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    if (mock_key_is(k, klen, "function") && *v == '{')
        mjson_object(v, ve, mock_on_name_member, ud);
    else if (mock_key_is(k, klen, "name"))
        mock_on_name_member(k, klen, v, ve, ud);
    return *(char **)ud != NULL;
}

static int on_tool(const char *v, const char *ve, void *ud)
{
    if (*v == '{')
        mjson_object(v, ve, on_tool_member, ud);
    return *(char **)ud != NULL;
}

static int on_input(const char *v, const char *ve, void *ud)
{
    int *n = ud;
    /* an array of token ids is one input; anything else is one per element */
    if (*n == 0 && ((*v >= '0' && *v <= '9') || *v == '-')) {
        *n = -1;
        return 1;
    }
    (*n)++;
    return 0;
}

struct parse_ctx {
    struct mock_job *job;
    int tool_choice_none;
};

static int on_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    struct parse_ctx *pc = ud;
    struct mock_job *job = pc->job;
    if (mock_key_is(k, klen, "model")) {
        free(job->model);
        job->model = mock_dup_string(v, ve);
    } else if (mock_key_is(k, klen, "stream")) {
        job->stream = mjson_is(v, ve, "true");
    } else if (mock_key_is(k, klen, "stream_options")) {
        if (*v == '{')
            mjson_object(v, ve, on_stream_option, job);
    } else if (mock_key_is(k, klen, "tools")) {
        if (*v == '[' && !job->tool)
            mjson_array(v, ve, on_tool, &job->tool);
    } else if (mock_key_is(k, klen, "tool_choice")) {
        pc->tool_choice_none = mjson_is(v, ve, "\"none\"");
    } else if (mock_key_is(k, klen, "encoding_format")) {
        job->emb_base64 = mjson_is(v, ve, "\"base64\"");
    } else if (mock_key_is(k, klen, "input")) {
        if (*v == '[') {
            int n = 0;
            mjson_array(v, ve, on_input, &n);
            job->n_inputs = n < 0 ? 1 : n;
        } else {
            job->n_inputs = 1;
        }
    }
    return 0;
}

static void openai_parse(struct mock_job *job, struct evhttp_request *req)
{
    if (job->ep != MOCK_EP_CHAT && job->ep != MOCK_EP_COMPLETIONS && job->ep != MOCK_EP_EMBEDDINGS)
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
    if (job->ep == MOCK_EP_CHAT && !job->f.lax &&
        mock_validate_openai_chat(p, len, job->dl == &mock_azure, &e) != 0)
        job->verr = mock_verr_dup(&e);
    job->tool_call = job->ep == MOCK_EP_CHAT && job->tool != NULL && !pc.tool_choice_none;
    job->total = job->tool_call ? N_TOOL_FRAGS : job->f.events >= 0 ? job->f.events : N_WORDS;
}

/* ---- plain replies -------------------------------------------------------- */

/* evhttp 2.1 names 4xx past 417 just "Client Error"; say what SDKs expect.
 * NULL lets evhttp pick. */
const char *mock_reason_phrase(int status)
{
    switch (status) {
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 529: return "Site Overloaded";
    default: return NULL;
    }
}

void mock_send_error(struct evhttp_request *req, int status, const char *type,
                     const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"error\":{\"message\":\"");
    mjson_escape(b, msg, strlen(msg));
    evbuffer_add_printf(b, "\",\"type\":\"%s\",\"param\":null,\"code\":", type);
    if (code)
        evbuffer_add_printf(b, "\"%s\"}}\n", code);
    else
        evbuffer_add_printf(b, "null}}\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, mock_reason_phrase(status), b);
    evbuffer_free(b);
}

/* A validation refusal (validate.h): 400 with its param and code. */
static void send_verr(struct mock_job *job)
{
    const struct mock_verr *e = job->verr;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"error\":{\"message\":\"");
    mjson_escape(b, e->msg, strlen(e->msg));
    evbuffer_add_printf(b, "\",\"type\":\"invalid_request_error\",\"param\":");
    if (e->param[0]) {
        evbuffer_add(b, "\"", 1);
        mjson_escape(b, e->param, strlen(e->param));
        evbuffer_add(b, "\"", 1);
    } else {
        evbuffer_add(b, "null", 4);
    }
    if (e->code)
        evbuffer_add_printf(b, ",\"code\":\"%s\"}}\n", e->code);
    else
        evbuffer_add_printf(b, ",\"code\":null}}\n");
    evhttp_add_header(evhttp_request_get_output_headers(job->req), "Content-Type", "application/json");
    evhttp_send_reply(job->req, 400, NULL, b);
    evbuffer_free(b);
}

void mock_add_retry_headers(struct mock_job *job)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(job->req);
    char v[24];
    if (job->f.retry_after >= 0) {
        snprintf(v, sizeof(v), "%d", job->f.retry_after);
        evhttp_add_header(h, "Retry-After", v);
    }
    if (job->f.retry_after_ms >= 0) {
        snprintf(v, sizeof(v), "%d", job->f.retry_after_ms);
        evhttp_add_header(h, "retry-after-ms", v);
    }
}

static void openai_reply_status(struct mock_job *job)
{
    int st = job->f.status;
    mock_add_retry_headers(job);
    if (st == 429)
        mock_send_error(job->req, st, "rate_limit_exceeded", "rate_limit_exceeded",
                        "mock fault: status %d", st);
    else if (st >= 500)
        mock_send_error(job->req, st, "server_error", NULL, "mock fault: status %d", st);
    else
        mock_send_error(job->req, st, "invalid_request_error", NULL, "mock fault: status %d", st);
}

const char *mock_model(const struct mock_job *job)
{
    return job->model ? job->model : "";
}

/* Content event i of the reply (word i cycled, a space after all but the last). */
void mock_add_word(struct evbuffer *b, const struct mock_job *job, int i)
{
    int w = i % N_WORDS;
    if (w < N_WORDS - 1)
        evbuffer_add(b, words[w], strlen(words[w]));
    else
        evbuffer_add_printf(b, "%s.", mock_model(job));
    if (i < job->total - 1)
        evbuffer_add(b, " ", 1);
}

static void add_usage(struct evbuffer *b, const struct mock_job *job, long completion)
{
    evbuffer_add_printf(b, "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld",
                        job->prompt_tokens, completion, job->prompt_tokens + completion);
    /* cost=1: OpenRouter's usage extras; the cost has more digits than a
     * double keeps, so a gateway that re-encoded it would be caught */
    if (job->f.cost)
        evbuffer_add_printf(b, ",\"cost\":0.00012345678901234567,\"is_byok\":false,"
                            "\"cost_details\":{\"upstream_inference_cost\":null}");
    evbuffer_add(b, "}", 1);
}

/* body_kb: a "padding" member of N KiB, so benchmarks can ask for big bodies. */
void mock_add_padding(struct evbuffer *b, int kb)
{
    static char kib[1024];
    if (kb <= 0)
        return;
    if (!kib[0])
        memset(kib, 'x', sizeof(kib));
    evbuffer_add(b, ",\"padding\":\"", 12);
    for (int i = 0; i < kb; i++)
        evbuffer_add(b, kib, sizeof(kib));
    evbuffer_add(b, "\"", 1);
}

void mock_send_json(struct mock_job *job, struct evbuffer *b)
{
    evhttp_add_header(evhttp_request_get_output_headers(job->req), "Content-Type", "application/json");
    evhttp_send_reply(job->req, 200, "OK", b);
}

void mock_reply_bad_json(struct mock_job *job)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"id\": oops", 11);
    mock_send_json(job, b);
    evbuffer_free(b);
}

static void reply_chat(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add_printf(b, "{\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion\","
                        "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_mock\","
                        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",",
                        job->seq, job->created, mock_model(job));
    if (job->tool_call) {
        evbuffer_add_printf(b, "\"content\":null,\"refusal\":null,\"tool_calls\":[{\"id\":"
                            "\"call_mock_1\",\"type\":\"function\",\"function\":{\"name\":\"%s\","
                            "\"arguments\":\"%s%s\"}}],\"annotations\":[]},\"logprobs\":null,"
                            "\"finish_reason\":\"tool_calls\"}],\"usage\":",
                            job->tool, mock_tool_frags[0], mock_tool_frags[1]);
    } else {
        evbuffer_add(b, "\"content\":\"", 11);
        for (int i = 0; i < job->total; i++)
            mock_add_word(b, job, i);
        evbuffer_add_printf(b, "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                            "\"finish_reason\":\"stop\"}],\"usage\":");
    }
    add_usage(b, job, job->total);
    mock_add_padding(b, job->f.body_kb);
    evbuffer_add(b, "}\n", 2);
}

static void reply_completion(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add_printf(b, "{\"id\":\"cmpl-mock-%llu\",\"object\":\"text_completion\","
                        "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_mock\","
                        "\"choices\":[{\"text\":\"", job->seq, job->created, mock_model(job));
    for (int i = 0; i < job->total; i++)
        mock_add_word(b, job, i);
    evbuffer_add_printf(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":");
    add_usage(b, job, job->total);
    mock_add_padding(b, job->f.body_kb);
    evbuffer_add(b, "}\n", 2);
}

/* 8 floats per input: input i, dimension j -> i + 0.125*j (exact in binary). */
static void reply_embeddings(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add(b, "{\"object\":\"list\",\"data\":[", 25);
    for (int i = 0; i < job->n_inputs; i++) {
        evbuffer_add_printf(b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":%s",
                            i ? "," : "", i, job->emb_base64 ? "" : "[");
        if (job->emb_base64) {
            /* what OpenAI sends for encoding_format=base64: the float32
             * little-endian bytes of the vector, base64-encoded */
            static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            unsigned char raw[8 * 4];
            for (int j = 0; j < 8; j++) {
                float f = (float)(i + 0.125 * j);
                uint32_t u;
                memcpy(&u, &f, 4);
                for (int k = 0; k < 4; k++) raw[j * 4 + k] = (unsigned char)(u >> (8 * k));
            }
            char out[48];
            size_t o = 0;
            for (size_t k = 0; k + 2 < sizeof raw; k += 3) {
                uint32_t t = (uint32_t)raw[k] << 16 | (uint32_t)raw[k + 1] << 8 | raw[k + 2];
                out[o++] = tab[t >> 18]; out[o++] = tab[(t >> 12) & 63];
                out[o++] = tab[(t >> 6) & 63]; out[o++] = tab[t & 63];
            }
            /* 32 bytes = 10 groups of 3 + 2 bytes: one padding char */
            uint32_t t = (uint32_t)raw[30] << 16 | (uint32_t)raw[31] << 8;
            out[o++] = tab[t >> 18]; out[o++] = tab[(t >> 12) & 63]; out[o++] = tab[(t >> 6) & 63]; out[o++] = '=';
            evbuffer_add(b, "\"", 1);
            evbuffer_add(b, out, o);
            evbuffer_add(b, "\"}", 2);
        } else {
            for (int j = 0; j < 8; j++)
                evbuffer_add_printf(b, "%s%g", j ? "," : "", i + 0.125 * j);
            evbuffer_add(b, "]}", 2);
        }
    }
    evbuffer_add_printf(b, "],\"model\":\"%s\",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}",
                        mock_model(job), job->prompt_tokens, job->prompt_tokens);
    mock_add_padding(b, job->f.body_kb);
    evbuffer_add(b, "}\n", 2);
}

static const char *const models[] = {"mock-small", "mock-large", "mock-embed"};
#define N_MODELS 3
/* A fixed creation time keeps /v1/models byte-identical across runs. */
#define MODELS_CREATED 1700000000

static void add_model(struct evbuffer *b, const char *id)
{
    evbuffer_add_printf(b, "{\"id\":\"%s\",\"object\":\"model\",\"created\":%d,\"owned_by\":\"mock\"}",
                        id, MODELS_CREATED);
}

static int openai_reply(struct mock_job *job)
{
    struct evbuffer *b;
    switch (job->ep) {
    case MOCK_EP_NOT_FOUND:
        mock_send_error(job->req, 404, "invalid_request_error", "unknown_url",
                        "Unknown request URL: %s", evhttp_request_get_uri(job->req));
        return 1;
    case MOCK_EP_BAD_METHOD:
        mock_send_error(job->req, 405, "invalid_request_error", "method_not_allowed",
                        "Method not allowed for %s", evhttp_request_get_uri(job->req));
        return 1;
    case MOCK_EP_MODELS:
        b = evbuffer_new();
        evbuffer_add(b, "{\"object\":\"list\",\"data\":[", 25);
        for (int i = 0; i < N_MODELS; i++) {
            if (i)
                evbuffer_add(b, ",", 1);
            add_model(b, models[i]);
        }
        evbuffer_add(b, "]}\n", 3);
        mock_send_json(job, b);
        evbuffer_free(b);
        return 1;
    case MOCK_EP_MODEL_ONE:
        for (int i = 0; i < N_MODELS; i++) {
            if (strcmp(job->path_id, models[i]) == 0) {
                b = evbuffer_new();
                add_model(b, models[i]);
                evbuffer_add(b, "\n", 1);
                mock_send_json(job, b);
                evbuffer_free(b);
                return 1;
            }
        }
        mock_send_error(job->req, 404, "invalid_request_error", "model_not_found",
                        "The model '%s' does not exist", job->path_id);
        return 1;
    default:
        break;
    }
    if (job->invalid_json) {
        mock_send_error(job->req, 400, "invalid_request_error", NULL,
                        "We could not parse the JSON body of your request.");
        return 1;
    }
    if (job->verr) {
        send_verr(job);
        return 1;
    }
    if (!job->model) {
        mock_send_error(job->req, 400, "invalid_request_error", NULL,
                        "you must provide a model parameter");
        return 1;
    }
    if (job->ep == MOCK_EP_EMBEDDINGS && job->n_inputs == 0) {
        mock_send_error(job->req, 400, "invalid_request_error", NULL,
                        "'input' is a required property");
        return 1;
    }
    if (job->stream && job->ep != MOCK_EP_EMBEDDINGS)
        return 0;
    b = evbuffer_new();
    /* blank_lines=N: DeepSeek's preamble while a request waits */
    for (int i = 0; i < job->f.blank_lines && job->ep != MOCK_EP_EMBEDDINGS; i++)
        evbuffer_add(b, "\n", 1);
    if (job->ep == MOCK_EP_CHAT)
        reply_chat(job, b);
    else if (job->ep == MOCK_EP_COMPLETIONS)
        reply_completion(job, b);
    else
        reply_embeddings(job, b);
    mock_send_json(job, b);
    evbuffer_free(b);
    return 1;
}

/* ---- SSE ------------------------------------------------------------------ */

/* comments=1: a keep-alive comment before the event, as OpenRouter sends. */
static void add_comment(struct evbuffer *b, const struct mock_job *job)
{
    if (job->f.comments)
        evbuffer_add_printf(b, ": OPENROUTER PROCESSING%s%s", job->eol, job->eol);
}

/* Opens a chunk: `data: {<id/object/created/model>,"choices":[` */
static void chunk_open(struct evbuffer *b, const struct mock_job *job)
{
    if (job->ep == MOCK_EP_CHAT)
        evbuffer_add_printf(b, "data: {\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion.chunk\","
                            "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_mock\",\"choices\":[",
                            job->seq, job->created, mock_model(job));
    else
        evbuffer_add_printf(b, "data: {\"id\":\"cmpl-mock-%llu\",\"object\":\"text_completion\","
                            "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_mock\",\"choices\":[",
                            job->seq, job->created, mock_model(job));
}

/* Opens the one choice: chat `{"index":0,"delta":{`, completions `{"text":"`. */
static void chunk_open_choice(struct evbuffer *b, const struct mock_job *job)
{
    chunk_open(b, job);
    if (job->ep == MOCK_EP_CHAT)
        evbuffer_add(b, "{\"index\":0,\"delta\":{", 20);
    else
        evbuffer_add(b, "{\"text\":\"", 9);
}

/* Closes the choice with its finish_reason (JSON text), then the chunk:
 * usage null when include_usage, and the blank line. */
static void chunk_close(struct evbuffer *b, const struct mock_job *job, const char *finish)
{
    if (job->ep == MOCK_EP_CHAT)
        evbuffer_add_printf(b, "},\"logprobs\":null,\"finish_reason\":%s}", finish);
    else
        evbuffer_add_printf(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":%s}", finish);
    evbuffer_add_printf(b, "]%s}%s%s", job->include_usage ? ",\"usage\":null" : "", job->eol, job->eol);
}

static void openai_sse_role(struct mock_job *job, struct evbuffer *b)
{
    if (job->ep != MOCK_EP_CHAT)
        return;
    add_comment(b, job);
    chunk_open_choice(b, job);
    if (job->tool_call)
        evbuffer_add_printf(b, "\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
                            "\"id\":\"call_mock_1\",\"type\":\"function\",\"function\":{\"name\":\"%s\","
                            "\"arguments\":\"\"}}]", job->tool);
    else
        evbuffer_add_printf(b, "\"role\":\"assistant\",\"content\":\"\"");
    chunk_close(b, job, "null");
}

static void openai_sse_content(struct mock_job *job, struct evbuffer *b, int i)
{
    add_comment(b, job);
    chunk_open_choice(b, job);
    if (job->tool_call) {
        evbuffer_add_printf(b, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"%s\"}}]",
                            mock_tool_frags[i % N_TOOL_FRAGS]);
    } else if (job->ep == MOCK_EP_CHAT) {
        evbuffer_add(b, "\"content\":\"", 11);
        mock_add_word(b, job, i);
        evbuffer_add(b, "\"", 1);
    } else {
        mock_add_word(b, job, i);
    }
    chunk_close(b, job, "null");
}

static void openai_sse_finish(struct mock_job *job, struct evbuffer *b)
{
    add_comment(b, job);
    chunk_open_choice(b, job);
    chunk_close(b, job, job->tool_call ? "\"tool_calls\"" : "\"stop\"");
}

static void openai_sse_usage(struct mock_job *job, struct evbuffer *b)
{
    if (!job->include_usage)
        return;
    add_comment(b, job);
    chunk_open(b, job);
    evbuffer_add(b, "],\"usage\":", 10);
    add_usage(b, job, job->sent);
    evbuffer_add_printf(b, "}%s%s", job->eol, job->eol);
}

static void openai_sse_done(struct mock_job *job, struct evbuffer *b)
{
    add_comment(b, job);
    evbuffer_add_printf(b, "data: [DONE]%s%s", job->eol, job->eol);
}

static void openai_sse_error(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add_printf(b, "data: {\"error\":{\"message\":\"mock mid-stream failure\","
                        "\"type\":\"server_error\",\"param\":null,\"code\":null}}%s%s",
                        job->eol, job->eol);
}

static void openai_sse_malformed(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add_printf(b, "data: {\"id\":%s%s", job->eol, job->eol);
}

/* ---- credentials (shared) and Azure --------------------------------------- */

int mock_has_header(struct evhttp_request *req, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    return v && *v;
}

int mock_has_bearer(struct evhttp_request *req)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    return v && strncasecmp(v, "Bearer ", 7) == 0 && v[7];
}

/* The deployment in the URL is the model, whatever the body says; the key is
 * `api-key` (or an Entra `Authorization: Bearer` token). */
static void azure_parse(struct mock_job *job, struct evhttp_request *req)
{
    openai_parse(job, req);
    job->no_auth = !mock_has_header(req, "api-key") && !mock_has_bearer(req);
    if (job->path_id) {
        free(job->model);
        job->model = mjson_escape_dup(job->path_id, strlen(job->path_id));
    }
}

static int azure_reply(struct mock_job *job)
{
    if (job->no_auth) {
        mock_send_error(job->req, 401, "invalid_request_error", "401",
                        "Access denied due to invalid subscription key or wrong API endpoint. "
                        "Make sure to provide a valid key for an active subscription and use "
                        "a correct regional API endpoint for your resource.");
        return 1;
    }
    return openai_reply(job);
}

const struct mock_dialect mock_openai = {
    openai_parse, openai_reply, openai_reply_status,
    openai_sse_role, openai_sse_content, openai_sse_finish, openai_sse_usage,
    openai_sse_done, openai_sse_error, openai_sse_malformed,
};

const struct mock_dialect mock_azure = {
    azure_parse, azure_reply, openai_reply_status,
    openai_sse_role, openai_sse_content, openai_sse_finish, openai_sse_usage,
    openai_sse_done, openai_sse_error, openai_sse_malformed,
};
