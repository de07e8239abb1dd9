/* lua_fuzz.h - what the Lua fuzz targets share (header-only, one includer
 * per binary).
 *
 * - Coverage of Lua code for libFuzzer: LuaJIT's bytecode is invisible to
 *   SanitizerCoverage, so a line hook turns (previous line, this line) edges
 *   into libFuzzer "extra counters" (a section libFuzzer reads like its own
 *   8-bit counters). Without it every input looks the same to the fuzzer.
 *   The JIT is switched off so the hook sees every line.
 * - An instruction budget (count hook) for code from the input: once over,
 *   the hook raises on every instruction, so no pcall inside the runaway code
 *   can swallow it for good (each return from a pcall lands on an instruction
 *   of the caller, which raises again).
 * - A malloc-based allocator with a cap: LuaJIT's own allocator maps memory
 *   LeakSanitizer does not scan (pointers held only by Lua objects then look
 *   leaked), and the cap turns a runaway allocation into a Lua
 *   "not enough memory" error instead of an RSS-limit crash.
 */
#ifndef MOONGATE_LUA_FUZZ_H
#define MOONGATE_LUA_FUZZ_H

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_ROOT
#define FUZZ_ROOT "."
#endif

/* 64 Ki edges: far more than the lines of lua/ (a few thousand). */
#define LF_EDGES (1u << 16)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t lf_counters[LF_EDGES];

static uint32_t lf_prev;          /* previous location, AFL-style edges */
static long lf_budget;            /* instructions left, in hook periods */
static int lf_over;               /* the budget ran out this call */
static size_t lf_mem, lf_mem_cap = (size_t)512 << 20;

#define LF_COUNT_PERIOD 1000      /* instructions between budget checks */

static const char *lf_root(void)
{
    const char *r = getenv("MOONGATE_ROOT");
    return r && *r ? r : FUZZ_ROOT;
}

static void *lf_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(p);
        lf_mem -= p ? osize : 0;
        return NULL;
    }
    size_t old = p ? osize : 0;
    if (nsize > old && lf_mem - old + nsize > lf_mem_cap) return NULL;
    void *np = realloc(p, nsize);
    if (np) lf_mem = lf_mem - old + nsize;
    return np;
}

/* Hash of a chunk name by content: addresses differ from state to state.
 * Consecutive lines mostly come from one chunk, so the last one is cached
 * (the cache is dropped by lf_arm, before a new state can reuse an address). */
static const char *lf_last_src;
static uint32_t lf_last_hash;

static uint32_t lf_src_hash(const char *s)
{
    if (s == lf_last_src) return lf_last_hash;
    uint32_t h = 2166136261u;
    for (const char *p = s; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    lf_last_src = s;
    return lf_last_hash = h;
}

static void lf_hook(lua_State *L, lua_Debug *ar)
{
    if (ar->event == LUA_HOOKLINE) {
        if (lua_getinfo(L, "S", ar) && ar->source) {
            uint32_t h = lf_src_hash(ar->source) ^ (uint32_t)ar->currentline * 2654435761u;
            h ^= h >> 15;
            lf_counters[(h ^ lf_prev) % LF_EDGES]++;
            lf_prev = h >> 1;
        }
        return;
    }
    if (ar->event == LUA_HOOKCOUNT && lf_budget >= 0 && --lf_budget < 0) {
        lf_over = 1;
        /* From now on: raise on every instruction (see the header). */
        lua_sethook(L, lf_hook, LUA_MASKCOUNT, 1);
        lf_budget = -1;
    }
    if (lf_over) luaL_error(L, "fuzz: instruction budget exceeded");
}

/* Arms coverage (and, when instructions > 0, the budget) for the next call. */
static void lf_arm(lua_State *L, long instructions)
{
    lf_prev = 0;
    lf_over = 0;
    lf_last_src = NULL;
    lf_budget = instructions > 0 ? instructions / LF_COUNT_PERIOD : -1;
    lua_sethook(L, lf_hook, LUA_MASKLINE | (instructions > 0 ? LUA_MASKCOUNT : 0), LF_COUNT_PERIOD);
}

static void lf_disarm(lua_State *L)
{
    lua_sethook(L, NULL, 0, 0);
}

/* A state with the standard libraries, the JIT off, package.path on lua/. */
static lua_State *lf_new_state(void)
{
    lua_State *L = lua_newstate(lf_alloc, NULL);
    if (!L) return NULL;
    luaL_openlibs(L);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua", lf_root(), lf_root());
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    return L;
}

/* Loads fuzz/<name> and leaves what it returns (a function) on the stack. */
__attribute__((unused)) static void lf_load_harness(lua_State *L, const char *name)
{
    lua_pushfstring(L, "%s/fuzz/%s", lf_root(), name);
    const char *path = lua_tostring(L, -1);
    if (luaL_loadfile(L, path) != 0 || lua_pcall(L, 0, 1, 0) != 0 || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: cannot load %s: %s\n", path, lua_tostring(L, -1));
        abort();
    }
    lua_remove(L, -2);
}

#endif
