/* fuzz_json.c - libFuzzer target for lua/moongate/json.lua (the raw JSON
 * editor), with LuaJIT embedded.
 *
 * One lua_State serves every input (the input is data, never code, so nothing
 * carries over from one input to the next): it loads fuzz/fuzz_json.lua once,
 * which returns the per-input check function (the invariants are listed
 * there). Per input: call it under lua_pcall with Lua line coverage armed
 * (lua_fuzz.h); an error is an invariant broken, or json.lua raising where
 * it must return nil, err: print it and abort so libFuzzer keeps the input.
 * A full GC per input keeps memory flat (and the leak check cheap).
 */
#include "lua_fuzz.h"

static lua_State *L;
static int check_ref = LUA_NOREF;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    L = lf_new_state();
    if (!L) abort();
    lf_load_harness(L, "fuzz_json.lua");
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(L, (const char *)in, size);
    lf_arm(L, 0);
    int rc = lua_pcall(L, 1, 0, 0);
    lf_disarm(L);
    if (rc != 0) {
        fprintf(stderr, "fuzz_json: %s\n", lua_tostring(L, -1));
        abort();
    }
    /* A full cycle, not a step: then (almost) every malloc of the input is
     * freed within it, and libFuzzer does not run LeakSanitizer after each
     * input (it does whenever mallocs and frees differ). */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
