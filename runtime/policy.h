/* policy.h - Lua policy VMs and the single C->Lua call site.
 *
 * A policy_vm_t is one LuaJIT state with the moongate host, config and policy
 * loaded. It is reference counted: the worker holds one reference on its
 * current VM, every request holds one on the VM it started with, so a reload
 * swaps the worker's VM while requests in flight finish on the old one. VMs
 * are only ever touched by one thread at a time (built on the main thread,
 * then handed to exactly one worker). */
#ifndef MOONGATE_POLICY_H
#define MOONGATE_POLICY_H

#include <stddef.h>
#include <lua.h>

typedef struct settings {
    char   listen[128];
    int    workers;
    char   log[512];
    size_t max_body, max_header_bytes, max_request_line;
    int    max_headers;
    double header_timeout, body_timeout, idle_timeout, drain_timeout;
    double retry_after_cap, policy_timeout;
    size_t sse_max_event;
    double upstream_idle_timeout;   /* seconds an idle upstream connection is kept */
    int    upstream_idle_max;       /* idle upstream connections kept per origin and worker */
    int    cpu_affinity;            /* worker_cpu_affinity = "auto": worker i runs on allowed CPU i mod n */
} settings_t;

typedef struct policy_vm {
    lua_State *L;
    int refs;
    int generation;
    int handle_ref;      /* registry ref of host.handle */
    int done_ref;        /* registry ref of host.done, LUA_NOREF when no on_done */
    int core_mt_ref;     /* metatable for request cores */
    int traceback_ref;   /* the pcall message handler, made once (a closure per call cost an allocation) */
    int translator_ref;  /* host.translator, LUA_NOREF when the host has none */
    int keys_ref;        /* array of the plan keys C reads (PK_*), interned once */
    double timeout;      /* policy_timeout, seconds */
    struct vm_mem *mem;  /* the VM's allocator state (policy.c) */
    size_t gc_mark;      /* Lua heap bytes after the last policy_vm_gc_pay */
    size_t gc_next;      /* heap bytes at which gc_pay starts the next cycle */
    int gc_cycle;        /* a collection cycle is under way (gc_pay steps it) */
} policy_vm_t;

/* The keys of the plan table (host.handle's result) that C reads. A lookup
 * by a C string (lua_getfield) hashes and interns the key on every call,
 * ~220 instructions; with the key already interned it is two table reads:
 * policy_push_keys once, then policy_get(L, keys, t, PK_...). */
enum {
    PK_KIND = 1, PK_ENDPOINT, PK_STATUS, PK_CONTENT_TYPE, PK_HEADERS, PK_BODY, PK_STREAM,
    PK_HIDE_USAGE, PK_DIALECT, PK_ATTEMPTS, PK_PROVIDER, PK_MODEL, PK_URL, PK_METHOD,
    PK_RETRIES, PK_BACKOFF_BASE, PK_BACKOFF_CAP, PK_CONNECT, PK_FIRST_BYTE, PK_IDLE,
    PK_TOTAL, PK_TRANSLATE, PK_COUNT
};
/* Pushes the keys array; returns its stack index. */
int policy_push_keys(policy_vm_t *vm);
/* Pushes t[key] (raw: plan tables have no metatable). */
static inline void policy_get(lua_State *L, int keys, int t, int key)
{
    lua_rawgeti(L, keys, key);
    lua_rawget(L, t < 0 ? t - 1 : t);
}

/* Builds a VM from a config file. On success fills *st (when not NULL) and
 * returns the VM with one reference. On failure returns NULL and writes a
 * message with file:line into err. */
policy_vm_t *policy_vm_new(const char *config_path, int generation, settings_t *st,
                           char *err, size_t errlen);
void policy_vm_retain(policy_vm_t *vm);
/* Idle housekeeping: a full GC, then the VM's freed blocks back to malloc
 * (so that malloc_trim can return their pages). */
void policy_vm_trim(policy_vm_t *vm);
void policy_vm_release(policy_vm_t *vm);   /* closes the state at zero */
/* The Lua GC work the finished request's allocations owe, done now (after
 * its reply went out) instead of in the middle of the next request: called
 * by stream.c once per finished request, on the VM's thread. */
void policy_vm_gc_pay(policy_vm_t *vm);

/* Calls fn (a registry ref) with the value on top of the stack as its only
 * argument, under the deadline hook and a traceback handler. On success
 * leaves one result on the stack and returns 0; on error pops everything it
 * pushed, writes the message into err and returns -1. */
int policy_call(policy_vm_t *vm, int fn_ref, char *err, size_t errlen);
/* (the argument is consumed either way) */

/* Calls the function below nargs arguments on the stack, under the deadline
 * and a traceback handler. 0: nresults results left on the stack; -1: all
 * of it popped and the message in err. */
int policy_pcall(policy_vm_t *vm, int nargs, int nresults, char *err, size_t errlen);

/* Deadline watchdog. policy_watchdog_init installs the SIGUSR2 handler
 * (once, before threads start); each worker thread calls policy_watch_thread
 * once; the main thread calls policy_watchdog_tick every few milliseconds. */
void policy_watchdog_init(void);
int  policy_watch_thread(void);
void policy_watchdog_tick(void);

/* Lua directory: MOONGATE_LUA_DIR, else <dir of the executable>/lua. */
const char *policy_lua_dir(void);

/* Pushes a new request core userdata (see docs/internals.md) for req, whose
 * id string must outlive it. Returns the handle to pass to
 * policy_core_invalidate when the request ends: from then on every access
 * from Lua raises "request finished". */
struct http_req;
void *policy_push_core(policy_vm_t *vm, const struct http_req *req, const char *id);
void  policy_core_invalidate(void *core);

#endif
