/* fuzz_translate.c - libFuzzer target for lua/moongate/translate/ (the
 * translator objects C drives, docs/internals.md section 6), with LuaJIT
 * embedded.
 *
 * The input picks a (client, upstream) dialect pair and carries a request
 * body, a response body and a sequence of upstream SSE events; the layout and
 * the invariants are in fuzz/fuzz_translate.lua, which returns the per-input
 * check function. As in fuzz_json.c, one lua_State serves every input (the
 * input is data, never code, and every translator is created per input).
 *
 * Per input: call the check under lua_pcall with Lua line coverage and an
 * instruction budget armed (lua_fuzz.h). An error is an invariant broken, a
 * translator raising where it must return a string (or nil, err), or the
 * budget running out (the translators are meant to be linear in their input:
 * a few million instructions cover the largest real stream): print it and
 * abort so libFuzzer keeps the input. A full GC per input keeps memory flat.
 */
#include "lua_fuzz.h"

/* The seeds take at most ~1e5 instructions; 500x that is a runaway. */
#define TRANSLATE_BUDGET 50000000L

static lua_State *L;
static int check_ref = LUA_NOREF;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    L = lf_new_state();
    if (!L) abort();
    lf_load_harness(L, "fuzz_translate.lua");
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* Fixed ids: default_mint() draws from math.random, so an input replays
     * the same wherever it runs. */
    luaL_dostring(L, "math.randomseed(1)");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(L, (const char *)in, size);
    lf_arm(L, TRANSLATE_BUDGET);
    int rc = lua_pcall(L, 1, 0, 0);
    lf_disarm(L);
    if (rc != 0) {
        fprintf(stderr, "fuzz_translate: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
