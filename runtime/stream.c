/* stream.c - one request, start to end (relay.c handles the upstream
 * response of an attempt, reply.c writes what the client sees, xlate.c calls
 * the Lua translators; stream.h holds the shared state).
 * The stream is the sole owner and
 * freer of everything a request uses: the upstream transfer, the SSE decoder,
 * output buffers, the plan table anchored in its VM, the request core, and
 * one reference on the VM it started with.
 *
 *   http.c handler                        (client side done when the reply
 *        |                                 ended or the client went away)
 *        v
 *   ROUTING --host.handle()--> local reply ----------------------> DONE
 *        |
 *        v  plan: attempts[0..n)
 *   CONNECTING --connect error / timeout / retryable status--+
 *        |  (headers: other status, or 2xx)                  |
 *        v                                                   v
 *   HEADERS --first byte forwarded = COMMITTED           BACKOFF (timer)
 *        |                                                   |
 *        v                                                   +--> CONNECTING
 *   STREAMING --upstream ends--> reply end ----------------> DONE   (same target
 *        |                                                           while retries
 *        +--upstream fails after commit--> error event, end -> DONE   remain, then
 *                                                                     the next one)
 *   all attempts failed before commit --> 429 / 504 / 502 ---------> DONE
 *   client gone at any point --> cancel transfer and timers -------> DONE
 *
 * One function per transition: stream_handle (new request), attempt_start,
 * relay_on_status / relay_on_header / relay_on_headers_end, relay_on_body
 * (upstream data, relay.c), up_on_done, attempt_failed, on_timer,
 * on_client_close, on_drain, stream_finish. A stream is freed only in stream_finish, which runs from loop
 * callbacks after both sides are done; uclient never calls back into a
 * stream after uc_cancel. */
#include "stream.h"
#include "fmt.h"
#include "scan.h"
#include "log.h"
#include "retry.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>

static void attempt_start(stream_t *s);
static void attempt_failed(stream_t *s, int kind);
static void stream_finish(stream_t *s);
static void stream_release(stream_t *s, int all);

/* ---------- attempts ---------- */

static void timer_arm(stream_t *s, int kind, double ms)
{
    s->timer_kind = kind;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((long)ms % 1000) * 1000 };
    evtimer_add(s->timer, &tv);
}

/* Upstream bytes arrived: from now on the idle deadline applies. The timer
 * is re-armed once here (first byte) and otherwise lazily in on_timer. */
void stream_note_activity(stream_t *s)
{
    s->last_activity = mono();
    if (s->timer_kind == TIMER_FIRST_BYTE) {
        const attempt_t *a = &s->at[s->cur];
        if (a->t_idle < a->t_first_byte) timer_arm(s, TIMER_IDLE, a->t_idle);
        else s->timer_kind = TIMER_IDLE;
    }
}

static void up_on_done(void *arg, int result, const char *detail);

static const uc_callbacks_t up_callbacks = {
    .on_status = relay_on_status, .on_header = relay_on_header, .on_headers_end = relay_on_headers_end,
    .on_body = relay_on_body, .on_done = up_on_done,
};

/* Stops the current transfer, if any; no uclient callback follows. */
static void transfer_cancel(stream_t *s)
{
    if (!s->ur) return;
    uc_cancel(s->ur);
    s->ur = NULL;
}

static void attempt_start(stream_t *s)
{
    worker_t *w = s->w;
    attempt_t *a = &s->at[s->cur];
    s->tries_total++;
    s->up_status = 0; s->mode = MODE_NONE; s->fail = FAIL_NONE; s->paused = 0; s->held = 0;
    s->up_ctype[0] = 0; s->ra[0] = 0; s->ra_ms[0] = 0; s->up_clen = -1; s->detail[0] = 0;
    evbuffer_drain(s->up_hdrs, evbuffer_get_length(s->up_hdrs));
    evbuffer_drain(s->body, evbuffer_get_length(s->body));
    evbuffer_drain(s->out, evbuffer_get_length(s->out));
    if (s->sse_ready) sse_reset(&s->sse);
    xlate_end(s);

    /* header strings point into the anchored plan table; uc_start copies them */
    const char *hv[32];
    int nh = 0;
    lua_State *L = s->vm->L;
    int kt = policy_push_keys(s->vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->plan_ref);
    policy_get(L, kt, -1, PK_ATTEMPTS);
    lua_rawgeti(L, -1, s->cur + 1);
    policy_get(L, kt, -1, PK_HEADERS);
    if (lua_istable(L, -1)) {
        int n = (int)lua_objlen(L, -1);
        for (int k = 1; k <= n && nh < 32; k++) {
            lua_rawgeti(L, -1, k);
            const char *h = lua_tostring(L, -1);
            lua_pop(L, 1);
            if (h) hv[nh++] = h;
        }
    }
    lua_pop(L, 5);
    timer_arm(s, TIMER_FIRST_BYTE, a->t_first_byte);
    s->ur = uc_start(w->ucp, a->url, a->method, hv, nh, a->body, a->body ? a->body_len : 0,
                     a->t_connect, a->t_total, 1, &up_callbacks, s);
    if (!s->ur) {
        evtimer_del(s->timer);
        s->timer_kind = TIMER_NONE;
        snprintf(s->detail, sizeof s->detail, "invalid upstream request (url or headers)");
        attempt_failed(s, FAIL_CONNECT);
    }
}

/* The message of a retryable error body kept by MODE_DISCARD (scan.c). */
static void keep_upstream_message(stream_t *s)
{
    size_t n = evbuffer_get_length(s->body);
    const char *b = n ? (const char *)evbuffer_pullup(s->body, -1) : "";
    scan_error_message(b, n, s->up_msg, sizeof s->up_msg);
}

/* The client gets the outcome of the last failure when nothing is left to try. */
static void fail_final(stream_t *s)
{
    const attempt_t *a = &s->at[s->cur < s->n_at ? s->cur : s->n_at - 1];
    s->cur = s->n_at - 1;
    if (s->last_fail == FAIL_STATUS && s->last_status == 429) {
        char h[64];
        long secs = s->last_retry_ms > 0 ? (long)((s->last_retry_ms + 999) / 1000) : 1;
        snprintf(h, sizeof h, "Retry-After: %ld\r\n", secs);
        s->abort = "upstream_rate_limited";
        reply_error(s, 429, "rate_limit_exceeded", "upstream_rate_limited", h,
                    "all %d attempts were rate limited; last: %s/%s%s%s", s->tries_total, a->provider, a->model,
                    s->up_msg[0] ? "; upstream said: " : "", s->up_msg);
    } else if (s->last_fail == FAIL_TIMEOUT) {
        s->abort = "upstream_timeout";
        reply_error(s, 504, "upstream_error", "upstream_timeout", NULL,
                    "upstream timed out after %d attempts; last: %s/%s", s->tries_total, a->provider, a->model);
    } else {
        s->abort = "upstream_unavailable";
        const char *why = s->last_fail == FAIL_STATUS ? "returned an error status" :
                          s->last_fail == FAIL_CONNECT ? "could not be reached" :
                          s->last_fail == FAIL_ERROR_EVENT ? "sent an error event" : "failed";
        if (s->last_fail == FAIL_STATUS)
            reply_error(s, 502, "upstream_error", "upstream_unavailable", NULL,
                        "upstream %s (HTTP %d) after %d attempts; last: %s/%s%s%s", why, s->last_status,
                        s->tries_total, a->provider, a->model, s->up_msg[0] ? "; upstream said: " : "",
                        s->up_msg);
        else
            reply_error(s, 502, "upstream_error", "upstream_unavailable", NULL,
                        "upstream %s after %d attempts; last: %s/%s", why, s->tries_total, a->provider, a->model);
    }
    stream_finish(s);
}

/* Pre-commit failure of the current attempt: same target again while its
 * retries last (after backoff or Retry-After), else the next target. */
static void attempt_failed(stream_t *s, int kind)
{
    s->last_fail = kind;
    s->last_status = s->up_status;
    if (kind == FAIL_STATUS) keep_upstream_message(s);
    else s->up_msg[0] = 0;
    int64_t wait = -1;
    if (kind == FAIL_STATUS)
        wait = retry_after_parse_ms(s->ra_ms[0] ? s->ra_ms : NULL, s->ra[0] ? s->ra : NULL, time(NULL));
    s->last_retry_ms = wait;
    if (!s->req) { stream_finish(s); return; }
    attempt_t *a = &s->at[s->cur];
    int64_t cap = (int64_t)(s->w->gw->st.retry_after_cap * 1000);
    int64_t delay = 0;
    if (s->tries_cur < a->retries && !(wait > cap)) {
        delay = wait >= 0 ? wait : retry_backoff_ms(a->backoff_base, a->backoff_cap, s->tries_cur, worker_rand(s->w));
        s->tries_cur++;
    } else {
        s->cur++;
        s->tries_cur = 0;
        if (s->cur >= s->n_at) { fail_final(s); return; }
    }
    if (delay > 0) timer_arm(s, TIMER_BACKOFF, (double)delay);
    else attempt_start(s);
}

/* The transfer of the current attempt ended (uclient's on_done, or our own
 * timer after cancelling it). ok: the response was complete. */
static void attempt_ended(stream_t *s, int ok, int kind_hint)
{
    evtimer_del(s->timer);
    s->timer_kind = TIMER_NONE;
    s->ur = NULL;
    if (!s->req) { stream_finish(s); return; }
    if (s->mode == MODE_DISCARD && ok) { attempt_failed(s, FAIL_STATUS); return; }
    if (!ok || s->fail) {
        int kind = s->fail ? s->fail : kind_hint;
        if (!s->committed) {
            if (s->mode == MODE_DISCARD) kind = FAIL_STATUS;
            attempt_failed(s, kind);
            return;
        }
        reply_end_with_error(s, kind == FAIL_TIMEOUT ? "upstream_timeout" :
                                    kind == FAIL_PROTOCOL ? "upstream_error" : "upstream_reset",
                                 kind == FAIL_TIMEOUT ? "upstream timed out mid-stream" :
                                 kind == FAIL_PROTOCOL ? "upstream sent an invalid stream" :
                                 "upstream connection failed mid-stream");
        log_event(LOG_WARN, "request %s: upstream %s/%s failed after first byte: %s",
                  s->id, s->at[s->cur].provider, s->at[s->cur].model, s->detail[0] ? s->detail : "stream ended early");
        stream_finish(s);
        return;
    }
    switch (s->mode) {
    case MODE_SSE:
        if (s->tr_ref != LUA_NOREF) xlate_finish(s);
        else evbuffer_add_buffer(s->out, s->body);   /* bytes after the last event, as sent */
        if (!s->committed) reply_commit(s);
        if (evbuffer_get_length(s->out)) http_reply_chunk_buf(s->req, s->out);   /* a held role chunk */
        http_reply_end(s->req);
        client_done(s, s->up_status);
        break;
    case MODE_RAW:
        reply_commit(s);
        http_reply_end(s->req);
        client_done(s, s->up_status);
        break;
    default: {   /* MODE_BUFFER or an empty response */
        if (s->tr_ref != LUA_NOREF) xlate_body(s);
        size_t n = evbuffer_get_length(s->body);
        const char *b = n ? (const char *)evbuffer_pullup(s->body, -1) : "";
        if (n) relay_usage_scan(s, b, n);
        evbuffer_add(s->up_hdrs, "", 1);   /* the forwarded headers as one C string */
        reply_full(s, s->up_status ? s->up_status : 502, s->up_ctype[0] ? s->up_ctype : "application/json",
                   (const char *)evbuffer_pullup(s->up_hdrs, -1), b, n);
    }
    }
    stream_finish(s);
}

/* uclient: the transfer ended. The uc_req_t is freed when we return. */
static void up_on_done(void *arg, int result, const char *detail)
{
    stream_t *s = arg;
    if (detail) snprintf(s->detail, sizeof s->detail, "%s", detail);
    int kind = result == UC_ERR_TIMEOUT ? FAIL_TIMEOUT :
               (result == UC_ERR_CONNECT || result == UC_ERR_DNS || result == UC_ERR_TLS) ? FAIL_CONNECT :
               FAIL_RESET;
    attempt_ended(s, result == UC_OK, kind);
}

/* libevent: backoff elapsed, or a first-byte / idle deadline to check. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    stream_t *s = arg;
    (void)fd; (void)what;
    if (s->timer_kind == TIMER_BACKOFF) { attempt_start(s); return; }
    if (!s->ur) return;
    const attempt_t *a = &s->at[s->cur];
    if (s->timer_kind == TIMER_IDLE) {
        double left = s->last_activity + a->t_idle / 1000.0 - mono();
        if (left > 0 || s->paused) {      /* a paused stream waits on the client, not the upstream */
            timer_arm(s, TIMER_IDLE, left > 0 ? left * 1000 + 1 : a->t_idle);
            return;
        }
    }
    transfer_cancel(s);
    s->fail = FAIL_TIMEOUT;
    snprintf(s->detail, sizeof s->detail, "no upstream bytes for %d ms",
             s->timer_kind == TIMER_IDLE ? a->t_idle : a->t_first_byte);
    attempt_ended(s, 0, FAIL_TIMEOUT);
}

/* http.c: the client went away before the reply ended. The request is freed
 * when we return; cancel the upstream at once. */
static void on_client_close(http_req_t *r, void *arg)
{
    stream_t *s = arg;
    (void)r;
    s->req = NULL;
    if (!s->abort) s->abort = "client_closed";
    evtimer_del(s->timer);
    transfer_cancel(s);
    stream_finish(s);
}

/* http.c: the client's output buffer drained below the low watermark. */
static void on_drain(http_req_t *r, void *arg)
{
    stream_t *s = arg;
    (void)r;
    if (s->paused && s->ur) {
        s->paused = 0;
        uc_resume(s->ur);   /* the refused bytes come again from the loop */
    }
}

/* ---------- start and end ---------- */

static void stream_finish(stream_t *s)
{
    if (s->finished) return;
    s->finished = 1;
    worker_t *w = s->w;
    xlate_end(s);   /* first: it reports the translated stream's usage */
    const attempt_t *a = s->n_at ? &s->at[s->cur < s->n_at ? s->cur : s->n_at - 1] : NULL;
    double now = mono();
    log_access_t la = {
        .id = s->id, .method = s->method, .path = s->path, .route = s->route,
        .provider = a && s->tries_total ? a->provider : NULL, .model = a && s->tries_total ? a->model : NULL,
        .abort = s->abort, .attempts = s->tries_total, .status = s->status_sent,
        .latency_ms = (now - s->t_start) * 1000,
        .ttft_ms = s->t_first_out > 0 ? (s->t_first_out - s->t_start) * 1000 : -1,
        .prompt_tokens = s->prompt_tokens, .completion_tokens = s->completion_tokens,
    };
    log_access(&la);
    lua_State *L = s->vm->L;
    if (s->vm->done_ref != LUA_NOREF) {
        lua_createtable(L, 0, 10);
        lua_pushstring(L, s->id); lua_setfield(L, -2, "id");
        if (la.provider) { lua_pushstring(L, la.provider); lua_setfield(L, -2, "provider"); }
        if (la.model) { lua_pushstring(L, la.model); lua_setfield(L, -2, "model"); }
        lua_pushinteger(L, la.status); lua_setfield(L, -2, "status");
        lua_pushinteger(L, la.attempts); lua_setfield(L, -2, "attempts");
        lua_pushnumber(L, la.latency_ms); lua_setfield(L, -2, "latency_ms");
        if (la.ttft_ms >= 0) { lua_pushnumber(L, la.ttft_ms); lua_setfield(L, -2, "ttft_ms"); }
        if (la.prompt_tokens >= 0) { lua_pushnumber(L, (double)la.prompt_tokens); lua_setfield(L, -2, "prompt_tokens"); }
        if (la.completion_tokens >= 0) { lua_pushnumber(L, (double)la.completion_tokens); lua_setfield(L, -2, "completion_tokens"); }
        if (la.abort) { lua_pushstring(L, la.abort); lua_setfield(L, -2, "abort"); }
        char err[512];
        if (policy_call(s->vm, s->vm->done_ref, err, sizeof err) == 0) lua_pop(L, 1);
        else log_event(LOG_ERROR, "policy on_done error (request %s, generation %d): %s", s->id, s->vm->generation, err);
    }
    policy_core_invalidate(s->core);
    if (s->core_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, s->core_ref);
    if (s->plan_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, s->plan_ref);
    policy_vm_gc_pay(s->vm);     /* the reply is out: the GC work this request owes, now */
    policy_vm_release(s->vm);
    if (s->sse_ready) sse_free(&s->sse);
    if (s->prev) s->prev->next = s->next; else w->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    stream_release(s, 0);
    w->active--;
    if (w->draining) worker_maybe_exit(w);
}

/* t[key] as an int (dflt when not a number); keys: policy_push_keys. */
static int tbl_int(lua_State *L, int keys, int t, int key, int dflt)
{
    policy_get(L, keys, t, key);
    int v = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

/* t[key] as a string (NULL when not a string), valid while t is anchored. */
static const char *tbl_str(lua_State *L, int keys, int t, int key, size_t *len)
{
    policy_get(L, keys, t, key);
    const char *v = lua_isstring(L, -1) ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1);   /* still anchored by the plan table */
    return v;
}

static void health(http_req_t *req, worker_t *w)
{
    gateway_t *gw = w->gw;
    char body[1400], esc[1200];
    size_t n = 0;
    pthread_mutex_lock(&gw->mu);
    int gen = gw->generation;
    if (gw->last_error[0]) log_json_escape(esc, &n, sizeof esc, gw->last_error);
    pthread_mutex_unlock(&gw->mu);
    esc[n] = 0;
    int len = snprintf(body, sizeof body, "{\"status\":\"ok\",\"generation\":%d,\"last_reload_error\":%s%s%s}",
                       gen, n ? "\"" : "null", n ? esc : "", n ? "\"" : "");
    char hdr[48];
    snprintf(hdr, sizeof hdr, "x-request-id: %08x%08x\r\n", w->id_salt, (unsigned)++w->counter);
    http_reply(req, 200, "application/json", hdr, body, (size_t)len);
}

/* Finished streams wait on the worker's spare list with their three buffers
 * and their timer, so a request costs no malloc/free of those (and the
 * stream's 2.6 KB come back warm). At most STREAM_SPARE_MAX per worker;
 * the idle trim frees them all. ASan builds keep none, so a stale pointer to a
 * finished stream still reads freed memory there. */
#if defined(__SANITIZE_ADDRESS__)
#define STREAM_SPARE_MAX 0
#else
#define STREAM_SPARE_MAX 64
#endif

static stream_t *stream_alloc(worker_t *w)
{
    stream_t *s = w->spare;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        s->up_hdrs = evbuffer_new();
        s->out = evbuffer_new();
        s->body = evbuffer_new();
        s->timer = evtimer_new(w->base, on_timer, s);
        if (!s->up_hdrs || !s->out || !s->body || !s->timer) { stream_release(s, 1); return NULL; }
        return s;
    }
    w->spare = s->next;
    w->n_spare--;
    struct evbuffer *h = s->up_hdrs, *o = s->out, *b = s->body;
    struct event *t = s->timer;
    memset(s, 0, sizeof *s);
    s->up_hdrs = h; s->out = o; s->body = b; s->timer = t;
    return s;
}

/* s is off the live list: onto the spare list, or freed (all = 1, or full). */
static void stream_release(stream_t *s, int all)
{
    worker_t *w = s->w;
    if (!all && w && w->n_spare < STREAM_SPARE_MAX) {
        evtimer_del(s->timer);
        evbuffer_drain(s->up_hdrs, evbuffer_get_length(s->up_hdrs));
        evbuffer_drain(s->out, evbuffer_get_length(s->out));
        evbuffer_drain(s->body, evbuffer_get_length(s->body));
        s->next = w->spare;
        w->spare = s;
        w->n_spare++;
        return;
    }
    if (s->timer) event_free(s->timer);
    if (s->up_hdrs) evbuffer_free(s->up_hdrs);
    if (s->out) evbuffer_free(s->out);
    if (s->body) evbuffer_free(s->body);
    free(s);
}

void stream_pool_free(worker_t *w)
{
    while (w->spare) {
        stream_t *s = w->spare;
        w->spare = s->next;
        stream_release(s, 1);
    }
    w->n_spare = 0;
}

/* http.c: a complete request arrived on worker w. */
void stream_handle(http_req_t *req, void *arg)
{
    worker_t *w = arg;
    if (strcmp(req->path, "/health") == 0 && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)) {
        health(req, w);
        return;
    }
    stream_t *s = stream_alloc(w);
    if (!s) { http_reply(req, 503, "application/json", NULL, "{\"error\":{\"message\":\"out of memory\",\"type\":\"api_error\",\"param\":null,\"code\":null}}", 82); return; }
    s->w = w;
    s->next = w->streams;
    if (s->next) ((stream_t *)s->next)->prev = s;
    w->streams = s;
    s->req = req;
    s->vm = w->vm;
    policy_vm_retain(s->vm);
    w->active++;
    s->t_start = mono();
    s->core_ref = s->plan_ref = s->tr_ref = LUA_NOREF;
    s->prompt_tokens = s->completion_tokens = -1;
    *fmt_hex32(fmt_hex32(s->id, w->id_salt), (unsigned)++w->counter) = 0;
    fmt_copy(s->method, sizeof s->method, req->method, strlen(req->method));
    fmt_copy(s->path, sizeof s->path, req->path, strlen(req->path));
    http_req_set_callbacks(req, on_client_close, on_drain, s);
    /* the client's dialect by endpoint, so even a policy failure answers in it */
    s->dialect = reply_dialect_of_path(req->path);

    /* host.handle(core, path, method, id, query, client): the fields come as
     * arguments, so the per-request Lua never calls back into C for them */
    lua_State *L = s->vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->vm->handle_ref);
    s->core = policy_push_core(s->vm, req, s->id);
    lua_pushvalue(L, -1);
    s->core_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushstring(L, req->path);
    lua_pushstring(L, req->method);
    lua_pushstring(L, s->id);
    lua_pushstring(L, req->query ? req->query : "");
    lua_pushstring(L, req->client_addr);
    char err[1024];
    if (policy_pcall(s->vm, 6, 1, err, sizeof err) != 0) {
        char *nl = strchr(err, '\n');
        log_event(LOG_ERROR, "policy error (request %s, generation %d): %s", s->id, s->vm->generation, err);
        if (nl) *nl = 0;
        s->abort = "policy_error";
        reply_error(s, 500, "api_error", "policy_error", NULL, "the routing policy failed");
        stream_finish(s);
        return;
    }
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        lua_pop(L, 1);
        s->abort = "policy_error";
        log_event(LOG_ERROR, "policy error (request %s): host.handle returned no table", s->id);
        reply_error(s, 500, "api_error", "policy_error", NULL, "the routing policy returned nothing");
        stream_finish(s);
        return;
    }
    size_t len = 0;
    int kt = policy_push_keys(s->vm);
    const char *kind = tbl_str(L, kt, t, PK_KIND, NULL);
    const char *route = tbl_str(L, kt, t, PK_ENDPOINT, NULL);
    fmt_copy(s->route, sizeof s->route, route ? route : "", route ? strlen(route) : 0);
    if (kind && strcmp(kind, "local") == 0) {
        int status = tbl_int(L, kt, t, PK_STATUS, 200);
        const char *ct = tbl_str(L, kt, t, PK_CONTENT_TYPE, NULL);
        const char *hd = tbl_str(L, kt, t, PK_HEADERS, NULL);
        const char *body = tbl_str(L, kt, t, PK_BODY, &len);
        if (status >= 400)
            s->abort = status == 501 ? "not_implemented" : status >= 500 ? "policy_error" : "rejected";
        reply_full(s, status, ct ? ct : "application/json", hd, body ? body : "", body ? len : 0);
        lua_pop(L, 2);                           /* keys, plan */
        stream_finish(s);
        return;
    }
    s->client_stream = (policy_get(L, kt, t, PK_STREAM), lua_toboolean(L, -1));
    lua_pop(L, 1);
    s->hide_usage = (policy_get(L, kt, t, PK_HIDE_USAGE), lua_toboolean(L, -1));
    lua_pop(L, 1);
    const char *dialect = tbl_str(L, kt, t, PK_DIALECT, NULL);
    if (dialect) s->dialect = strcmp(dialect, "anthropic") == 0 ? DIALECT_ANTHROPIC :
                              strcmp(dialect, "gemini") == 0 ? DIALECT_GEMINI : DIALECT_OPENAI;
    policy_get(L, kt, t, PK_ATTEMPTS);
    int at = lua_gettop(L);
    int n = lua_istable(L, at) ? (int)lua_objlen(L, at) : 0;
    if (n > MAX_ATTEMPTS) n = MAX_ATTEMPTS;
    const settings_t *st = &w->gw->st;
    (void)st;
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, at, i + 1);
        int a = lua_gettop(L);
        attempt_t *x = &s->at[s->n_at];
        x->provider = tbl_str(L, kt, a, PK_PROVIDER, NULL);
        x->model = tbl_str(L, kt, a, PK_MODEL, NULL);
        x->url = tbl_str(L, kt, a, PK_URL, NULL);
        x->method = tbl_str(L, kt, a, PK_METHOD, NULL);
        policy_get(L, kt, a, PK_BODY);
        if (lua_type(L, -1) == LUA_TBOOLEAN && lua_toboolean(L, -1)) {
            x->body = req->body;                 /* the client's bytes as received (req:_upstream_body) */
            x->body_len = req->body_len;
        } else {
            x->body = lua_isstring(L, -1) ? lua_tolstring(L, -1, &x->body_len) : NULL;
        }
        lua_pop(L, 1);
        x->retries = tbl_int(L, kt, a, PK_RETRIES, 1);
        if (x->retries < 0) x->retries = 0;
        if (x->retries > MAX_RETRIES) x->retries = MAX_RETRIES;
        x->backoff_base = tbl_int(L, kt, a, PK_BACKOFF_BASE, 200);
        x->backoff_cap = tbl_int(L, kt, a, PK_BACKOFF_CAP, 2000);
        x->t_connect = tbl_int(L, kt, a, PK_CONNECT, 5000);
        x->t_first_byte = tbl_int(L, kt, a, PK_FIRST_BYTE, 60000);
        x->t_idle = tbl_int(L, kt, a, PK_IDLE, 60000);
        x->t_total = tbl_int(L, kt, a, PK_TOTAL, 600000);
        x->translate = (policy_get(L, kt, a, PK_TRANSLATE), lua_toboolean(L, -1));
        lua_pop(L, 1);
        lua_pop(L, 1);
        if (!x->provider || !x->model || !x->url) continue;   /* host.lua validates; be safe anyway */
        if (!x->method) x->method = "POST";
        s->n_at++;
    }
    lua_pop(L, 2);                               /* attempts, keys */
    s->plan_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the plan, anchoring every string above */
    if (s->n_at == 0) {
        s->abort = "policy_error";
        log_event(LOG_ERROR, "policy error (request %s): plan has no usable attempt", s->id);
        reply_error(s, 500, "api_error", "policy_error", NULL, "the routing policy returned an empty plan");
        stream_finish(s);
        return;
    }
    attempt_start(s);
}

/* Worker shutdown after the drain timeout: ends every live stream (the
 * upstream transfer is cancelled, the access line says so). The client side
 * is left to http_server_free, which closes the connections without
 * callbacks. Called from the worker's thread after its loop stopped. */
void stream_abort_all(worker_t *w)
{
    while (w->streams) {
        stream_t *s = w->streams;
        s->req = NULL;
        if (!s->abort) s->abort = "shutdown";
        evtimer_del(s->timer);
        transfer_cancel(s);
        stream_finish(s);
    }
}
