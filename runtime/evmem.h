/* evmem.h - where libevent's allocations go (see evmem.c). */
#ifndef MOONGATE_EVMEM_H
#define MOONGATE_EVMEM_H

/* Installs the allocator; call once, before anything allocates with libevent. */
void evmem_init(void);

/* Frees memory that libevent allocated and handed over to the caller
 * (evbuffer_readln's line): with evmem_init done it may not come from malloc,
 * so plain free() would be wrong. */
void evmem_free(void *p);

#endif
