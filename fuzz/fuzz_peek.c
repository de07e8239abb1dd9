/* fuzz_peek.c - libFuzzer target for runtime/peek.c, differential against
 * the decoder policies get (Debian's cjson, configured as moongate.json
 * does): for every input both must agree that it is valid JSON, and when it
 * is an object, on what routing reads from it: the model (peek_unescape of
 * the raw string = the decoded string), whether it is present at all,
 * stream == true, stream_options.include_usage == true, and non-empty
 * messages / contents arrays. Invalid inputs must report an offset inside
 * the input. (cjson's depth limit is 1000, as PEEK_MAX_DEPTH.)
 */
#include "peek.h"

#include <lauxlib.h>
#include <luajit.h>
#include <lua.h>
#include <lualib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_peek: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static lua_State *L;

/* malloc-based: LuaJIT's own allocator maps memory LeakSanitizer does not
 * scan, so what only Lua objects point to would look leaked */
static void *l_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    (void)ud; (void)osize;
    if (nsize == 0) { free(p); return NULL; }
    return realloc(p, nsize);
}

/* check(s) -> nil (invalid) | flags, model: the same fields from the decode. */
static const char *CHECK =
    "local c = require('cjson').new(); c.decode_invalid_numbers(false)\n"
    "return function(s)\n"
    "  local ok, j = pcall(c.decode, s)\n"
    "  if not ok then return nil end\n"
    "  if type(j) ~= 'table' or not s:find('^[ \\t\\r\\n]*{') then return 0 end\n"
    "  local f, m = 1, j.model\n"
    "  if m ~= nil then f = f + 32; if type(m) == 'string' then f = f + 64 else m = nil end end\n"
    "  if j.stream == true then f = f + 2 end\n"
    "  local so = j.stream_options\n"
    "  if type(so) == 'table' and so.include_usage == true then f = f + 4 end\n"
    "  local v = j.messages\n"
    "  if type(v) == 'table' and v[1] ~= nil then f = f + 8 end\n"
    "  v = j.contents\n"
    "  if type(v) == 'table' and v[1] ~= nil then f = f + 16 end\n"
    "  return f, m\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) {
        L = lua_newstate(l_alloc, NULL);
        if (!L) FAIL("lua_newstate");
        luaL_openlibs(L);
        /* as the other Lua targets: no JIT, a full GC per input (the leak check sees only live memory) */
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
        if (luaL_loadstring(L, CHECK) || lua_pcall(L, 0, 1, 0)) FAIL("setup: %s", lua_tostring(L, -1));
        lua_setglobal(L, "check");
    }
    /* cjson reads up to a NUL: inputs holding one are only checked for safety */
    int has_nul = memchr(data, 0, size) != NULL;
    peek_t p;
    int rc = peek_body((const char *)data, size, &p);
    if (rc != 0) {
        if (!p.err || p.err_at > size) FAIL("invalid without a reason or offset (%zu of %zu)", p.err_at, size);
        if (p.flags) FAIL("flags set on invalid input");
    } else if ((p.flags & PEEK_MODEL_STR) &&
               (p.model < (const char *)data || p.model + p.model_len > (const char *)data + size)) {
        FAIL("model outside the input");
    }
    if (has_nul) return 0;

    lua_getglobal(L, "check");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 2, 0) != 0) FAIL("check: %s", lua_tostring(L, -1));
    int valid = !lua_isnil(L, -2);
    if (valid != (rc == 0)) FAIL("validity: cjson %d, peek %d (%s at %zu)", valid, rc == 0, p.err ? p.err : "", p.err_at);
    if (valid) {
        int f = (int)lua_tointeger(L, -2);
        if (f != p.flags) FAIL("flags: cjson %d, peek %d", f, p.flags);
        if (p.flags & PEEK_MODEL_STR) {
            size_t n;
            const char *m = lua_tolstring(L, -1, &n);
            char *buf = malloc(p.model_len + 1);
            if (!buf) FAIL("out of memory");
            size_t k = p.model_escaped ? peek_unescape(p.model, p.model_len, buf) : p.model_len;
            if (!p.model_escaped) memcpy(buf, p.model, k);
            int same = m && n == k && memcmp(m, buf, k) == 0;
            free(buf);
            if (!same) FAIL("model differs");
        }
    }
    lua_pop(L, 2);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
