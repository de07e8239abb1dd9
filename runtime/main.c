/* main.c - flags, start-up, worker threads, signals, reload and drain.
 *
 * The main thread owns signals and reloads: on SIGHUP it builds one fresh VM
 * per worker (config + lua/ + policy + init), and only if every one of them
 * loads does it hand them over; each worker swaps at its next loop turn and
 * drops its reference on the old VM, which closes when its last request ends.
 * On SIGTERM/SIGINT every worker stops accepting and exits once its streams
 * are done, or when drain_timeout runs out. Workers own everything else. */
#include "worker.h"
#include "stream.h"
#include "evmem.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOONGATE_VERSION "0.1.0"

static gateway_t G;
static struct event_base *main_base;
static int workers_exited;           /* guarded by G.mu */
static struct event *drain_check;    /* main loop only */

static int listen_socket(const char *addr, char *err, size_t errlen)
{
    char host[128];
    const char *port;
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':') { snprintf(err, errlen, "listen: bad address '%s'", addr); return -1; }
        snprintf(host, sizeof host, "%.*s", (int)(e - addr - 1), addr + 1);
        port = e + 2;
    } else {
        const char *c = strrchr(addr, ':');
        if (!c) { snprintf(err, errlen, "listen: '%s' needs host:port", addr); return -1; }
        snprintf(host, sizeof host, "%.*s", (int)(c - addr), addr);
        port = c + 1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc) { snprintf(err, errlen, "listen: %s: %s", addr, gai_strerror(rc)); return -1; }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        snprintf(err, errlen, "listen: %s: %s", addr, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Main thread -> worker: one byte per request ('r' reload, 's' stop,
 * 'b' break the loop now). A full pipe can only hold repeats, so a failed
 * write loses nothing. */
static void worker_notify(worker_t *w, char c)
{
    ssize_t r = write(w->notify_fd[1], &c, 1);
    (void)r;
}

/* Worker: the main thread left a new VM in next_vm. */
static void on_reload(worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    policy_vm_t *vm = w->next_vm;
    w->next_vm = NULL;
    pthread_mutex_unlock(&w->mu);
    if (!vm) return;
    policy_vm_t *old = w->vm;
    w->vm = vm;
    policy_vm_release(old);
}

/* libevent (worker loop): while draining, see whether we can leave. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    worker_maybe_exit(arg);
}

/* libevent (worker loop): four times a second. A worker that served
 * requests, then none for a whole tick, and has no stream open gives freed
 * heap pages back to the system (a full Lua GC, the VM's block cache, then
 * malloc_trim), so RSS returns to its idle level within a second of a
 * burst instead of staying at the high-water mark; an idle worker does
 * nothing. A busy worker never trims: at concurrency 1 it has no stream open
 * between two requests, and trimming there (the earlier rule) made the next
 * requests fault fresh pages back in, a p99 of +0.3-0.6 ms in bench lane 2.
 * (The pages can only go back because libevent's per-fd slots live in a slab
 * of their own, see evmem.c, and the Lua VMs allocate from malloc, see
 * policy.c.) The trim waits for TRIM_QUIET_TICKS quiet ticks: right after
 * a burst, connections of it are still closing, and what they free after
 * the trim stayed resident (bench lane 4 once kept 21.6 MiB instead of
 * ~9.5 after 4,096 streams). Trimming again instead cost the next request
 * its pages back: TTFT +4.4 ms at c=1 after lane 1, against +0.5 ms. */
#define TRIM_QUIET_TICKS 2
static void on_trim_tick(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    (void)fd; (void)what;
    uint64_t seen = w->tick_counter;
    w->tick_counter = w->counter;
    if (w->active != 0 || w->counter != seen) { w->quiet_ticks = 0; return; }
    if (w->trimmed_at == w->counter || ++w->quiet_ticks < TRIM_QUIET_TICKS) return;
    w->trimmed_at = w->counter;
    stream_pool_free(w);
    policy_vm_trim(w->vm);   /* garbage of the last burst, then its pages */
    malloc_trim(0);
}

/* Worker: drain requested. */
static void on_stop(worker_t *w)
{
    w->draining = 1;
    http_server_stop_accepting(w->http);
    /* connections close asynchronously after their last reply flushed:
     * look every 10 ms (a drain takes at least that long anyway) */
    struct timeval every = { 0, 10000 };
    w->drain_timer = event_new(w->base, -1, EV_PERSIST, on_drain_tick, w);
    event_add(w->drain_timer, &every);
    worker_maybe_exit(w);
}

/* libevent (worker loop): bytes from the main thread. */
static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    char buf[64];
    ssize_t n;
    (void)what;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == 'r') on_reload(w);
            else if (buf[i] == 's' && !w->draining) on_stop(w);
            else if (buf[i] == 'b') event_base_loopbreak(w->base);
        }
    }
}

static void *worker_main(void *arg);

/* Starts the worker threads. worker_cpu_affinity = "auto" pins worker i to
 * the i-th CPU (mod n) of the set the process may run on (taskset, cpuset):
 * the kernel otherwise tends to wake both workers next to whatever woke them
 * (the mock, in the bench), so two workers and the upstream shared one core
 * while the other idled, and under per-session group scheduling the
 * upstream's pacing timers ran late: 4,096 paced streams stalled 822-1,670
 * events per run unpinned, none pinned (docs/internals.md section 7). Applied
 * at start only, like workers and listen. */
static void start_workers(void)
{
    cpu_set_t allowed;
    int cpus[CPU_SETSIZE], n = 0;
    if (G.st.cpu_affinity && sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
    char pinned[256] = "";
    size_t len = 0;
    for (int i = 0; i < G.n_workers; i++) {
        pthread_attr_t attr, *ap = NULL;
        int have_attr = n > 0 && pthread_attr_init(&attr) == 0;
        if (have_attr) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[i % n], &one);
            if (pthread_attr_setaffinity_np(&attr, sizeof one, &one) == 0) {
                ap = &attr;
                if (len < sizeof pinned - 16)
                    len += (size_t)snprintf(pinned + len, sizeof pinned - len, "%s%d", i ? "," : "", cpus[i % n]);
            }
        }
        pthread_create(&G.workers[i].thread, ap, worker_main, &G.workers[i]);
        if (have_attr) pthread_attr_destroy(&attr);
    }
    if (len) log_event(LOG_INFO, "workers pinned to CPUs %s (worker_cpu_affinity = \"auto\")", pinned);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    policy_watch_thread();
    log_thread_init(w->base);
    event_base_dispatch(w->base);
    /* cleanup on the worker's own thread: nothing else touches these */
    stream_abort_all(w);              /* only after a drain timeout are any left */
    stream_pool_free(w);
    http_server_free(w->http);
    uc_pool_free(w->ucp);
    pthread_mutex_lock(&w->mu);
    if (w->next_vm) policy_vm_release(w->next_vm);
    w->next_vm = NULL;
    pthread_mutex_unlock(&w->mu);
    policy_vm_release(w->vm);
    w->vm = NULL;
    log_thread_done();
    event_free(w->trim_ev);
    event_free(w->notify_ev);
    close(w->notify_fd[0]);
    close(w->notify_fd[1]);
    if (w->drain_timer) event_free(w->drain_timer);
    event_base_free(w->base);
    pthread_mutex_lock(&G.mu);
    workers_exited++;
    pthread_mutex_unlock(&G.mu);
    return NULL;
}

static int worker_init(worker_t *w, int index, policy_vm_t *vm, char *err, size_t errlen)
{
    const settings_t *st = &G.st;
    w->index = index;
    w->gw = &G;
    w->vm = vm;
    pthread_mutex_init(&w->mu, NULL);
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16) ^ ((uint64_t)index << 40) ^ (uint64_t)(uintptr_t)w;
    w->rng = seed ? seed : 88172645463325252ULL;
    w->id_salt = (uint32_t)(worker_rand(w) * 4294967295.0);
    w->base = event_base_new();
    if (!w->base) { snprintf(err, errlen, "event_base_new failed"); return -1; }
    http_limits_t lim = {
        .max_request_line = st->max_request_line, .max_header_bytes = st->max_header_bytes,
        .max_headers = st->max_headers, .max_body = st->max_body,
        .header_timeout_ms = (int)(st->header_timeout * 1000), .body_timeout_ms = (int)(st->body_timeout * 1000),
        .idle_timeout_ms = (int)(st->idle_timeout * 1000),
    };
    w->http = http_server_new(w->base, &lim, stream_handle, w);
    if (w->http) http_server_set_error_fmt(w->http, reply_server_error, NULL);
    w->ucp = uc_pool_new(w->base, NULL, st->upstream_idle_max);
    if (w->ucp) {
        uc_pool_set_stale_retry(w->ucp, 0);   /* every send is a counted attempt */
        uc_pool_set_idle_timeout(w->ucp, (int)(st->upstream_idle_timeout * 1000));
    }
    if (!w->http || !w->ucp) {
        snprintf(err, errlen, "cannot set up worker %d", index);
        return -1;
    }
    w->listen_fd = listen_socket(st->listen, err, errlen);
    if (w->listen_fd < 0 || http_server_listen_fd(w->http, w->listen_fd) != 0) return -1;
    /* The main thread reaches a worker only through this pipe, so no event
     * base needs libevent's locks (they cost a mutex on every event_add). */
    if (pipe2(w->notify_fd, O_NONBLOCK | O_CLOEXEC) != 0) { snprintf(err, errlen, "pipe: %s", strerror(errno)); return -1; }
    w->notify_ev = event_new(w->base, w->notify_fd[0], EV_READ | EV_PERSIST, on_notify, w);
    event_add(w->notify_ev, NULL);
    w->trim_ev = event_new(w->base, -1, EV_PERSIST, on_trim_tick, w);
    struct timeval trim_every = { 0, 250000 };   /* free when idle, never under load */
    event_add(w->trim_ev, &trim_every);

    return 0;
}

/* Builds n VMs; all or nothing. */
static int build_vms(policy_vm_t **out, int n, int generation, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        out[i] = policy_vm_new(G.config_path, generation, NULL, err, errlen);
        if (!out[i]) {
            while (i-- > 0) policy_vm_release(out[i]);
            return -1;
        }
    }
    return 0;
}

/* libevent (main loop): SIGHUP. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what; (void)arg;
    policy_vm_t *vms[256];
    char err[1024];
    pthread_mutex_lock(&G.mu);
    int gen = G.generation + 1;
    pthread_mutex_unlock(&G.mu);
    if (build_vms(vms, G.n_workers, gen, err, sizeof err) != 0) {
        pthread_mutex_lock(&G.mu);
        snprintf(G.last_error, sizeof G.last_error, "%s", err);
        pthread_mutex_unlock(&G.mu);
        log_event(LOG_ERROR, "reload failed, keeping generation %d: %s", gen - 1, err);
        return;
    }
    for (int i = 0; i < G.n_workers; i++) {
        worker_t *w = &G.workers[i];
        pthread_mutex_lock(&w->mu);
        policy_vm_t *stale = w->next_vm;   /* a reload the worker has not picked up yet */
        w->next_vm = vms[i];
        pthread_mutex_unlock(&w->mu);
        if (stale) policy_vm_release(stale);
        worker_notify(w, 'r');
    }
    pthread_mutex_lock(&G.mu);
    G.generation = gen;
    G.last_error[0] = 0;
    pthread_mutex_unlock(&G.mu);
    log_event(LOG_INFO, "reload ok (generation %d)", gen);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    pthread_mutex_lock(&G.mu);
    int done = workers_exited == G.n_workers;
    pthread_mutex_unlock(&G.mu);
    if (done) event_base_loopexit(main_base, NULL);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    log_event(LOG_WARN, "drain timeout: closing the remaining streams");
    for (int i = 0; i < G.n_workers; i++) worker_notify(&G.workers[i], 'b');
}

/* libevent (main loop): SIGTERM / SIGINT, once. */
static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
    static int stopping;
    (void)what; (void)arg;
    if (stopping) return;
    stopping = 1;
    log_event(LOG_INFO, "signal %d: draining (up to %.0f s)", (int)sig, G.st.drain_timeout);
    for (int i = 0; i < G.n_workers; i++) worker_notify(&G.workers[i], 's');
    struct timeval tv = { (time_t)G.st.drain_timeout, (suseconds_t)((G.st.drain_timeout - (long)G.st.drain_timeout) * 1e6) };
    event_base_once(main_base, -1, EV_TIMEOUT, on_drain_timeout, NULL, &tv);
    /* poll for the workers' exit: 20 ms is invisible next to any drain */
    drain_check = event_new(main_base, -1, EV_PERSIST, on_drain_check, NULL);
    struct timeval every = { 0, 20000 };
    event_add(drain_check, &every);
}

/* libevent (main loop): stop policy calls that overran their deadline. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    policy_watchdog_tick();
}

static void usage(void)
{
    fprintf(stderr,
        "usage: moongate [-c config.lua] [-t] [-v]\n"
        "  -c FILE  configuration (default: examples/moongate.lua)\n"
        "  -t       check the configuration and policy, then exit 0 (ok) or 1\n"
        "  -v       print the version\n");
}

int main(int argc, char **argv)
{
    const char *config = "examples/moongate.lua";
    int test_only = 0, opt;
    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 't': test_only = 1; break;
        case 'v': printf("moongate %s\n", MOONGATE_VERSION); return 0;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    evmem_init();   /* before libevent allocates anything */
    G.config_path = config;
    pthread_mutex_init(&G.mu, NULL);
    signal(SIGPIPE, SIG_IGN);
    policy_watchdog_init();

    char err[1024];
    policy_vm_t *first = policy_vm_new(config, 1, &G.st, err, sizeof err);
    if (!first) {
        fprintf(stderr, "moongate: %s: %s\n", config, err);
        return 1;
    }
    if (test_only) {
        printf("moongate: configuration %s ok\n", config);
        policy_vm_release(first);
        return 0;
    }
    if (log_open(G.st.log) != 0) { fprintf(stderr, "moongate: cannot open log %s\n", G.st.log); return 1; }
    G.generation = 1;
    G.n_workers = G.st.workers;
    G.workers = calloc((size_t)G.n_workers, sizeof *G.workers);
    policy_vm_t *vms[256];
    vms[0] = first;
    if (build_vms(vms + 1, G.n_workers - 1, 1, err, sizeof err) != 0) {
        fprintf(stderr, "moongate: %s: %s\n", config, err);
        return 1;
    }
    for (int i = 0; i < G.n_workers; i++) {
        if (worker_init(&G.workers[i], i, vms[i], err, sizeof err) != 0) {
            fprintf(stderr, "moongate: %s\n", err);
            return 1;
        }
    }
    main_base = event_base_new();
    struct event *hup = evsignal_new(main_base, SIGHUP, on_sighup, NULL);
    struct event *term = evsignal_new(main_base, SIGTERM, on_sigterm, NULL);
    struct event *intr = evsignal_new(main_base, SIGINT, on_sigterm, NULL);
    event_add(hup, NULL); event_add(term, NULL); event_add(intr, NULL);
    /* policy deadline checks: 20 ms (50 wake-ups a second when idle) is a tenth
     * of the default policy_timeout */
    struct event *watchdog = event_new(main_base, -1, EV_PERSIST, on_watchdog, NULL);
    struct timeval wd_every = { 0, 20000 };
    event_add(watchdog, &wd_every);
    start_workers();
    log_event(LOG_INFO, "moongate %s listening on %s with %d workers (config %s)",
              MOONGATE_VERSION, G.st.listen, G.n_workers, config);
    event_base_dispatch(main_base);
    for (int i = 0; i < G.n_workers; i++) pthread_join(G.workers[i].thread, NULL);
    event_free(hup); event_free(term); event_free(intr); event_free(watchdog);
    if (drain_check) event_free(drain_check);
    event_base_free(main_base);
    for (int i = 0; i < G.n_workers; i++) pthread_mutex_destroy(&G.workers[i].mu);
    free(G.workers);
    log_event(LOG_INFO, "moongate stopped");
    return 0;
}
