/* policy.c - LuaJIT VMs for config and policy, the request "core" userdata,
 * and the one protected call site with a deadline.
 *
 * Owns: each lua_State, the registry refs it keeps (host.handle, host.done,
 * the core metatable). The Lua side (lua/moongate/host.lua) owns meaning;
 * this file only moves values across and keeps Lua from hanging a worker.
 *
 * Deadline: Debian's LuaJIT has no check hook inside compiled traces, so the
 * host runs the policy chunk with jit.off(chunk, true), and a count hook is
 * installed on a call only once it overran (see "deadline" below). */
#include "policy.h"
#include "peek.h"
#include "http.h"
#include "log.h"

#include <lauxlib.h>
#include <lualib.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Instructions between deadline checks once the hook is installed: ~10 us
 * of interpreted Lua, so the overshoot is negligible. */
#define POLICY_HOOK_COUNT 1000
#define POLICY_WATCH_MAX 256       /* worker threads that can be watched */

/* What a thread is running right now. The deadline is read by the watchdog
 * on the main thread, so it is atomic; everything else is thread-local. */
typedef struct policy_watch {
    _Atomic double deadline;       /* 0 when no policy call runs */
    lua_State *_Atomic L;
    pthread_t thread;
} policy_watch_t;

static policy_watch_t watches[POLICY_WATCH_MAX];
static _Atomic int n_watches;
static __thread policy_watch_t *my_watch;
static __thread policy_watch_t local_watch;   /* threads that are not watched (main, -t) */
static __thread double cur_timeout;
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *policy_lua_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0]) return dir;
    const char *env = getenv("MOONGATE_LUA_DIR");
    if (env && *env) { snprintf(dir, sizeof dir, "%s", env); return dir; }
    char exe[PATH_MAX - 64];   /* leaves room for the suffixes below */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { snprintf(dir, sizeof dir, "lua"); return dir; }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    /* ./moongate sits at the repository root; build/{rel,san}/moongate two below it */
    const char *ups[] = { "", "/../..", "/.." };
    for (size_t i = 0; i < sizeof ups / sizeof *ups; i++) {
        snprintf(dir, sizeof dir, "%s%s/lua/moongate/host.lua", exe, ups[i]);
        if (access(dir, R_OK) == 0) { snprintf(dir, sizeof dir, "%s%s/lua", exe, ups[i]); return dir; }
    }
    snprintf(dir, sizeof dir, "lua");
    return dir;
}

/* ---- deadline ----
 * The fast path installs no hook at all: a hook makes LuaJIT leave compiled
 * traces, which would slow every request's trusted library code. Instead a
 * worker publishes the deadline of its running call; the main thread's
 * watchdog (policy_watchdog_tick, every few ms) sends SIGUSR2 to a worker
 * whose call overran, and the signal handler installs the count hook on the
 * running state (lua_sethook is async-signal-safe: the stock lua.c does the
 * same for Ctrl-C). The policy's own chunk runs interpreted (jit.off), so the
 * hook fires inside its loops. Once past the deadline the hook raises on
 * every firing, so a policy that pcall()s the error is still stopped at its
 * next instructions outside that pcall. */

static policy_watch_t *watch_self(void)
{
    return my_watch ? my_watch : &local_watch;
}

/* Called by LuaJIT every POLICY_HOOK_COUNT instructions once installed. */
static void policy_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    double d = atomic_load(&watch_self()->deadline);
    if (d > 0 && mono_now() > d)
        luaL_error(L, "policy deadline exceeded (%.0f ms)", cur_timeout * 1000);
}

/* SIGUSR2 handler, on the overrunning worker's own thread. */
static void on_overrun_signal(int sig)
{
    (void)sig;
    policy_watch_t *w = watch_self();
    lua_State *L = atomic_load(&w->L);
    if (L && atomic_load(&w->deadline) > 0)
        lua_sethook(L, policy_hook, LUA_MASKCOUNT, POLICY_HOOK_COUNT);
}

int policy_watch_thread(void)
{
    int i = atomic_fetch_add(&n_watches, 1);
    if (i >= POLICY_WATCH_MAX) return -1;
    watches[i].thread = pthread_self();
    my_watch = &watches[i];
    return 0;
}

void policy_watchdog_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_overrun_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
}

void policy_watchdog_tick(void)
{
    double now = mono_now();
    int n = atomic_load(&n_watches);
    if (n > POLICY_WATCH_MAX) n = POLICY_WATCH_MAX;
    for (int i = 0; i < n; i++) {
        double d = atomic_load(&watches[i].deadline);
        if (d > 0 && now > d) pthread_kill(watches[i].thread, SIGUSR2);
    }
}

/* Arms the deadline for a call on L; hook_now installs the hook up front
 * (used where no watchdog runs: start-up, reload builds, -t). */
static void deadline_arm(lua_State *L, double timeout, int hook_now)
{
    policy_watch_t *w = watch_self();
    cur_timeout = timeout;
    atomic_store(&w->L, L);
    atomic_store(&w->deadline, mono_now() + timeout);
    if (hook_now || !my_watch) lua_sethook(L, policy_hook, LUA_MASKCOUNT, POLICY_HOOK_COUNT);
}

static void deadline_disarm(lua_State *L)
{
    policy_watch_t *w = watch_self();
    atomic_store(&w->deadline, 0);
    atomic_store(&w->L, NULL);
    if (lua_gethook(L)) lua_sethook(L, NULL, 0, 0);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = "(error object is not a string)";
    /* keep the message (file:line first) and the top of the stack trace */
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int policy_call(policy_vm_t *vm, int fn_ref, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - 1;           /* index below the argument */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->traceback_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
    lua_pushvalue(L, -3);                   /* the argument */
    deadline_arm(L, vm->timeout, 0);
    int rc = lua_pcall(L, 1, 1, base + 2);
    deadline_disarm(L);
    if (rc != 0) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", m ? m : "unknown Lua error");
        lua_settop(L, base);
        return -1;
    }
    /* stack: base.. arg, traceback, result -> keep only result */
    lua_replace(L, base + 1);               /* result replaces arg */
    lua_settop(L, base + 1);
    return 0;
}

int policy_pcall(policy_vm_t *vm, int nargs, int nresults, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int fn = lua_gettop(L) - nargs;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->traceback_ref);
    lua_insert(L, fn);
    deadline_arm(L, vm->timeout, 0);
    int rc = lua_pcall(L, nargs, nresults, fn);
    deadline_disarm(L);
    if (rc != 0) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", m ? m : "unknown Lua error");
        lua_settop(L, fn - 1);
        return -1;
    }
    lua_remove(L, fn);
    return 0;
}

/* ---- settings ---- */

static double field_num(lua_State *L, int t, const char *k, double dflt)
{
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

static void field_str(lua_State *L, int t, const char *k, char *out, size_t cap, const char *dflt)
{
    lua_getfield(L, t, k);
    const char *v = lua_isstring(L, -1) ? lua_tostring(L, -1) : dflt;
    snprintf(out, cap, "%s", v ? v : "");
    lua_pop(L, 1);
}

static void read_settings(lua_State *L, int t, settings_t *st)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    field_str(L, t, "listen", st->listen, sizeof st->listen, "127.0.0.1:8080");
    st->workers = (int)field_num(L, t, "workers", cores > 0 ? (double)cores : 1);
    if (st->workers < 1) st->workers = 1;
    if (st->workers > 256) st->workers = 256;
    field_str(L, t, "log", st->log, sizeof st->log, "stderr");
    /* Defaults: 8 MiB bodies hold the largest chat requests with images
     * inlined as base64 in practice; 32 KiB of headers and 8 KiB request
     * lines match common proxies (nginx large_client_header_buffers). */
    st->max_body = (size_t)field_num(L, t, "max_body", 8 << 20);
    st->max_header_bytes = (size_t)field_num(L, t, "max_header_bytes", 32 << 10);
    st->max_request_line = (size_t)field_num(L, t, "max_request_line", 8 << 10);
    st->max_headers = (int)field_num(L, t, "max_headers", 100);
    st->header_timeout = field_num(L, t, "header_timeout", 10);
    st->body_timeout = field_num(L, t, "body_timeout", 30);
    st->idle_timeout = field_num(L, t, "idle_timeout", 75);
    st->drain_timeout = field_num(L, t, "drain_timeout", 30);
    st->retry_after_cap = field_num(L, t, "retry_after_cap", 30);
    st->policy_timeout = field_num(L, t, "policy_timeout", 0.2);
    st->sse_max_event = (size_t)field_num(L, t, "sse_max_event", 1 << 20);
    st->upstream_idle_timeout = field_num(L, t, "upstream_idle_timeout", 50);
    /* 64 idle connections per origin and worker cover the steady state of a
     * busy provider; bursts open more and close the extras when idle. */
    st->upstream_idle_max = (int)field_num(L, t, "upstream_idle_max", 64);
    char aff[16];
    field_str(L, t, "worker_cpu_affinity", aff, sizeof aff, "off");
    st->cpu_affinity = strcmp(aff, "auto") == 0;   /* config.lua accepted only "auto" or "off" */
}

/* ---- the request core userdata ---- */

typedef struct core_ud {
    const http_req_t *req;       /* NULL once the request finished */
    const char *id;              /* owned by the stream, valid while req is */
} core_ud_t;

static core_ud_t *core_check(lua_State *L)
{
    core_ud_t *c = lua_touserdata(L, 1);
    if (!c) luaL_error(L, "bad request object");
    if (!c->req) luaL_error(L, "request finished");
    return c;
}

static int core_header(lua_State *L)
{
    core_ud_t *c = core_check(L);
    const char *v = http_req_header(c->req, luaL_checkstring(L, 2));
    if (v) lua_pushstring(L, v); else lua_pushnil(L);
    return 1;
}

static int core_headers(lua_State *L)
{
    core_ud_t *c = core_check(L);
    lua_createtable(L, c->req->n_headers, 0);
    for (int i = 0; i < c->req->n_headers; i++) {
        lua_createtable(L, 2, 0);
        lua_pushstring(L, c->req->headers[i].name);  lua_rawseti(L, -2, 1);
        lua_pushstring(L, c->req->headers[i].value); lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int core_body(lua_State *L)
{
    core_ud_t *c = core_check(L);
    lua_pushlstring(L, c->req->body ? c->req->body : "", c->req->body_len);
    return 1;
}

/* core:peek() -> flags, model | nil, error: the routing fields of the body
 * (peek.h), read without decoding it; moongate.request caches the result. */
static int core_peek(lua_State *L)
{
    core_ud_t *c = core_check(L);
    if (!c->req->body || c->req->body_len == 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "empty body");
        return 2;
    }
    peek_t p;
    if (peek_body(c->req->body, c->req->body_len, &p) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s at byte %d", p.err, (int)p.err_at);
        return 2;
    }
    lua_pushinteger(L, p.flags);
    if (!(p.flags & PEEK_MODEL_STR)) return 1;
    if (!p.model_escaped) {
        lua_pushlstring(L, p.model, p.model_len);
    } else {
        char small[256];   /* longer ones decode into a scratch userdata the GC owns */
        char *buf = p.model_len <= sizeof small ? small : lua_newuserdata(L, p.model_len);
        size_t n = peek_unescape(p.model, p.model_len, buf);
        lua_pushlstring(L, buf, n);
        if (buf != small) lua_remove(L, -2);
    }
    return 2;
}

/* __index(core, key): fields are computed, methods come from upvalue 1 */
static int core_index(lua_State *L)
{
    const char *k = luaL_checkstring(L, 2);
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1)) return 1;
    core_ud_t *c = core_check(L);
    const char *v = NULL;
    if (strcmp(k, "id") == 0) v = c->id;
    else if (strcmp(k, "method") == 0) v = c->req->method;
    else if (strcmp(k, "path") == 0) v = c->req->path;
    else if (strcmp(k, "query") == 0) v = c->req->query;
    else if (strcmp(k, "client") == 0) v = c->req->client_addr;
    if (v) lua_pushstring(L, v); else lua_pushnil(L);
    return 1;
}

static void core_metatable(lua_State *L)
{
    lua_newtable(L);                    /* metatable */
    lua_newtable(L);                    /* methods */
    lua_pushcfunction(L, core_header);  lua_setfield(L, -2, "header");
    lua_pushcfunction(L, core_headers); lua_setfield(L, -2, "headers");
    lua_pushcfunction(L, core_body);    lua_setfield(L, -2, "body");
    lua_pushcfunction(L, core_peek);    lua_setfield(L, -2, "peek");
    lua_pushcclosure(L, core_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "moongate.core");
    lua_setfield(L, -2, "__metatable");
}

void *policy_push_core(policy_vm_t *vm, const http_req_t *req, const char *id)
{
    lua_State *L = vm->L;
    core_ud_t *c = lua_newuserdata(L, sizeof *c);
    c->req = req;
    c->id = id;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->core_mt_ref);
    lua_setmetatable(L, -2);
    return c;
}

void policy_core_invalidate(void *core)
{
    if (core) ((core_ud_t *)core)->req = NULL;
}

/* ---- VM life ---- */

static void gc_cycle_done(policy_vm_t *vm);   /* GC pacing, below */

/* The VMs allocate from malloc, not from LuaJIT's own lj_alloc: lj_alloc
 * keeps the mmap'd segments a burst's garbage grew (it unmaps only a segment
 * that is entirely free and trims its top only beyond 2 MB), which left ~4 MB
 * resident after 4096 streams for good. From malloc, the garbage becomes free
 * pages that the worker's idle trim returns (policy_vm_trim, malloc_trim).
 * (lua_newstate with an allocator needs a GC64 LuaJIT, the x86-64 default.)
 *
 * Plain malloc/free per Lua object cost ~9% more instructions per request
 * than lj_alloc (glibc's tcache holds 7 blocks per size, so the GC's batches
 * of frees fell through to _int_free/_int_malloc). So small blocks go
 * through a per-VM cache first: LuaJIT passes the size of every block it
 * frees, so blocks up to VM_SMALL bytes are malloc'd at their 16-byte class
 * size and a freed one waits, headerless, on its class's list for the next
 * allocation of that class. The cache holds at most VM_CACHE_MAX bytes and
 * policy_vm_trim empties it. A VM runs on one thread at a time: no lock. */
#define VM_SMALL 512
#define VM_CLASSES (VM_SMALL / 16)
#if defined(__SANITIZE_ADDRESS__)
#define VM_CACHE_MAX 0                    /* ASan: every free reaches free() */
#else
#define VM_CACHE_MAX ((size_t)512 << 10)
#endif

struct vm_mem {
    void *head[VM_CLASSES + 1];   /* by (size + 15) / 16; 0 unused */
    size_t cached;                /* bytes on the lists */
};

static void vm_mem_flush(struct vm_mem *m)
{
    for (int k = 1; k <= VM_CLASSES; k++) {
        while (m->head[k]) {
            void *p = m->head[k];
            m->head[k] = *(void **)p;
            free(p);
        }
    }
    m->cached = 0;
}

static void *vm_small_get(struct vm_mem *m, size_t n)
{
    size_t k = (n + 15) >> 4;
    void *p = m->head[k];
    if (!p) return malloc(k << 4);
    m->head[k] = *(void **)p;
    m->cached -= k << 4;
    return p;
}

static void vm_small_put(struct vm_mem *m, void *p, size_t n)
{
    size_t k = (n + 15) >> 4;
    if (m->cached + (k << 4) > VM_CACHE_MAX) { free(p); return; }
    *(void **)p = m->head[k];
    m->head[k] = p;
    m->cached += k << 4;
}

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct vm_mem *m = ud;
    if (!ptr) {                                   /* osize is no size here */
        if (nsize == 0) return NULL;
        return nsize <= VM_SMALL ? vm_small_get(m, nsize) : malloc(nsize);
    }
    if (nsize == 0) {
        if (osize <= VM_SMALL) vm_small_put(m, ptr, osize); else free(ptr);
        return NULL;
    }
    if (osize > VM_SMALL && nsize > VM_SMALL) return realloc(ptr, nsize);
    if (osize <= VM_SMALL && nsize <= VM_SMALL && (osize + 15) >> 4 == (nsize + 15) >> 4) return ptr;
    void *q = nsize <= VM_SMALL ? vm_small_get(m, nsize) : malloc(nsize);
    if (!q) return NULL;                          /* LuaJIT keeps ptr */
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (osize <= VM_SMALL) vm_small_put(m, ptr, osize); else free(ptr);
    return q;
}

static int vm_panic(lua_State *L)
{
    const char *s = lua_tostring(L, -1);
    fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", s ? s : "?");
    fflush(stderr);
    return 0;
}

policy_vm_t *policy_vm_new(const char *config_path, int generation, settings_t *st,
                           char *err, size_t errlen)
{
    policy_vm_t *vm = calloc(1, sizeof *vm);
    struct vm_mem *mem = calloc(1, sizeof *mem);
    lua_State *L = vm && mem ? lua_newstate(vm_alloc, mem) : NULL;
    if (!L) { free(vm); free(mem); snprintf(err, errlen, "cannot create a Lua state"); return NULL; }
    lua_atpanic(L, vm_panic);
    vm->mem = mem;
    vm->L = L;
    vm->refs = 1;
    vm->generation = generation;
    vm->done_ref = LUA_NOREF;
    vm->translator_ref = LUA_NOREF;
    vm->timeout = 0.2;
    luaL_openlibs(L);

    /* package.path = <lua_dir>/?.lua;<lua_dir>/?/init.lua */
    const char *dir = policy_lua_dir();
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    core_metatable(L);
    vm->core_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushcfunction(L, traceback);
    vm->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_pushcfunction(L, traceback);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongate.host");
    if (lua_pcall(L, 1, 1, -3) != 0) goto fail;
    int host = lua_gettop(L);
    lua_getfield(L, host, "load");
    lua_pushstring(L, config_path);
    /* config loading runs user code too: give it a generous deadline */
    deadline_arm(L, 5, 1);
    int rc = lua_pcall(L, 1, 1, host - 1);
    deadline_disarm(L);
    if (rc != 0) goto fail;
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: host.load returned no settings", config_path);
        goto fail_msg;
    }
    settings_t tmp;
    read_settings(L, lua_gettop(L), st ? st : &tmp);
    vm->timeout = (st ? st : &tmp)->policy_timeout;
    lua_getfield(L, -1, "has_on_done");
    int has_done = lua_toboolean(L, -1);
    lua_pop(L, 2);                       /* has_on_done, settings */

    lua_getfield(L, host, "handle");
    if (!lua_isfunction(L, -1)) { snprintf(err, errlen, "moongate.host has no handle()"); goto fail_msg; }
    vm->handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    static const char *const keys[PK_COUNT] = {
        [PK_KIND] = "kind", [PK_ENDPOINT] = "endpoint", [PK_STATUS] = "status",
        [PK_CONTENT_TYPE] = "content_type", [PK_HEADERS] = "headers", [PK_BODY] = "body",
        [PK_STREAM] = "stream", [PK_HIDE_USAGE] = "hide_usage", [PK_DIALECT] = "dialect",
        [PK_ATTEMPTS] = "attempts", [PK_PROVIDER] = "provider", [PK_MODEL] = "model",
        [PK_URL] = "url", [PK_METHOD] = "method", [PK_RETRIES] = "retries",
        [PK_BACKOFF_BASE] = "backoff_base", [PK_BACKOFF_CAP] = "backoff_cap",
        [PK_CONNECT] = "connect", [PK_FIRST_BYTE] = "first_byte", [PK_IDLE] = "idle",
        [PK_TOTAL] = "total", [PK_TRANSLATE] = "translate",
    };
    lua_createtable(L, PK_COUNT - 1, 0);
    for (int k = 1; k < PK_COUNT; k++) {
        lua_pushstring(L, keys[k]);
        lua_rawseti(L, -2, k);
    }
    vm->keys_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, host, "translator");
    vm->translator_ref = lua_isfunction(L, -1) ? luaL_ref(L, LUA_REGISTRYINDEX) : (lua_pop(L, 1), LUA_NOREF);
    if (has_done) {
        lua_getfield(L, host, "done");
        if (lua_isfunction(L, -1)) vm->done_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        else lua_pop(L, 1);
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);         /* the load's garbage; then gc_pay paces (see GC pacing) */
    gc_cycle_done(vm);
    lua_gc(L, LUA_GCRESTART, -1);
    return vm;

fail: {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", m ? m : "unknown error");
    }
fail_msg:
    lua_close(L);
    vm_mem_flush(mem);
    free(mem);
    free(vm);
    return NULL;
}

int policy_push_keys(policy_vm_t *vm)
{
    lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->keys_ref);
    return lua_gettop(vm->L);
}

void policy_vm_retain(policy_vm_t *vm) { vm->refs++; }

void policy_vm_release(policy_vm_t *vm)
{
    if (!vm || --vm->refs > 0) return;
    lua_close(vm->L);
    vm_mem_flush(vm->mem);
    free(vm->mem);
    free(vm);
}

/* ---- GC pacing ----
 * LuaJIT collects incrementally: once the heap passes a threshold, every
 * further KB allocated runs a GC step right there, inside whatever Lua code
 * allocated it. For a gateway that is the next request's policy call: the
 * first allocation of a request (its core) paid a step of marking or sweeping
 * over memory the mock, the client and the kernel had pushed out of the cache,
 * ~1 us at concurrency 1, and the policy call ~2 us more (measured with the
 * bench request: push_core 1.3 -> 0.1 us, host.handle 5.1 -> 2.6 us).
 * So the VM's threshold is kept out of reach (LUA_GCRESTART with -1 puts it
 * at heap x pause, the collector's own safety net for a request that
 * allocates more than the whole heap), and policy_vm_gc_pay does the same
 * pacing LuaJIT would have done, one step per KB allocated since the last
 * pay, once the reply is out:
 *   - idle (no cycle): nothing until the heap reaches gc_next, twice the heap
 *     after the last cycle (LuaJIT's default pause of 200);
 *   - in a cycle: max(1, KB allocated since the last pay) steps, up to 64,
 *     until LUA_GCSTEP reports the cycle done.
 * Same total GC work as LuaJIT's own pacing; only where it runs moved. */
#define GC_PAY_MAX_STEPS 64

static size_t vm_heap_bytes(lua_State *L)
{
    return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

static void gc_cycle_done(policy_vm_t *vm)
{
    vm->gc_cycle = 0;
    vm->gc_mark = vm_heap_bytes(vm->L);
    vm->gc_next = vm->gc_mark * 2;
}

void policy_vm_gc_pay(policy_vm_t *vm)
{
    lua_State *L = vm->L;
    size_t now = vm_heap_bytes(L);
    if (!vm->gc_cycle && now >= vm->gc_next) vm->gc_cycle = 1;
    if (vm->gc_cycle) {
        size_t owed = now > vm->gc_mark ? (now - vm->gc_mark) >> 10 : 0;
        int steps = owed < 1 ? 1 : owed > GC_PAY_MAX_STEPS ? GC_PAY_MAX_STEPS : (int)owed;
        for (int i = 0; i < steps; i++) {
            if (lua_gc(L, LUA_GCSTEP, 0)) { gc_cycle_done(vm); break; }
        }
        if (vm->gc_cycle) vm->gc_mark = vm_heap_bytes(L);
    } else {
        vm->gc_mark = now;
    }
    lua_gc(L, LUA_GCRESTART, -1);
}

void policy_vm_trim(policy_vm_t *vm)
{
    lua_gc(vm->L, LUA_GCCOLLECT, 0);
    gc_cycle_done(vm);
    lua_gc(vm->L, LUA_GCRESTART, -1);
    vm_mem_flush(vm->mem);
}
