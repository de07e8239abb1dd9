/* worker.c - small per-worker helpers shared by main.c and stream.c. */
#include "worker.h"

double worker_rand(worker_t *w)
{
    /* xorshift64*: jitter needs speed and spread, not cryptographic quality */
    uint64_t x = w->rng;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    w->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* A draining worker leaves its loop once no stream is alive and every
 * connection has flushed its last reply and closed (http.c closes them after
 * their reply when stopping). Called from stream_finish and a drain timer. */
void worker_maybe_exit(worker_t *w)
{
    if (w->draining && w->active == 0 && http_server_connections(w->http) == 0)
        event_base_loopexit(w->base, NULL);
}
