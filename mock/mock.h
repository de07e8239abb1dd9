/*
 * mock.h - shared declarations of the mock provider (moongate-mock).
 *
 * The mock is a single-threaded evhttp server speaking the OpenAI, Azure,
 * Anthropic and Gemini wire formats with faults chosen by URL
 * (docs/internals.md section 3). Units:
 *   main.c      flags, listener, routing, fault specs, stats, /_mock/ control
 *   job.c       one reply's state machine: delays, pacing, faults, disconnects
 *   openai.c    the OpenAI (and Azure) dialect, and the content every dialect shares
 *   anthropic.c the Anthropic Messages dialect
 *   gemini.c    the Gemini generateContent dialect
 *   json.c      a minimal JSON scanner (top-level keys, value skipping) and escaping,
 *               and a strict parser into a small tree for validation
 *   validate.c, validate_anthropic.c, validate_gemini.c (validate.h)
 *               each dialect refuses what the real API refuses, in its own
 *               error shape; the fault key lax=1 turns that off
 *
 * A dialect is a `struct mock_dialect` (a table of functions): job.c asks it
 * for the bytes and decides itself when they go.
 *
 * One `struct mock_job` exists per API request whose reply is not finished. It
 * is the only owner of its state; the evhttp request belongs to evhttp except in
 * the one case documented at job_on_close() in job.c.
 */
#ifndef MOCK_H
#define MOCK_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

struct evbuffer;

/* ---- json.c ------------------------------------------------------------ */

/* Called once per top-level member of an object. `key` is the raw key text
 * (between the quotes, escapes untouched); [val, vend) is the raw value text.
 * Return non-zero to stop the walk early. */
typedef int (*mjson_member_cb)(const char *key, size_t klen, const char *val,
                               const char *vend, void *ud);

/* Walks the object starting at the first non-blank byte of [p, end) and calls
 * cb for each member. Returns 0 when the object is well formed (as far as a
 * structural scan can tell), -1 otherwise. Nested values are skipped, not
 * validated in depth. */
int mjson_object(const char *p, const char *end, mjson_member_cb cb, void *ud);

/* Calls cb for each element of the array at the first non-blank byte of
 * [p, end), [v, ve) being the raw element. Stops early (returning 0) when cb
 * returns non-zero; -1 when the array is malformed. */
typedef int (*mjson_elem_cb)(const char *v, const char *ve, void *ud);
int mjson_array(const char *p, const char *end, mjson_elem_cb cb, void *ud);

/* Returns a pointer just past the value starting at p (after blanks), or NULL
 * when the value is malformed or runs past end. */
const char *mjson_skip_value(const char *p, const char *end);

/* Skips JSON blanks. */
const char *mjson_ws(const char *p, const char *end);

/* True when [val, vend) is exactly the literal/string given (string includes
 * its quotes, e.g. "\"none\""). */
int mjson_is(const char *val, const char *vend, const char *lit);

/* Appends [s, s+n) to out as the inside of a JSON string: quotes, backslashes
 * and control bytes escaped, invalid UTF-8 bytes replaced by U+FFFD. */
void mjson_escape(struct evbuffer *out, const char *s, size_t n);
/* The same into a new NUL-terminated string (malloc'd; NULL on ENOMEM). */
char *mjson_escape_dup(const char *s, size_t n);

/* The mock's token count (anthropic and gemini count endpoints): the words
 * (runs of non-blank bytes; \n \t \r escapes are blanks) of every string
 * value named "text", "content" or "system", at any depth of the JSON value at
 * the first non-blank byte of [p, end). */
long mjson_count_words(const char *p, const char *end);

/* A parsed JSON value, for request validation (validate.c). Strings keep
 * their raw contents (between the quotes, escapes untouched) in [s, s+n);
 * other values their raw text. Members of an object carry their raw key. */
enum mjson_type { MJ_NULL, MJ_BOOL, MJ_NUM, MJ_STR, MJ_ARR, MJ_OBJ };
struct mjnode {
    enum mjson_type type;
    int b;                      /* MJ_BOOL */
    int is_int;                 /* MJ_NUM: no fraction, no exponent */
    double num;                 /* MJ_NUM */
    const char *s;              /* see above */
    size_t n;
    const char *key;            /* the member's key, inside an object */
    size_t klen;
    struct mjnode *child, *next;/* first element/member; next sibling */
    size_t count;               /* elements/members */
};
struct mjtree;
/* Parses [p, p+len) strictly (RFC 8259 grammar, nesting up to 256). Returns
 * the root, or NULL when the text is not one JSON value, or when it holds
 * too many values to parse (more than 2^20) or memory ran out: then
 * *too_big is set, and the text was not judged. *tree owns every node and
 * must be freed with mjson_tree_free() either way; the nodes point into p,
 * which must outlive them. */
struct mjnode *mjson_parse(const char *p, size_t len, struct mjtree **tree, int *too_big);
void mjson_tree_free(struct mjtree *tree);
/* The member `key` of an object node (NULL if absent or not an object). */
struct mjnode *mj_get(const struct mjnode *obj, const char *key);
/* True when n is a string whose raw contents are exactly s. */
int mj_str_is(const struct mjnode *n, const char *s);

/* ---- faults (parsed from /f/<spec>/...) -------------------------------- */

struct mock_fault {
    int status;         /* 0 = none; else answer this status with an error body */
    int fail_first;     /* 0 = faults always apply; K = only the first K requests */
    int retry_after;    /* -1 = no header; seconds for Retry-After */
    int retry_after_ms; /* -1 = no header; retry-after-ms */
    int first_byte_ms;  /* delay before the status line */
    int stall;          /* never answer */
    int pace_ms;        /* delay between SSE content events */
    int events;         /* -1 = default (one per word of the sentence) */
    int reset_after;    /* -1 = off; close the socket after N content events */
    int stall_after;    /* -1 = off; stop sending after N content events */
    int malformed;      /* broken SSE frame after the first content event */
    int bad_json;       /* 200 with an invalid JSON body */
    int error_event;    /* -1 = off; error event after N content events */
    int crlf, cr;       /* SSE line endings */
    int body_kb;        /* non-stream body padding, KiB */
    int comments;       /* OpenAI SSE: a `: OPENROUTER PROCESSING` comment before each event */
    int cost;           /* OpenAI usage: OpenRouter's cost, is_byok, cost_details */
    int blank_lines;    /* OpenAI non-stream: blank lines before the JSON (DeepSeek) */
    int lax;            /* no request validation (validate.h): odd bodies pass */
};

/* ---- dialects ------------------------------------------------------------ */

enum mock_endpoint {
    MOCK_EP_CHAT,
    MOCK_EP_COMPLETIONS,
    MOCK_EP_EMBEDDINGS,
    MOCK_EP_MODELS,
    MOCK_EP_MODEL_ONE,   /* GET /v1/models/{id} */
    MOCK_EP_NOT_FOUND,
    MOCK_EP_BAD_METHOD,
    MOCK_EP_MESSAGES,    /* anthropic POST /v1/messages */
    MOCK_EP_COUNT,       /* anthropic /v1/messages/count_tokens, gemini :countTokens */
    MOCK_EP_GENERATE,    /* gemini :generateContent */
    MOCK_EP_STREAM_GEN,  /* gemini :streamGenerateContent */
};

struct mock_job;
struct mock_verr;

/* What a dialect must provide. job.c calls these; NULL members add nothing.
 * Each SSE function appends one event (or none) to b and job.c sends b as
 * one HTTP chunk; a function that needs several chunks (Anthropic's opener)
 * sends all but the last itself with mock_sse_send(). */
struct mock_dialect {
    /* Fills the job from the request at arrival (body, headers, query). */
    void (*parse)(struct mock_job *job, struct evhttp_request *req);
    /* Sends the non-stream reply or the request's error and returns 1;
     * returns 0 (nothing sent) when the request wants a stream. */
    int (*reply)(struct mock_job *job);
    void (*reply_status)(struct mock_job *job);   /* the status= fault */
    void (*sse_open)(struct mock_job *job, struct evbuffer *b);
    void (*sse_content)(struct mock_job *job, struct evbuffer *b, int i);
    void (*sse_finish)(struct mock_job *job, struct evbuffer *b);
    void (*sse_usage)(struct mock_job *job, struct evbuffer *b);
    void (*sse_done)(struct mock_job *job, struct evbuffer *b);
    void (*sse_error)(struct mock_job *job, struct evbuffer *b);
    void (*sse_malformed)(struct mock_job *job, struct evbuffer *b);
};
extern const struct mock_dialect mock_openai, mock_azure, mock_anthropic, mock_gemini;

enum mock_phase {
    MOCK_PH_WAIT_FIRST_BYTE, /* first_byte_ms timer armed */
    MOCK_PH_STALLED,         /* stall / stall_after: waiting for the client to leave */
    MOCK_PH_STREAMING,       /* SSE events paced by the timer */
    MOCK_PH_RESETTING,       /* waiting for the output to drain, then close */
};

/* Everything the reply needs, copied out of the request at arrival so that the
 * request body is no longer needed after mock_job_new(). */
struct mock_job {
    struct evhttp_request *req;        /* evhttp's; see mock_job_on_close() */
    struct evhttp_connection *evcon;   /* set while a close callback is installed */
    struct event *timer;               /* lazily created; pacing and delays */
    struct mock_fault f;
    const struct mock_dialect *dl;
    enum mock_endpoint ep;
    enum mock_phase phase;
    unsigned long long seq;            /* id suffix */
    long long created;
    /* parsed request */
    int invalid_json, stream, include_usage, tool_call;
    int n_inputs;                      /* embeddings */
    int emb_base64;                    /* encoding_format: "base64" */
    long prompt_tokens;
    char *model;                       /* raw JSON string contents, owned; NULL if absent */
    char *tool;                        /* raw first function name, owned */
    char *path_id;                     /* /v1/models/{id}; gemini model, azure
                                          deployment (URL-decoded); owned */
    int no_auth;                       /* anthropic/gemini/azure: no credentials */
    int no_version;                    /* anthropic: no anthropic-version */
    int has_max_tokens, has_messages;  /* anthropic */
    struct mock_verr *verr;            /* why validation refused the body (validate.h),
                                          owned; NULL = accepted or not checked */
    char invalid_arg[160];             /* gemini countTokens: a 400 INVALID_ARGUMENT
                                          to answer (its message); "" = none */
    int array;                         /* gemini stream without alt=sse: a JSON array */
    const char *stream_ctype;          /* NULL = text/event-stream */
    /* streaming */
    int total;                         /* content events to send */
    int sent;                          /* content events sent */
    int malformed_done;
    int finish_sent;                   /* gemini: finishReason already out */
    int reset_polls;
    const char *eol;                   /* "\n", "\r\n" or "\r" */
};

/* job.c: the reply's state machine. */
struct mock_job *mock_job_new(struct evhttp_request *req, enum mock_endpoint ep,
                              const struct mock_dialect *dl, const struct mock_fault *f,
                              int faults_on, const char *path_id);
/* Starts (or, after first_byte_ms / stall, schedules) the reply. The job frees
 * itself when the reply ends or the client goes away. */
void mock_job_run(struct mock_job *job);
/* Sends b as one HTTP chunk of the started reply (nothing when b is empty). */
void mock_sse_send(struct mock_job *job, struct evbuffer *b);

/* openai.c: the content every dialect shares. The sentence is N_WORDS words,
 * the last one "<model>."; tool-call arguments are MOCK_TOOL_ARGS, streamed as
 * MOCK_N_TOOL_FRAGS fragments (already JSON-string escaped). */
#define MOCK_N_WORDS 7
#define MOCK_N_TOOL_FRAGS 2
#define MOCK_TOOL_ARGS "{\"city\":\"Paris\"}"
extern const char *const mock_tool_frags[MOCK_N_TOOL_FRAGS];
/* Content event i (word i cycled, a space after all but the last of total). */
void mock_add_word(struct evbuffer *b, const struct mock_job *job, int i);
/* body_kb: `,"padding":"xxx…"` of kb KiB (nothing for 0). */
void mock_add_padding(struct evbuffer *b, int kb);
const char *mock_model(const struct mock_job *job);  /* "" when absent */
char *mock_dup_string(const char *v, const char *ve); /* JSON string contents */
int mock_key_is(const char *k, size_t klen, const char *name);
/* mjson_object callback: the first "name" string member into *(char **)ud
 * (malloc'd); stops the walk once found. */
int mock_on_name_member(const char *k, size_t klen, const char *v, const char *ve, void *ud);
/* mjson_array callback: the same for an array of objects (tools, function
 * declarations): the first element's "name" wins. */
int mock_on_named_object(const char *v, const char *ve, void *ud);
const char *mock_reason_phrase(int status);           /* NULL: evhttp's */
void mock_send_json(struct mock_job *job, struct evbuffer *b); /* 200 */
void mock_add_retry_headers(struct mock_job *job);    /* retry_after(_ms) */
void mock_reply_bad_json(struct mock_job *job);       /* the bad_json= fault */
/* Credentials: the header is present and not empty / `Bearer <token>`. */
int mock_has_header(struct evhttp_request *req, const char *name);
int mock_has_bearer(struct evhttp_request *req);
/* An OpenAI error envelope with this status (also used by main.c). */
void mock_send_error(struct evhttp_request *req, int status, const char *type,
                     const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- main.c (shared state) ------------------------------------------------ */

struct mock_stats {
    unsigned long long requests, active, completed, cancelled;
};
extern struct mock_stats mock_stats;
extern struct event_base *mock_base;
extern int mock_verbose;

/* Book-keeping hooks called by job.c when a job ends. */
void mock_job_completed(struct mock_job *job);
void mock_job_cancelled(struct mock_job *job);

#endif
