/*
 * job.c - one API request's reply as a small state machine: delays, pacing,
 * faults, client disconnects. The job's dialect (openai.c, anthropic.c,
 * gemini.c: a struct mock_dialect) decides what the bytes are; this file
 * decides when they go and when the reply ends.
 *
 * A job (struct mock_job) owns everything about one unfinished reply. Replies
 * that can be produced at once are written from the request callback and the
 * job is freed before it returns: the fast path for benchmarks costs one
 * malloc, one scan of the body and one evbuffer per reply. A job that must
 * outlive the callback (first_byte_ms, stall, pacing, stall_after, reset)
 * installs a close callback on the connection so it learns when the client
 * goes away, and one timer for all its delays.
 *
 *   new ──▶ run ─┬─ stall ─────────────────────────▶ STALLED ──(client gone)──▶ cancelled
 *                ├─ first_byte_ms ─▶ WAIT_FIRST_BYTE ──(timer)──▶ start
 *                └─ start ─┬─ status / bad_json / non-stream body ─────────────▶ completed
 *                          └─ SSE ─▶ STREAMING ─(timer per event)─┬─ end ───────▶ completed
 *                                                                 ├─ error_event ▶ completed
 *                                                                 ├─ stall_after ▶ STALLED
 *                                                                 └─ reset_after ▶ RESETTING ─▶ completed
 *   any state with a close callback ──(client gone)──▶ cancelled
 *
 * "Content events" are the events that carry words or tool-call argument
 * fragments; the opener (OpenAI role chunk; Anthropic message_start,
 * content_block_start, ping), the finish, usage and end events ([DONE];
 * Anthropic content_block_stop, message_delta, message_stop) are not
 * counted. reset_after/stall_after/error_event=N act once N content
 * events were sent (N larger than the content: before the finish chunk).
 */
#include "mock.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

/* While resetting, the output buffer is polled this often (ms), at most
 * RESET_MAX_POLLS times, so the N events really reach the client first. */
#define RESET_POLL_MS 1
#define RESET_MAX_POLLS 2000

static void job_on_timer(evutil_socket_t fd, short what, void *arg);
static void job_start(struct mock_job *job);
static void stream_pump(struct mock_job *job);

/* ---- job life ------------------------------------------------------------- */

struct mock_job *mock_job_new(struct evhttp_request *req, enum mock_endpoint ep,
                              const struct mock_dialect *dl, const struct mock_fault *f,
                              int faults_on, const char *path_id)
{
    static unsigned long long seq;
    struct mock_job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->req = req;
    job->ep = ep;
    job->dl = dl;
    job->f = *f;
    if (!faults_on) { /* fail_first exhausted: keep the shape, drop the faults */
        job->f.status = 0;
        job->f.first_byte_ms = job->f.stall = job->f.malformed = job->f.bad_json = 0;
        job->f.reset_after = job->f.stall_after = job->f.error_event = -1;
    }
    job->seq = ++seq;
    job->created = (long long)time(NULL);
    job->eol = f->crlf ? "\r\n" : f->cr ? "\r" : "\n";
    if (path_id)
        job->path_id = strdup(path_id);
    dl->parse(job, req);
    mock_stats.active++;
    return job;
}

static void job_free(struct mock_job *job)
{
    if (job->evcon)
        evhttp_connection_set_closecb(job->evcon, NULL, NULL);
    if (job->timer)
        event_free(job->timer);
    free(job->model);
    free(job->tool);
    free(job->path_id);
    free(job->verr);
    free(job);
}

/* The reply ended (normally, with a fault, or by our own reset). */
static void job_done(struct mock_job *job)
{
    mock_job_completed(job);
    job_free(job);
}

/* Ends a started (chunked) reply normally. The close callback goes first:
 * from here on the request is evhttp's to finish and free. */
static void job_end_reply(struct mock_job *job)
{
    if (job->evcon) {
        evhttp_connection_set_closecb(job->evcon, NULL, NULL);
        job->evcon = NULL;
    }
    evhttp_send_reply_end(job->req);
    job_done(job);
}

/* Close callback installed by job_watch(). Contract (libevent 2.1): evhttp is
 * about to free `evcon`. If the connection failed while we still owned the
 * reply (EOF/timeout before evhttp_send_reply_end), evhttp has detached the
 * request (its connection is NULL) and will NOT free it: that is ours to free.
 * If the request is still attached (evhttp_free at shutdown), evhttp frees it
 * right after this callback. Either way it must not be used afterwards. */
static void job_on_close(struct evhttp_connection *evcon, void *arg)
{
    struct mock_job *job = arg;
    if (evhttp_request_get_connection(job->req) == NULL)
        evhttp_request_free(job->req);
    job->req = NULL;
    job->evcon = NULL; /* being freed: do not clear its close callback */
    mock_job_cancelled(job);
    job_free(job);
}

/* The job outlives the current callback: learn about the client going away.
 * evhttp only watches a server connection for EOF once a reply write has
 * begun; between reading the request and the first byte of the reply (stall,
 * first_byte_ms) reading is off and a vanished client goes unnoticed. So do
 * what evhttp does itself while writing (evhttp_write_buffer): no read
 * callback (a pipelined request just waits in the input buffer), reading on,
 * so EOF reaches evhttp's event callback, which fails the connection and
 * runs the close callback. The read callback comes back when evhttp starts
 * reading the next request. */
static void job_watch(struct mock_job *job)
{
    if (job->evcon)
        return;
    job->evcon = evhttp_request_get_connection(job->req);
    if (!job->evcon)
        return;
    evhttp_connection_set_closecb(job->evcon, job_on_close, job);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(job->evcon);
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *cbarg;
    if (!bev)
        return;
    bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
    bufferevent_setcb(bev, NULL, wcb, ecb, cbarg);
    bufferevent_enable(bev, EV_READ);
}

static int job_arm(struct mock_job *job, int ms)
{
    if (!job->timer && !(job->timer = evtimer_new(mock_base, job_on_timer, job)))
        return -1;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    job_watch(job);
    return evtimer_add(job->timer, &tv);
}

/* Reset: once the output is flushed (or we gave up waiting), free the
 * connection without the chunked terminator. evhttp_connection_free frees the
 * request too; the close callback is cleared first so this is not a cancel. */
static void job_reset_step(struct mock_job *job)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(job->evcon);
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > 0 &&
        job->reset_polls++ < RESET_MAX_POLLS) {
        job_arm(job, RESET_POLL_MS);
        return;
    }
    struct evhttp_connection *evcon = job->evcon;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    job->evcon = NULL;
    job->req = NULL;
    evhttp_connection_free(evcon);
    job_done(job);
}

/* Never called synchronously from the request callback: freeing the
 * connection under evhttp's feet there is not safe, so go through the timer. */
static void job_reset(struct mock_job *job)
{
    job->phase = MOCK_PH_RESETTING;
    job_watch(job);
    if (!job->evcon || job_arm(job, 0) != 0)
        job_end_reply(job); /* cannot happen short of ENOMEM; end cleanly */
}

static void job_stall(struct mock_job *job)
{
    job->phase = MOCK_PH_STALLED;
    job_watch(job);
}

/* Timer: the single event of a job; what it means depends on the phase. */
static void job_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct mock_job *job = arg;
    switch (job->phase) {
    case MOCK_PH_WAIT_FIRST_BYTE: job_start(job); break;
    case MOCK_PH_STREAMING: stream_pump(job); break;
    case MOCK_PH_RESETTING: job_reset_step(job); break;
    case MOCK_PH_STALLED: break;
    }
}

void mock_job_run(struct mock_job *job)
{
    if (job->f.stall) {
        job_stall(job);
    } else if (job->f.first_byte_ms > 0) {
        job->phase = MOCK_PH_WAIT_FIRST_BYTE;
        if (job_arm(job, job->f.first_byte_ms) != 0)
            job_start(job);
    } else {
        job_start(job);
    }
}

/* One SSE event = one HTTP chunk (an empty buffer sends nothing). */
void mock_sse_send(struct mock_job *job, struct evbuffer *b)
{
    if (evbuffer_get_length(b))
        evhttp_send_reply_chunk(job->req, b);
}

/* A fault set to N is due once N content events went out, or at the end of
 * the content when N is larger (so it still fires, before the finish chunk). */
static int fault_due(const struct mock_job *job, int n)
{
    return n >= 0 && (job->sent >= n || job->sent >= job->total);
}

/* Bytes queued for the client in user space. 256 KiB is well above one
 * socket buffer, so a fast reader never waits on this check. */
#define MOCK_OUT_HIGH_WATER (256 * 1024)
static size_t output_backlog(struct mock_job *job)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(job->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Sends content events until the end, a fault, or the next paced delay. */
static void stream_pump(struct mock_job *job)
{
    struct evbuffer *b = evbuffer_new();
    const struct mock_fault *f = &job->f;
    for (;;) {
        if (fault_due(job, f->reset_after)) {
            evbuffer_free(b);
            job_reset(job);
            return;
        }
        if (fault_due(job, f->error_event)) {
            job->dl->sse_error(job, b);
            mock_sse_send(job, b);
            evbuffer_free(b);
            job_end_reply(job);
            return;
        }
        if (fault_due(job, f->stall_after)) {
            evbuffer_free(b);
            job_stall(job);
            return;
        }
        if (job->sent >= job->total) {
            if (job->dl->sse_finish)
                job->dl->sse_finish(job, b);
            mock_sse_send(job, b);
            if (job->dl->sse_usage)
                job->dl->sse_usage(job, b);
            mock_sse_send(job, b);
            if (job->dl->sse_done)
                job->dl->sse_done(job, b);
            mock_sse_send(job, b);
            evbuffer_free(b);
            job_end_reply(job);
            return;
        }
        job->dl->sse_content(job, b, job->sent++);
        mock_sse_send(job, b);
        if (f->malformed && !job->malformed_done) {
            job->malformed_done = 1;
            job->dl->sse_malformed(job, b);
            mock_sse_send(job, b);
        }
        if (job->sent < job->total && output_backlog(job) > MOCK_OUT_HIGH_WATER) {
            /* the reader is slow: wait for the socket like a real server
             * would, instead of queueing the whole stream in memory */
            evbuffer_free(b);
            job->phase = MOCK_PH_STREAMING;
            if (job_arm(job, 1) != 0)
                stream_pump(job);
            return;
        }
        if (f->pace_ms > 0 && job->sent < job->total) {
            evbuffer_free(b);
            job->phase = MOCK_PH_STREAMING;
            if (job_arm(job, f->pace_ms) != 0)
                stream_pump(job);
            return;
        }
    }
}

static void stream_start(struct mock_job *job)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(job->req);
    evhttp_add_header(h, "Content-Type", job->stream_ctype ? job->stream_ctype : "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    /* Paced events are small writes: without TCP_NODELAY, Nagle plus the
     * client's delayed ACK would hold each one back up to 40 ms. (The
     * listener sets it too and Linux copies it to accepted sockets; this is
     * belt and braces for the one case where it matters.) */
    struct evhttp_connection *evcon = evhttp_request_get_connection(job->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev && job->f.pace_ms > 0) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    evhttp_send_reply_start(job->req, 200, "OK");
    job->phase = MOCK_PH_STREAMING;
    struct evbuffer *b = evbuffer_new();
    if (job->dl->sse_open)
        job->dl->sse_open(job, b);
    mock_sse_send(job, b);
    evbuffer_free(b);
    /* the first content event waits pace_ms after the opener */
    if (job->f.pace_ms > 0 && job->total > 0 && job_arm(job, job->f.pace_ms) == 0)
        return;
    stream_pump(job);
}

/* First byte: the status line and whatever follows. */
static void job_start(struct mock_job *job)
{
    char id[40];
    /* Not watching while replying: a plain reply is evhttp's once sent, and
     * the stream paths install the callback again when they need it. */
    if (job->evcon) {
        evhttp_connection_set_closecb(job->evcon, NULL, NULL);
        job->evcon = NULL;
    }
    snprintf(id, sizeof(id), "req_mock_%llu", job->seq);
    evhttp_add_header(evhttp_request_get_output_headers(job->req), "x-request-id", id);
    if (job->f.status) {
        job->dl->reply_status(job);
    } else if (job->f.bad_json) {
        mock_reply_bad_json(job);
    } else if (!job->stream && job->ep != MOCK_EP_MODELS && job->ep != MOCK_EP_MODEL_ONE &&
               (job->f.reset_after >= 0 || job->f.stall_after >= 0)) {
        /* non-stream: no events to count, so reset or stall before the
         * status line (docs/internals.md section 3) */
        if (job->f.reset_after >= 0)
            job_reset(job);
        else
            job_stall(job);
        return;
    } else if (!job->dl->reply(job)) {
        stream_start(job);
        return;
    }
    job_done(job); /* job_free clears the close callback */
}
