/* fuzz_config.c - libFuzzer target for lua/moongate/config.lua: the input is
 * the text of a config file, loaded by the real entry point, config.load(path).
 *
 * The input is code, so each one gets a fresh lua_State (what one config
 * does to globals, metatables or package.loaded must not change how the next
 * one behaves: a crash must replay from its input alone). The file is a
 * memfd, read through /proc/self/fd/N: no disk, no temp file to clean up.
 *
 * Per input: new state (lua_fuzz.h: JIT off, capped malloc allocator),
 * fuzz/fuzz_config.lua (sandbox + invariants, see there), then
 *   load(path)        under a 1e6-instruction budget (`while true do end`
 *                     and friends end with "instruction budget exceeded");
 *   classify(ok, res) without a budget, unless the budget ran out;
 * an error from classify is an invariant broken: print it, abort.
 */
#include "lua_fuzz.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Enough for any real config (the example runs a few thousand); a config
 * that needs more is treated as runaway. */
#define CONFIG_BUDGET 1000000L

static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    g_fd = memfd_create("moongate-fuzz-config", MFD_CLOEXEC);
    if (g_fd < 0) { perror("memfd_create"); abort(); }
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    lf_mem_cap = (size_t)256 << 20;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (ftruncate(g_fd, 0) < 0 || (size && pwrite(g_fd, in, size, 0) != (ssize_t)size)) abort();

    lua_State *L = lf_new_state();
    if (!L) abort();
    lua_pushfstring(L, "%s/fuzz/fuzz_config.lua", lf_root());
    if (luaL_loadfile(L, lua_tostring(L, -1)) != 0) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); abort(); }
    lua_remove(L, -2);
    lua_pushstring(L, lf_root());
    if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
        fprintf(stderr, "fuzz_config: harness: %s\n", lua_tostring(L, -1));
        abort();
    }
    int h = lua_gettop(L);

    lua_getfield(L, h, "load");
    lua_pushstring(L, g_path);
    lf_arm(L, CONFIG_BUDGET);
    int rc = lua_pcall(L, 1, 1, 0);
    lf_disarm(L);
    if (!lf_over) {
        lua_getfield(L, h, "classify");
        lua_pushboolean(L, rc == 0);
        lua_pushvalue(L, -3);
        lf_arm(L, 0);
        int rc2 = lua_pcall(L, 2, 0, 0);
        lf_disarm(L);
        if (rc2 != 0) {
            fprintf(stderr, "fuzz_config: %s\n", lua_tostring(L, -1));
            abort();
        }
    }
    lua_close(L);
    return 0;
}
