/* test_policy_gc.c - the VM's GC pacing (policy.c, "GC pacing"): Lua code
 * run between two policy_vm_gc_pay calls does no GC work (the heap only
 * grows), the pays keep the heap bounded over many requests' worth of
 * garbage, the collector's safety net still collects inside a call that
 * allocates more than the whole heap, and policy_vm_trim leaves the pacing
 * idle. A real VM: the stock host, a minimal config, no sockets. */
#include "t.h"
#include "policy.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static size_t heap(lua_State *L)
{
    return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

/* Runs `garbage(n)`: more than n KB of tables, all garbage when it returns
 * (like a request's). */
static void run_garbage(lua_State *L, int kb)
{
    lua_getglobal(L, "garbage");
    lua_pushinteger(L, kb);
    if (lua_pcall(L, 1, 0, 0) != 0) {
        fprintf(stderr, "garbage(): %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

int main(void)
{
    setenv("MOONGATE_LUA_DIR", "lua", 0);
    char cfg[] = "/tmp/moongate-gc-test-XXXXXX.lua";
    int fd = mkstemps(cfg, 4);
    T_CHECK(fd >= 0);
    if (fd < 0) return T_SUMMARY();
    const char *text = "return { listen = '127.0.0.1:1', providers = { p = { kind = 'openai', "
                       "base_url = 'http://127.0.0.1:1/v1', api_key = 'k', models = { 'm' } } } }\n";
    T_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);

    char err[512] = "";
    policy_vm_t *vm = policy_vm_new(cfg, 1, NULL, err, sizeof err);
    unlink(cfg);
    T_CHECK(vm != NULL);
    if (!vm) { fprintf(stderr, "policy_vm_new: %s\n", err); return T_SUMMARY(); }
    lua_State *L = vm->L;
    /* 8 tables of 4 fields per KB asked (>1 KB), kept in a list so the JIT
     * cannot sink them; all garbage on return */
    T_EQ_INT(luaL_dostring(L, "function garbage(kb) local keep = {} for i = 1, kb * 8 do "
                              "keep[i] = { a = i, b = i, c = i, d = i } end end "
                              "function churn(kb) for j = 1, kb do local keep = {} for i = 1, 8 do "
                              "keep[i] = { a = i, b = i, c = i, d = i } end last = keep end end"), 0);
    policy_vm_gc_pay(vm);

    /* 1. Between pays no GC step runs: a request's worth of garbage only adds. */
    size_t idle = heap(L);
    int grew_exactly = 1, cycles = 0;
    for (int r = 0; r < 2000; r++) {
        size_t before = heap(L);
        run_garbage(L, 2);
        if (heap(L) < before + 2048) grew_exactly = 0;   /* something was freed: a step ran */
        int was = vm->gc_cycle;
        policy_vm_gc_pay(vm);
        if (was && !vm->gc_cycle) cycles++;              /* the pays finished a cycle */
    }
    T_CHECK(grew_exactly);
    T_CHECK(cycles >= 2);

    /* 2. The pays collect: 2000 requests of >2 KB each (>4 MB in all) left a bounded heap. */
    size_t after = heap(L);
    T_CHECK(after < idle * 3 + (64 << 10));

    /* 3. The safety net: one call churning through ~20x the heap collects on its own. */
    size_t before = heap(L);
    lua_getglobal(L, "churn");
    lua_pushinteger(L, (lua_Integer)(before >> 10) * 20);
    T_EQ_INT(lua_pcall(L, 1, 0, 0), 0);
    T_CHECK(heap(L) < before + before * 10);
    policy_vm_gc_pay(vm);

    /* 4. Trim: a full collection, then no cycle pending, the next one at twice the heap. */
    policy_vm_trim(vm);
    T_EQ_INT(vm->gc_cycle, 0);
    T_CHECK(vm->gc_next >= heap(L) * 2 - 1024 && vm->gc_next <= heap(L) * 2 + 1024);
    T_CHECK(heap(L) <= after + (16 << 10));

    policy_vm_release(vm);
    return T_SUMMARY();
}
