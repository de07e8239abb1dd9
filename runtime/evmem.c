/* evmem.c - libevent's allocator: malloc, except for its tiny blocks.
 *
 * libevent keeps, per event_base, a ~20-byte slot (evmap_io) for every fd
 * number the base has ever watched: allocated by the first event_add on that
 * number, freed only with the base. From malloc, each slot was carved next to
 * the buffers of the connection that first used its fd number, so after a
 * burst of N connections N live slots sat about one per page among the freed
 * buffers, and malloc_trim could give back none of those pages: after 4096
 * streams that was ~16 MB of RSS that stayed for good, though the arenas had
 * only ~0.3 MB in use each.
 *
 * So requests of at most TINY bytes come from a slab of their own, packed
 * 128 to a page. libevent asks for such blocks only for these slots (and for
 * the lines evbuffer_readln returns, which is why those go back through
 * evmem_free); per request it asks for none, so the slab's lock is cold.
 * The slab keeps its pages: slots live as long as the bases anyway.
 * ASan builds leave libevent on plain malloc, so everything stays checked. */
#include "evmem.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define EVMEM_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVMEM_SLAB 0
#endif
#endif
#ifndef EVMEM_SLAB
#define EVMEM_SLAB 1
#endif

#define TINY 32                          /* block size; libevent 2.1's slot takes 20 */
#define RESERVE ((size_t)64 << 20)       /* address space; a page counts once touched */

static char *slab, *slab_next;           /* bump pointer; then the free list */
static void *free_list;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int owned(const void *p)
{
    return slab && (const char *)p >= slab && (const char *)p < slab + RESERVE;
}

static void *ev_malloc(size_t n)
{
    if (n > TINY) return malloc(n);
    void *p = NULL;
    pthread_mutex_lock(&mu);
    if (free_list) {
        p = free_list;
        free_list = *(void **)p;
    } else if (slab_next < slab + RESERVE) {
        p = slab_next;
        slab_next += TINY;
    }
    pthread_mutex_unlock(&mu);
    return p ? p : malloc(n);            /* a full slab only loses the packing */
}

void evmem_free(void *p)
{
    if (!owned(p)) { free(p); return; }
    pthread_mutex_lock(&mu);
    *(void **)p = free_list;
    free_list = p;
    pthread_mutex_unlock(&mu);
}

static void *ev_realloc(void *p, size_t n)
{
    if (!p) return ev_malloc(n);
    if (!owned(p)) return realloc(p, n);
    if (n <= TINY) return p;
    void *q = malloc(n);
    if (!q) return NULL;
    memcpy(q, p, TINY);
    evmem_free(p);
    return q;
}

void evmem_init(void)
{
    if (!EVMEM_SLAB || slab) return;
    void *m = mmap(NULL, RESERVE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return;         /* libevent then simply stays on malloc */
    slab = slab_next = m;
    event_set_mem_functions(ev_malloc, ev_realloc, evmem_free);
}
