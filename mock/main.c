/*
 * main.c - moongate-mock: flags, the listener, request routing (which
 * endpoint, which dialect), fault specs from the URL, the fail_first counters,
 * stats and the /_mock/ control endpoints. The reply itself is job.c's, with
 * the bytes from the dialect (openai.c, anthropic.c, gemini.c).
 *
 * Single thread, one event_base, one evhttp. Nothing is logged per request
 * unless -v: the mock is the upstream of benchmarks and must not be their
 * bottleneck. stdout carries exactly one line, `port=N`, once listening.
 */
#include "mock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

/* Request bodies up to this size are accepted (long prompts, big tool lists). */
#define MOCK_MAX_BODY (64u << 20)
/* Idle keep-alive and stalled requests: long enough for any test to decide
 * on its own timeouts; evhttp's 50 s default would cancel long stalls. */
#define MOCK_CONN_TIMEOUT_S 600
/* listen(2) backlog: benchmarks open hundreds of connections at once. */
#define MOCK_BACKLOG 1024
/* body_kb cap (256 MiB): a typo must not eat the machine. */
#define MOCK_MAX_BODY_KB (256 << 10)
/* blank_lines cap: real keep-alive preambles are a handful of lines. */
#define MOCK_MAX_BLANK_LINES 65536

struct mock_stats mock_stats;
struct event_base *mock_base;
int mock_verbose;

/* ---- fail_first counters: one per distinct spec string -------------------- */

struct spec_count {
    struct spec_count *next;
    unsigned long n;
    char spec[];
};
static struct spec_count *spec_counts;

static unsigned long spec_hit(const char *spec, size_t len)
{
    struct spec_count *c;
    for (c = spec_counts; c; c = c->next)
        if (strlen(c->spec) == len && memcmp(c->spec, spec, len) == 0)
            return ++c->n;
    c = malloc(sizeof(*c) + len + 1);
    if (!c)
        return 1;
    memcpy(c->spec, spec, len);
    c->spec[len] = 0;
    c->n = 1;
    c->next = spec_counts;
    spec_counts = c;
    return 1;
}

static void spec_counts_free(void)
{
    while (spec_counts) {
        struct spec_count *c = spec_counts;
        spec_counts = c->next;
        free(c);
    }
}

/* ---- the last request, for /_mock/last ------------------------------------ */

static struct {
    int have;
    char method[16];
    char *uri;
    struct evbuffer *hdrs; /* "name\0value\0" pairs, names lower-cased */
    struct evbuffer *body;
} last;

static const char *method_name(enum evhttp_cmd_type c)
{
    switch (c) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

static void last_record(struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyval *kv;
    snprintf(last.method, sizeof(last.method), "%s", method_name(evhttp_request_get_command(req)));
    free(last.uri);
    last.uri = strdup(uri ? uri : "");
    evbuffer_drain(last.hdrs, evbuffer_get_length(last.hdrs));
    for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next) {
        size_t n = strlen(kv->key);
        char name[256];
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        for (size_t i = 0; i < n; i++)
            name[i] = (char)tolower((unsigned char)kv->key[i]);
        evbuffer_add(last.hdrs, name, n);
        evbuffer_add(last.hdrs, "", 1);
        evbuffer_add(last.hdrs, kv->value, strlen(kv->value) + 1);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    evbuffer_drain(last.body, evbuffer_get_length(last.body));
    size_t len = evbuffer_get_length(in);
    if (len)
        evbuffer_add(last.body, evbuffer_pullup(in, -1), len);
    last.have = 1;
}

static void reply_last(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!last.have) {
        evbuffer_add(b, "null\n", 5);
    } else {
        evbuffer_add_printf(b, "{\"method\":\"%s\",\"path\":\"", last.method);
        mjson_escape(b, last.uri, strlen(last.uri));
        evbuffer_add(b, "\",\"headers\":{", 13);
        size_t hl = evbuffer_get_length(last.hdrs);
        const char *h = hl ? (const char *)evbuffer_pullup(last.hdrs, -1) : "", *he = h + hl;
        for (int first = 1; h < he; first = 0) {
            size_t kn = strlen(h);
            const char *v = h + kn + 1;
            size_t vn = strlen(v);
            evbuffer_add(b, first ? "\"" : ",\"", first ? 1 : 2);
            mjson_escape(b, h, kn);
            evbuffer_add(b, "\":\"", 3);
            mjson_escape(b, v, vn);
            evbuffer_add(b, "\"", 1);
            h = v + vn + 1;
        }
        evbuffer_add(b, "},\"body\":\"", 10);
        size_t bl = evbuffer_get_length(last.body);
        if (bl)
            mjson_escape(b, (const char *)evbuffer_pullup(last.body, -1), bl);
        evbuffer_add(b, "\"}\n", 3);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* ---- fault specs ---------------------------------------------------------- */

static void fault_defaults(struct mock_fault *f)
{
    memset(f, 0, sizeof(*f));
    f->retry_after = f->retry_after_ms = -1;
    f->events = f->reset_after = f->stall_after = f->error_event = -1;
}

/* Parses "k=v,k=v" (len bytes). Returns 0, or -1 with a message in err.
 * Besides the faults of docs/internals.md section 3, three shape keys mimic
 * provider quirks on the OpenAI dialect (they apply whatever fail_first says):
 *   comments=1     a comment line `: OPENROUTER PROCESSING` (and its blank
 *                  line) before every SSE event, [DONE] included, as
 *                  OpenRouter's keep-alives; DeepSeek's `: keep-alive` is the
 *                  same thing to a client
 *   cost=1         usage carries OpenRouter's extras: "cost" with more digits
 *                  than a double keeps (0.00012345678901234567), "is_byok",
 *                  "cost_details":{"upstream_inference_cost":null}
 *   blank_lines=N  N newlines before a non-stream chat/completions JSON body,
 *                  as DeepSeek sends while a request waits (cap 65536)
 * and one key turns the mock's strictness off (every dialect, whatever
 * fail_first says):
 *   lax=1          no request validation (validate.h): bodies the real API
 *                  would refuse are answered; only the minimal checks stay
 *                  (JSON object, model, messages/contents, max_tokens) */
static int fault_parse(struct mock_fault *f, const char *s, size_t len, char *err, size_t errlen)
{
    static const struct { const char *key; size_t off; } keys[] = {
#define K(name) {#name, offsetof(struct mock_fault, name)}
        K(status), K(fail_first), K(retry_after), K(retry_after_ms), K(first_byte_ms),
        K(stall), K(pace_ms), K(events), K(reset_after), K(stall_after), K(malformed),
        K(bad_json), K(error_event), K(crlf), K(cr), K(body_kb), K(comments), K(cost),
        K(blank_lines), K(lax),
#undef K
    };
    const char *p = s, *end = s + len;
    fault_defaults(f);
    while (p < end) {
        const char *item_end = memchr(p, ',', (size_t)(end - p));
        if (!item_end)
            item_end = end;
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        size_t kl = (size_t)((eq ? eq : item_end) - p);
        if (kl == 3 && memcmp(p, "tag", 3) == 0) {
            /* tag=<anything>: ignored; makes a spec (and its fail_first counter) unique */
            p = item_end < end ? item_end + 1 : end;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strlen(keys[i].key) == kl && memcmp(keys[i].key, p, kl) == 0)
                break;
        if (i == sizeof(keys) / sizeof(keys[0])) {
            snprintf(err, errlen, "mock: unknown fault key '%.*s'", (int)kl, p);
            return -1;
        }
        long v = 1; /* a bare key ("stall") means key=1 */
        if (eq) {
            char *e;
            char num[24];
            size_t nl = (size_t)(item_end - eq - 1);
            if (nl == 0 || nl >= sizeof(num)) {
                snprintf(err, errlen, "mock: bad value for fault key '%.*s'", (int)kl, p);
                return -1;
            }
            memcpy(num, eq + 1, nl);
            num[nl] = 0;
            errno = 0;
            v = strtol(num, &e, 10);
            if (*e || errno || v < 0 || v > 1000000000) {
                snprintf(err, errlen, "mock: bad value for fault key '%.*s'", (int)kl, p);
                return -1;
            }
        }
        *(int *)((char *)f + keys[i].off) = (int)v;
        p = item_end < end ? item_end + 1 : end;
    }
    if (f->status && (f->status < 100 || f->status > 599)) {
        snprintf(err, errlen, "mock: status must be 100..599");
        return -1;
    }
    if (f->body_kb > MOCK_MAX_BODY_KB)
        f->body_kb = MOCK_MAX_BODY_KB;
    if (f->blank_lines > MOCK_MAX_BLANK_LINES)
        f->blank_lines = MOCK_MAX_BLANK_LINES;
    return 0;
}

/* ---- book-keeping ---------------------------------------------------------- */

void mock_job_completed(struct mock_job *job)
{
    mock_stats.active--;
    mock_stats.completed++;
}

void mock_job_cancelled(struct mock_job *job)
{
    mock_stats.active--;
    mock_stats.cancelled++;
    if (mock_verbose)
        fprintf(stderr, "moongate-mock: request %llu cancelled by the client\n", job->seq);
}

/* ---- dispatch --------------------------------------------------------------- */

static void reply_control(struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *b;
    if (strcmp(path, "/_mock/last") == 0) {
        reply_last(req);
        return;
    }
    if (strcmp(path, "/_mock/stats") == 0) {
        b = evbuffer_new();
        evbuffer_add_printf(b, "{\"requests\":%llu,\"active\":%llu,\"completed\":%llu,\"cancelled\":%llu}\n",
                            mock_stats.requests, mock_stats.active, mock_stats.completed,
                            mock_stats.cancelled);
    } else if (strcmp(path, "/_mock/reset") == 0 && cmd == EVHTTP_REQ_POST) {
        /* `active` is a gauge of live requests, not a counter: it stays */
        mock_stats.requests = mock_stats.completed = mock_stats.cancelled = 0;
        spec_counts_free();
        last.have = 0;
        b = evbuffer_new();
        evbuffer_add(b, "{\"ok\":true}\n", 12);
    } else {
        mock_send_error(req, 404, "invalid_request_error", "unknown_url",
                        "mock: unknown control endpoint %s", path);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* Gemini: /{v1beta,v1,v1alpha}/models/{model}:{method}, {model} may hold '/'.
 * Routed on the ":method" suffix; the model's end is cut with a NUL. Returns
 * -1 when the path is not Gemini's (or, under /v1/, not a Gemini method). */
static int route_gemini(enum evhttp_cmd_type cmd, char *path, const char **id)
{
    static const char *const prefixes[] = {"/v1beta/models/", "/v1alpha/models/", "/v1/models/"};
    static const struct { const char *name; enum mock_endpoint ep; } methods[] = {
        {"generateContent", MOCK_EP_GENERATE},
        {"streamGenerateContent", MOCK_EP_STREAM_GEN},
        {"countTokens", MOCK_EP_COUNT},
        {"batchEmbedContents", MOCK_EP_EMBEDDINGS},
    };
    size_t i, pl = 0;
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(path, prefixes[i], (pl = strlen(prefixes[i]))) == 0)
            break;
    if (i == sizeof(prefixes) / sizeof(prefixes[0]))
        return -1;
    int ours = i < 2; /* /v1beta/, /v1alpha/ are Gemini's whatever follows */
    char *colon = strrchr(path + pl, ':');
    if (colon && colon > path + pl)
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
            if (strcmp(colon + 1, methods[m].name) == 0) {
                *colon = 0;
                *id = path + pl;
                return cmd == EVHTTP_REQ_POST ? (int)methods[m].ep : MOCK_EP_BAD_METHOD;
            }
    return ours ? MOCK_EP_NOT_FOUND : -1;
}

/* Azure: /openai/deployments/{deployment}/{chat/completions|completions|embeddings}. */
static int route_azure(enum evhttp_cmd_type cmd, char *path, const char **id)
{
    static const struct { const char *rest; enum mock_endpoint ep; } r[] = {
        {"chat/completions", MOCK_EP_CHAT},
        {"completions", MOCK_EP_COMPLETIONS},
        {"embeddings", MOCK_EP_EMBEDDINGS},
    };
    if (strncmp(path, "/openai/deployments/", 20) != 0)
        return -1;
    char *dep = path + 20, *slash = strchr(dep, '/');
    if (!slash || slash == dep)
        return MOCK_EP_NOT_FOUND;
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (strcmp(slash + 1, r[i].rest) == 0) {
            *slash = 0;
            *id = dep;
            return cmd == EVHTTP_REQ_POST ? (int)r[i].ep : MOCK_EP_BAD_METHOD;
        }
    return MOCK_EP_NOT_FOUND;
}

/* Which endpoint and dialect `path` is (may write a NUL into path to end *id). */
static enum mock_endpoint route(enum evhttp_cmd_type cmd, char *path, const char **id,
                                const struct mock_dialect **dl)
{
    static const struct {
        const char *path; enum evhttp_cmd_type cmd; enum mock_endpoint ep;
        const struct mock_dialect *dl;
    } r[] = {
        {"/v1/chat/completions", EVHTTP_REQ_POST, MOCK_EP_CHAT, &mock_openai},
        {"/v1/completions", EVHTTP_REQ_POST, MOCK_EP_COMPLETIONS, &mock_openai},
        {"/v1/embeddings", EVHTTP_REQ_POST, MOCK_EP_EMBEDDINGS, &mock_openai},
        {"/v1/models", EVHTTP_REQ_GET, MOCK_EP_MODELS, &mock_openai},
        {"/v1/messages", EVHTTP_REQ_POST, MOCK_EP_MESSAGES, &mock_anthropic},
        {"/v1/messages/count_tokens", EVHTTP_REQ_POST, MOCK_EP_COUNT, &mock_anthropic},
    };
    int ep;
    *dl = &mock_openai;
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (strcmp(path, r[i].path) == 0) {
            *dl = r[i].dl;
            return cmd == r[i].cmd ? r[i].ep : MOCK_EP_BAD_METHOD;
        }
    if ((ep = route_gemini(cmd, path, id)) >= 0) {
        *dl = &mock_gemini;
        return (enum mock_endpoint)ep;
    }
    if ((ep = route_azure(cmd, path, id)) >= 0) {
        if (ep != MOCK_EP_NOT_FOUND)
            *dl = &mock_azure;
        return (enum mock_endpoint)ep;
    }
    if (strncmp(path, "/v1/models/", 11) == 0 && path[11] && !strchr(path + 11, '/')) {
        *id = path + 11;
        return cmd == EVHTTP_REQ_GET ? MOCK_EP_MODEL_ONE : MOCK_EP_BAD_METHOD;
    }
    return MOCK_EP_NOT_FOUND;
}

/* evhttp general callback: every request lands here once its body is read.
 * Replies at once or hands the request to a job (job.c), which then owns
 * the reply until it ends or the client goes away. */
static void on_request(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    char path[2048];
    if (!uri) { /* evhttp re-dispatches some failed requests without a URI */
        evhttp_send_error(req, 400, NULL);
        return;
    }
    size_t pl = strcspn(uri, "?");
    if (pl >= sizeof(path)) {
        mock_send_error(req, 414, "invalid_request_error", NULL, "mock: URI too long");
        return;
    }
    memcpy(path, uri, pl);
    path[pl] = 0;
    if (strncmp(path, "/_mock/", 7) == 0) {
        reply_control(req, path);
        return;
    }

    mock_stats.requests++;
    last_record(req);
    if (mock_verbose)
        fprintf(stderr, "moongate-mock: %s %s\n", last.method, uri);

    struct mock_fault f;
    int faults_on = 1;
    char *p = path;
    fault_defaults(&f);
    if (strncmp(path, "/f/", 3) == 0) {
        char *spec = path + 3, *slash = strchr(spec, '/');
        char err[160];
        if (!slash || fault_parse(&f, spec, (size_t)(slash - spec), err, sizeof(err)) != 0) {
            mock_stats.completed++;
            mock_send_error(req, 400, "invalid_request_error", "mock_bad_fault", "%s",
                            slash ? err : "mock: /f/<spec>/ needs a path after the spec");
            return;
        }
        if (f.fail_first > 0 && spec_hit(spec, (size_t)(slash - spec)) > (unsigned long)f.fail_first)
            faults_on = 0;
        p = slash;
    }
    const char *id = NULL;
    const struct mock_dialect *dl;
    enum mock_endpoint ep = route(evhttp_request_get_command(req), p, &id, &dl);
    char *decoded = NULL; /* a Gemini model or an Azure deployment arrives URL-encoded */
    if (id && dl != &mock_openai && !(decoded = evhttp_uridecode(id, 0, NULL)))
        id = NULL;
    struct mock_job *job = mock_job_new(req, ep, dl, &f, faults_on, decoded ? decoded : id);
    free(decoded);
    if (!job) {
        mock_stats.completed++;
        mock_send_error(req, 500, "server_error", NULL, "mock: out of memory");
        return;
    }
    mock_job_run(job);
}

/* ---- start-up ----------------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(mock_base, NULL);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: moongate-mock [-p PORT] [-v] [-h]\n"
            "  -p PORT  listen on 127.0.0.1:PORT (default 9001; 0 = ephemeral)\n"
            "  -v       log each request on stderr\n"
            "  -h       this help\n"
            "Prints `port=N` on stdout once listening. Faults: /f/<k=v,...>/v1/...\n"
            "(see docs/internals.md section 3).\n");
}

int main(int argc, char **argv)
{
    long port = 9001;
    int c;
    while ((c = getopt(argc, argv, "p:vh")) != -1) {
        char *e;
        switch (c) {
        case 'p':
            port = strtol(optarg, &e, 10);
            if (*e || port < 0 || port > 65535) {
                fprintf(stderr, "moongate-mock: bad port '%s'\n", optarg);
                return 2;
            }
            break;
        case 'v': mock_verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    mock_base = event_base_new();
    struct evhttp *http = mock_base ? evhttp_new(mock_base) : NULL;
    last.hdrs = evbuffer_new();
    last.body = evbuffer_new();
    if (!http || !last.hdrs || !last.body) {
        fprintf(stderr, "moongate-mock: cannot set up libevent\n");
        return 1;
    }
    evhttp_set_gencb(http, on_request, NULL);
    evhttp_set_max_body_size(http, MOCK_MAX_BODY);
    evhttp_set_timeout(http, MOCK_CONN_TIMEOUT_S);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                     EVHTTP_REQ_OPTIONS);

    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *lev = evconnlistener_new_bind(
        mock_base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        MOCK_BACKLOG, (struct sockaddr *)&sin, sizeof(sin));
    if (!lev) {
        fprintf(stderr, "moongate-mock: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    evutil_socket_t lfd = evconnlistener_get_fd(lev);
    int one = 1;
    /* Linux copies TCP_NODELAY to accepted sockets: no Nagle delay on replies. */
    setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct evhttp_bound_socket *bound = evhttp_bind_listener(http, lev);
    socklen_t sl = sizeof(sin);
    if (!bound || getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        fprintf(stderr, "moongate-mock: cannot bind the HTTP server\n");
        return 1;
    }
    printf("port=%d\n", ntohs(sin.sin_port));
    fflush(stdout);

    struct event *sigint = evsignal_new(mock_base, SIGINT, on_signal, NULL);
    struct event *sigterm = evsignal_new(mock_base, SIGTERM, on_signal, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);

    event_base_dispatch(mock_base);

    /* Orderly teardown so ASan's leak check stays meaningful: evhttp_free
     * closes the connections, which runs the close callback of live jobs. */
    evhttp_free(http);
    event_free(sigint);
    event_free(sigterm);
    spec_counts_free();
    free(last.uri);
    evbuffer_free(last.hdrs);
    evbuffer_free(last.body);
    event_base_free(mock_base);
    return 0;
}
