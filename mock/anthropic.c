/*
 * anthropic.c - the Anthropic Messages dialect of the mock: POST /v1/messages
 * (stream and not, text or one tool_use block) and POST
 * /v1/messages/count_tokens. Parses the request into the job and writes every
 * body, error and SSE event; job.c decides when they are sent. The content is
 * the OpenAI dialect's (openai.c): the same sentence, the same tool arguments
 * {"city":"Paris"} in the same two fragments, input tokens = body bytes / 4.
 * count_tokens counts words instead (mjson_count_words: the words of every
 * "text", "content" and "system" string), so a count the gateway relayed or
 * translated is told apart from its own bytes/4 estimate.
 *
 * A body the real API would refuse (validate_anthropic.c) gets its 400
 * invalid_request_error unless the fault key lax=1 is set.
 *
 * Stream: message_start, content_block_start, ping (the opener), one
 * content_block_delta per content event, then content_block_stop,
 * message_delta, message_stop; each an `event:` line naming data's `type`.
 */
#include "mock.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#define ADD_LIT(b, s) evbuffer_add((b), (s), sizeof(s) - 1)

/* ---- request parsing ---------------------------------------------------- */

static int on_choice_member(const char *k, size_t klen, const char *v, const char *ve, void *ud)
{
    if (mock_key_is(k, klen, "type"))
        *(int *)ud = mjson_is(v, ve, "\"none\"");
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
    } else if (mock_key_is(k, klen, "max_tokens")) {
        job->has_max_tokens = !mjson_is(v, ve, "null");
    } else if (mock_key_is(k, klen, "messages")) {
        job->has_messages = *v == '[';
    } else if (mock_key_is(k, klen, "tools")) {
        if (*v == '[' && !job->tool)
            mjson_array(v, ve, mock_on_named_object, &job->tool);   /* tools[]: the first name */
    } else if (mock_key_is(k, klen, "tool_choice")) {
        if (*v == '{')
            mjson_object(v, ve, on_choice_member, &pc->tool_choice_none);
    }
    return 0;
}

static void anthropic_parse(struct mock_job *job, struct evhttp_request *req)
{
    char id[40];
    /* Anthropic names its request id header `request-id` */
    snprintf(id, sizeof(id), "req_mock_%llu", job->seq);
    evhttp_add_header(evhttp_request_get_output_headers(req), "request-id", id);
    job->no_auth = !mock_has_header(req, "x-api-key") && !mock_has_bearer(req);
    job->no_version = !mock_has_header(req, "anthropic-version");
    if (job->ep != MOCK_EP_MESSAGES && job->ep != MOCK_EP_COUNT)
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
    if (!job->f.lax && mock_validate_anthropic(p, len, job->ep == MOCK_EP_COUNT, &e) != 0)
        job->verr = mock_verr_dup(&e);
    if (job->ep == MOCK_EP_COUNT) {
        job->stream = 0;
        job->prompt_tokens = mjson_count_words(p, p + len);
    }
    job->tool_call = job->ep == MOCK_EP_MESSAGES && job->tool != NULL && !pc.tool_choice_none;
    job->total = job->tool_call ? MOCK_N_TOOL_FRAGS
               : job->f.events >= 0 ? job->f.events : MOCK_N_WORDS;
}

/* ---- plain replies -------------------------------------------------------- */

/* {"type":"error","error":{"type":..,"message":..},"request_id":..} */
static void send_error(struct mock_job *job, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_error(struct mock_job *job, int status, const char *type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"", type);
    mjson_escape(b, msg, strlen(msg));
    evbuffer_add_printf(b, "\"},\"request_id\":\"req_mock_%llu\"}\n", job->seq);
    evhttp_add_header(evhttp_request_get_output_headers(job->req), "Content-Type", "application/json");
    evhttp_send_reply(job->req, status, mock_reason_phrase(status), b);
    evbuffer_free(b);
}

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static void anthropic_reply_status(struct mock_job *job)
{
    mock_add_retry_headers(job);
    send_error(job, job->f.status, error_type(job->f.status), "mock fault: status %d", job->f.status);
}

static void add_usage(struct evbuffer *b, const struct mock_job *job, long output)
{
    evbuffer_add_printf(b, "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}",
                        job->prompt_tokens, output);
}

static void reply_message(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add_printf(b, "{\"id\":\"msg_mock_%llu\",\"type\":\"message\",\"role\":\"assistant\","
                        "\"model\":\"%s\",\"content\":[", job->seq, mock_model(job));
    if (job->tool_call) {
        evbuffer_add_printf(b, "{\"type\":\"tool_use\",\"id\":\"toolu_mock_1\",\"name\":\"%s\","
                            "\"input\":%s}],\"stop_reason\":\"tool_use\",", job->tool, MOCK_TOOL_ARGS);
    } else {
        ADD_LIT(b, "{\"type\":\"text\",\"text\":\"");
        for (int i = 0; i < job->total; i++)
            mock_add_word(b, job, i);
        ADD_LIT(b, "\"}],\"stop_reason\":\"end_turn\",");
    }
    ADD_LIT(b, "\"stop_sequence\":null,");
    add_usage(b, job, job->total);
    mock_add_padding(b, job->f.body_kb);
    ADD_LIT(b, "}\n");
}

static int anthropic_reply(struct mock_job *job)
{
    if (job->ep == MOCK_EP_BAD_METHOD) {
        send_error(job, 405, "invalid_request_error", "Method not allowed for %s",
                   evhttp_request_get_uri(job->req));
        return 1;
    }
    if (job->no_auth) {
        send_error(job, 401, "authentication_error", "x-api-key header is required");
        return 1;
    }
    if (job->no_version) {
        send_error(job, 400, "invalid_request_error", "anthropic-version: header is required");
        return 1;
    }
    if (job->invalid_json) {
        send_error(job, 400, "invalid_request_error",
                   "There was an issue with your request body: it is not a JSON object");
        return 1;
    }
    if (job->verr) {
        send_error(job, 400, "invalid_request_error", "%s", job->verr->msg);
        return 1;
    }
    if (!job->model) {
        send_error(job, 400, "invalid_request_error", "model: Field required");
        return 1;
    }
    if (!job->has_messages) {
        send_error(job, 400, "invalid_request_error", "messages: Field required");
        return 1;
    }
    struct evbuffer *b = evbuffer_new();
    if (job->ep == MOCK_EP_COUNT) {
        evbuffer_add_printf(b, "{\"input_tokens\":%ld}\n", job->prompt_tokens);
    } else if (!job->has_max_tokens) {
        evbuffer_free(b);
        send_error(job, 400, "invalid_request_error", "max_tokens: Field required");
        return 1;
    } else if (job->stream) {
        evbuffer_free(b);
        return 0;
    } else {
        reply_message(job, b);
    }
    mock_send_json(job, b);
    evbuffer_free(b);
    return 1;
}

/* ---- SSE ------------------------------------------------------------------ */

/* `event: NAME` + `data: {"type":"NAME"` — the caller adds members, then ev_end. */
static void ev_begin(struct evbuffer *b, const struct mock_job *job, const char *name)
{
    evbuffer_add_printf(b, "event: %s%sdata: {\"type\":\"%s\"", name, job->eol, name);
}

static void ev_end(struct evbuffer *b, const struct mock_job *job)
{
    evbuffer_add_printf(b, "}%s%s", job->eol, job->eol);
}

/* message_start, content_block_start, ping: three events, three chunks. */
static void anthropic_sse_open(struct mock_job *job, struct evbuffer *b)
{
    ev_begin(b, job, "message_start");
    evbuffer_add_printf(b, ",\"message\":{\"id\":\"msg_mock_%llu\",\"type\":\"message\","
                        "\"role\":\"assistant\",\"model\":\"%s\",\"content\":[],"
                        "\"stop_reason\":null,\"stop_sequence\":null,",
                        job->seq, mock_model(job));
    /* output_tokens is cumulative: message_delta's final value is the total */
    add_usage(b, job, 1);
    ADD_LIT(b, "}");
    ev_end(b, job);
    mock_sse_send(job, b);
    ev_begin(b, job, "content_block_start");
    if (job->tool_call)
        evbuffer_add_printf(b, ",\"index\":0,\"content_block\":{\"type\":\"tool_use\","
                            "\"id\":\"toolu_mock_1\",\"name\":\"%s\",\"input\":{}}", job->tool);
    else
        ADD_LIT(b, ",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}");
    ev_end(b, job);
    mock_sse_send(job, b);
    ev_begin(b, job, "ping");
    ev_end(b, job);
}

static void anthropic_sse_content(struct mock_job *job, struct evbuffer *b, int i)
{
    ev_begin(b, job, "content_block_delta");
    if (job->tool_call) {
        evbuffer_add_printf(b, ",\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
                            "\"partial_json\":\"%s\"}", mock_tool_frags[i % MOCK_N_TOOL_FRAGS]);
    } else {
        ADD_LIT(b, ",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"");
        mock_add_word(b, job, i);
        ADD_LIT(b, "\"}");
    }
    ev_end(b, job);
}

/* content_block_stop (sent here), then message_delta. */
static void anthropic_sse_finish(struct mock_job *job, struct evbuffer *b)
{
    ev_begin(b, job, "content_block_stop");
    ADD_LIT(b, ",\"index\":0");
    ev_end(b, job);
    mock_sse_send(job, b);
    ev_begin(b, job, "message_delta");
    evbuffer_add_printf(b, ",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},",
                        job->tool_call ? "tool_use" : "end_turn");
    evbuffer_add_printf(b, "\"usage\":{\"output_tokens\":%d}", job->sent);
    ev_end(b, job);
}

static void anthropic_sse_done(struct mock_job *job, struct evbuffer *b)
{
    ev_begin(b, job, "message_stop");
    ev_end(b, job);
}

static void anthropic_sse_error(struct mock_job *job, struct evbuffer *b)
{
    ev_begin(b, job, "error");
    ADD_LIT(b, ",\"error\":{\"type\":\"overloaded_error\",\"message\":\"mock mid-stream failure\"}");
    ev_end(b, job);
}

static void anthropic_sse_malformed(struct mock_job *job, struct evbuffer *b)
{
    evbuffer_add_printf(b, "event: content_block_delta%sdata: {\"type\":%s%s", job->eol, job->eol, job->eol);
}

const struct mock_dialect mock_anthropic = {
    anthropic_parse, anthropic_reply, anthropic_reply_status,
    anthropic_sse_open, anthropic_sse_content, anthropic_sse_finish, NULL,
    anthropic_sse_done, anthropic_sse_error, anthropic_sse_malformed,
};
