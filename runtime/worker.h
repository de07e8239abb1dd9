/* worker.h - one worker thread: event loop, HTTP server, upstream pool, policy VM.
 * Nothing here is shared with other workers except through the fields marked
 * "main thread writes", which are guarded by mu. */
#ifndef MOONGATE_WORKER_H
#define MOONGATE_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include "http.h"
#include "policy.h"
#include "uclient.h"

typedef struct gateway gateway_t;

typedef struct worker {
    int index;
    gateway_t *gw;
    pthread_t thread;
    struct event_base *base;
    http_server_t *http;
    uc_pool_t *ucp;               /* upstream keep-alive connections of this worker */
    policy_vm_t *vm;              /* current VM; requests retain their own */
    int listen_fd;
    int active;                   /* streams alive on this worker */
    void *streams;                /* their list (stream.c owns the type) */
    void *spare;                  /* finished streams kept for reuse (stream.c; freed by stream_pool_free) */
    int n_spare;
    int draining;
    uint64_t counter;             /* request ids */
    uint32_t id_salt;
    uint64_t rng;                 /* xorshift state for jitter */
    /* main thread writes, worker reads, under mu; the worker hears of it
     * through notify_fd */
    pthread_mutex_t mu;
    policy_vm_t *next_vm;
    int notify_fd[2];             /* pipe: main thread -> worker (see worker_notify) */
    struct event *notify_ev;
    struct event *drain_timer;    /* worker loop only */
    struct event *trim_ev;        /* worker loop only: malloc_trim when idle */
    uint64_t trimmed_at;          /* counter at the last trim: nothing new since, nothing to do */
    int quiet_ticks;              /* trim ticks in a row with no request and no stream open */
    uint64_t tick_counter;        /* counter at the last trim tick: a request since means busy */
} worker_t;

struct gateway {
    const char *config_path;
    settings_t st;
    int n_workers;
    worker_t *workers;
    pthread_mutex_t mu;           /* guards generation and last_error */
    int generation;
    char last_error[1024];
};

/* stream.c: the HTTP handler for every request of a worker */
void stream_handle(http_req_t *req, void *worker);
void stream_abort_all(worker_t *w);
/* Frees the worker's spare streams (idle trim, worker exit). */
void stream_pool_free(worker_t *w);
/* main.c: called by a worker when its last stream ended while draining */
void worker_maybe_exit(worker_t *w);
double worker_rand(worker_t *w);

#endif
