/* xlate.c - the C side of translation between dialects (docs/internals.md
 * section 6). When client and provider speak different dialects the plan
 * marks the attempt `translate`, and the stream hands the upstream response
 * to a Lua translator object: every SSE event (tr:event), the end
 * (tr:finish), a failure after commit (tr:error), or a whole body (tr:body).
 * Only translated streams pay a Lua call per event; passthrough never does.
 *
 * Owns: the registry reference to the current attempt's translator
 * (s->tr_ref), dropped by xlate_end. Frames the translator returns are
 * appended to s->out; the stream decides when they go out. A translator may
 * name the Content-Type of the client's stream in `tr.stream_content_type`
 * (Gemini clients that asked for a JSON array, not SSE): copied into
 * s->tr_ctype for reply_commit, cleared with the translator. */
#include "stream.h"
#include "log.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

static void xlate_fail(stream_t *s, const char *what, const char *err)
{
    char *nl = strchr(err, '\n');
    if (nl) *nl = 0;
    log_event(LOG_ERROR, "translator error (request %s, %s): %s", s->id, what, err);
}

int xlate_begin(stream_t *s)
{
    xlate_end(s);
    policy_vm_t *vm = s->vm;
    if (vm->translator_ref == LUA_NOREF) return -1;
    lua_State *L = vm->L;
    char err[512];
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->translator_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->plan_ref);
    lua_pushinteger(L, s->cur + 1);
    if (policy_pcall(vm, 2, 1, err, sizeof err) != 0) { xlate_fail(s, "translator", err); return -1; }
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return -1; }
    lua_getfield(L, -1, "stream_content_type");
    if (lua_type(L, -1) == LUA_TSTRING) snprintf(s->tr_ctype, sizeof s->tr_ctype, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    s->tr_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* Pushes tr.method and tr, ready for nargs more arguments. */
static int push_method(stream_t *s, const char *method)
{
    lua_State *L = s->vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->tr_ref);
    lua_getfield(L, -1, method);
    if (!lua_isfunction(L, -1)) { lua_pop(L, 2); return -1; }
    lua_insert(L, -2);   /* function, tr */
    return 0;
}

/* Appends the string result on top of the stack to s->out and pops it. */
static void take_frames(stream_t *s)
{
    lua_State *L = s->vm->L;
    size_t n = 0;
    const char *f = lua_isstring(L, -1) ? lua_tolstring(L, -1, &n) : NULL;
    if (f && n) evbuffer_add(s->out, f, n);
    lua_pop(L, 1);
}

int xlate_event(stream_t *s, const char *name, size_t nlen, const char *data, size_t dlen)
{
    if (s->tr_ref == LUA_NOREF || push_method(s, "event") != 0) return -1;
    lua_State *L = s->vm->L;
    char err[512];
    if (nlen) lua_pushlstring(L, name, nlen); else lua_pushnil(L);
    lua_pushlstring(L, data, dlen);
    if (policy_pcall(s->vm, 3, 1, err, sizeof err) != 0) { xlate_fail(s, "event", err); return -1; }
    take_frames(s);
    return 0;
}

int xlate_finish(stream_t *s)
{
    if (s->tr_ref == LUA_NOREF || push_method(s, "finish") != 0) return -1;
    char err[512];
    if (policy_pcall(s->vm, 1, 1, err, sizeof err) != 0) { xlate_fail(s, "finish", err); return -1; }
    take_frames(s);
    return 0;
}

int xlate_error(stream_t *s, const char *code, const char *message)
{
    if (s->tr_ref == LUA_NOREF || push_method(s, "error") != 0) return -1;
    lua_State *L = s->vm->L;
    char err[512], msg[256];
    snprintf(msg, sizeof msg, "%s (request id %s)", message, s->id);
    lua_pushstring(L, code);
    lua_pushstring(L, msg);
    if (policy_pcall(s->vm, 3, 1, err, sizeof err) != 0) { xlate_fail(s, "error", err); return -1; }
    take_frames(s);
    return 0;
}

int xlate_body(stream_t *s)
{
    if (s->tr_ref == LUA_NOREF || push_method(s, "body") != 0) return -1;
    lua_State *L = s->vm->L;
    char err[512];
    size_t n = evbuffer_get_length(s->body);
    lua_pushinteger(L, s->up_status);
    lua_pushstring(L, s->up_ctype);
    lua_pushlstring(L, n ? (const char *)evbuffer_pullup(s->body, -1) : "", n);
    if (policy_pcall(s->vm, 4, 3, err, sizeof err) != 0) { xlate_fail(s, "body", err); return -1; }
    if (lua_isnumber(L, -3)) s->up_status = (int)lua_tointeger(L, -3);
    if (lua_isstring(L, -2)) snprintf(s->up_ctype, sizeof s->up_ctype, "%s", lua_tostring(L, -2));
    size_t bl = 0;
    const char *b = lua_isstring(L, -1) ? lua_tolstring(L, -1, &bl) : "";
    evbuffer_drain(s->body, n);
    evbuffer_add(s->body, b, bl);
    lua_pop(L, 3);
    return 0;
}

void xlate_end(stream_t *s)
{
    s->tr_ctype[0] = 0;
    if (s->tr_ref == LUA_NOREF) return;
    lua_State *L = s->vm->L;
    /* tr.usage = { input = n, output = n }, kept up to date by the translator */
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->tr_ref);
    lua_getfield(L, -1, "usage");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "input");
        if (lua_isnumber(L, -1)) s->prompt_tokens = (int64_t)lua_tonumber(L, -1);
        lua_getfield(L, -2, "output");
        if (lua_isnumber(L, -1)) s->completion_tokens = (int64_t)lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    luaL_unref(L, LUA_REGISTRYINDEX, s->tr_ref);
    s->tr_ref = LUA_NOREF;
}
