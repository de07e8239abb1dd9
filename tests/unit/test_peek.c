/* test_peek.c - peek_body / peek_unescape (runtime/peek.c): the fields the
 * router reads, duplicates (last wins), escapes, and validity agreeing with
 * the decoder policies use (Debian's cjson, loaded in a real LuaJIT state
 * and configured as moongate.json does) on a corpus of edge cases. */
#include "t.h"
#include "peek.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static peek_t pk(const char *s, int *rc)
{
    peek_t p;
    *rc = peek_body(s, strlen(s), &p);
    return p;
}

static const char *model_of(const peek_t *p, char *buf)
{
    if (!(p->flags & PEEK_MODEL_STR)) return NULL;
    size_t n = p->model_escaped ? peek_unescape(p->model, p->model_len, buf) : p->model_len;
    if (!p->model_escaped) memcpy(buf, p->model, n);
    buf[n] = 0;
    return buf;
}

static void fields(void)
{
    char buf[256];
    int rc;
    peek_t p = pk("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &rc);
    T_EQ_INT(rc, 0);
    T_EQ_INT(p.flags, PEEK_OBJECT | PEEK_MODEL | PEEK_MODEL_STR | PEEK_MESSAGES);
    T_EQ_STR(model_of(&p, buf), "gpt-4o");

    p = pk(" \r\n{ \"stream\" : true , \"stream_options\" : { \"x\" : [1,{}], \"include_usage\" : true } ,"
           " \"model\" : \"a/b\" , \"messages\" : [ ] } \n", &rc);
    T_EQ_INT(rc, 0);
    T_EQ_INT(p.flags, PEEK_OBJECT | PEEK_STREAM | PEEK_USAGE | PEEK_MODEL | PEEK_MODEL_STR);
    T_EQ_STR(model_of(&p, buf), "a/b");

    /* last member wins, as in the decoded table */
    p = pk("{\"stream\":true,\"model\":\"x\",\"stream\":false,\"model\":7,\"contents\":[1],\"contents\":[]}", &rc);
    T_EQ_INT(rc, 0);
    T_EQ_INT(p.flags, PEEK_OBJECT | PEEK_MODEL);
    p = pk("{\"model\":null,\"model\":\"y\",\"contents\":{},\"contents\":[null]}", &rc);
    T_EQ_INT(p.flags, PEEK_OBJECT | PEEK_MODEL | PEEK_MODEL_STR | PEEK_CONTENTS);
    T_EQ_STR(model_of(&p, buf), "y");

    /* only the top level counts; stream_options must be an object */
    p = pk("{\"x\":{\"model\":\"m\",\"stream\":true,\"messages\":[1]},\"stream_options\":[{\"include_usage\":true}]}", &rc);
    T_EQ_INT(p.flags, PEEK_OBJECT);
    p = pk("{\"stream\":\"true\",\"stream_options\":{\"include_usage\":1}}", &rc);
    T_EQ_INT(p.flags, PEEK_OBJECT);

    /* escaped names and values */
    p = pk("{\"mod\\u0065l\":\"gpt\\u002d4o\\n\\\"q\\\"\",\"str\\u0065am\":true}", &rc);
    T_EQ_INT(p.flags, PEEK_OBJECT | PEEK_MODEL | PEEK_MODEL_STR | PEEK_STREAM);
    T_EQ_STR(model_of(&p, buf), "gpt-4o\n\"q\"");
    p = pk("{\"model\":\"\\u00e9\\u20ac\\ud83d\\ude00x\"}", &rc);
    T_EQ_STR(model_of(&p, buf), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x");
    char lone[8];   /* peek_unescape alone (peek_body refuses unpaired surrogates) */
    T_EQ_INT(peek_unescape("\\ud800x", 7, lone), 4);
    T_CHECK(memcmp(lone, "\xef\xbf\xbdx", 4) == 0);

    /* valid JSON that is not an object */
    p = pk("[{\"model\":\"m\"}]", &rc);
    T_EQ_INT(rc, 0);
    T_EQ_INT(p.flags, 0);
    p = pk("\"s\"", &rc);
    T_EQ_INT(rc, 0);
    T_EQ_INT(p.flags, 0);

    /* invalid: where and why */
    p = pk("{\"model\":\"m\",}", &rc);
    T_EQ_INT(rc, -1);
    T_EQ_INT(p.flags, 0);
    T_EQ_INT(p.err_at, 13);
    T_EQ_STR(p.err, "expected a member name");
    p = pk("{\"model\":\"m\"} x", &rc);
    T_EQ_INT(rc, -1);
    T_EQ_STR(p.err, "unexpected data after the JSON value");
    p = pk("", &rc);
    T_EQ_INT(rc, -1);
}

static void depth(void)
{
    int rc;
    static char deep[2 * PEEK_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < PEEK_MAX_DEPTH; i++) deep[n++] = '[';
    for (int i = 0; i < PEEK_MAX_DEPTH; i++) deep[n++] = ']';
    deep[n] = 0;
    pk(deep, &rc);
    T_EQ_INT(rc, 0);
    memmove(deep + 1, deep, n + 1);
    deep[0] = '[';
    deep[n + 1] = ']';
    deep[n + 2] = 0;
    peek_t p = pk(deep, &rc);
    T_EQ_INT(rc, -1);
    T_EQ_STR(p.err, "too deeply nested");
}

/* Validity agrees with cjson (decode_invalid_numbers off, as moongate.json). */
static void versus_cjson(void)
{
    static const char *cases[] = {
        "{}", "[]", "{\"a\":1}", "  {\"a\" : [1, 2.5, -3e10, 1E+2, 0.0]}  ", "null", "true", "false", "0", "-0",
        "\"x\"", "{\"a\":\"\\u00e9\"}", "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\\\\\"\"}",
        "01", "-01", "00", "0.1", "-0.0e0", "1.", "-.5", ".3", "[.3]", "-.", "-.e1", "-1.e5", "1e", "1e+", ".", "-", "+1", "0x10", "1.5e3x", "Infinity", "NaN", "-inf", "nan",
        "{\"a\":1,}", "[1,]", "[,1]", "{,}", "{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "[1 2]", "{\"a\":1 \"b\":2}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "\"unterminated", "[", "{", "]", "}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "[1]x", "{} {}", "\"tab\there\"", "[\"\x01\"]",
        "{\"model\":\"m\",\"messages\":[]}", "[[[[[]]]]]", "{\"a\":{\"b\":{\"c\":[{}]}}}", " ", "\t\r\n[1]\t\r\n",
        "[\"\\ud83d\\ude00\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]",
        "[\"\\ud800x\"]", "[\"\\ud800\\ud800\"]", "[\"\\udbff\\udfff\"]", "[\"\\ud800\\",
        "[1e400]", "[-1e-400]", "[123456789012345678901234567890]",
    };
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    int ok = luaL_dostring(L, "local c = require('cjson').new(); c.decode_invalid_numbers(false); "
                              "function try(s) return (pcall(c.decode, s)) end") == 0;
    T_CHECK(ok);
    if (!ok) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); lua_close(L); return; }
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lua_getglobal(L, "try");
        lua_pushstring(L, cases[i]);
        lua_call(L, 1, 1);
        int cj = lua_toboolean(L, -1);
        lua_pop(L, 1);
        int rc;
        pk(cases[i], &rc);
        if ((rc == 0) != cj) fprintf(stderr, "disagree on %s: cjson %s, peek %s\n", cases[i],
                                     cj ? "valid" : "invalid", rc == 0 ? "valid" : "invalid");
        T_EQ_INT(rc == 0, cj);
    }
    lua_close(L);
}

/* Strings are scanned 16 bytes at a time: a model of every length up to 40,
 * with an escape, a closing quote or a NUL byte at every position, reads the
 * same as byte by byte would. */
static void long_strings(void)
{
    int bad = 0;
    for (int len = 0; len <= 40; len++) {
        char body[128], buf[64], want[64];
        for (int i = 0; i < len; i++) want[i] = (char)('a' + i % 26);
        want[len] = 0;
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[1]}", want);
        int rc;
        peek_t p = pk(body, &rc);
        const char *m = rc == 0 ? model_of(&p, buf) : NULL;
        if (!m || strcmp(m, want) != 0 || p.model_escaped) bad++;
        for (int at = 0; at < len; at++) {         /* "\n" at position at: escaped, one byte shorter once decoded */
            char s[64];
            memcpy(s, want, (size_t)at);
            memcpy(s + at, "\\n", 2);
            memcpy(s + at + 2, want + at, (size_t)(len - at));
            s[len + 2] = 0;
            snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[1]}", s);
            p = pk(body, &rc);
            m = rc == 0 ? model_of(&p, buf) : NULL;
            if (!m || !p.model_escaped || strlen(m) != (size_t)len + 1 || m[at] != '\n') bad++;
            size_t bl = strlen(body);                 /* a NUL byte inside the string: invalid */
            char z[128];
            memcpy(z, body, bl);
            z[10 + at] = 0;
            peek_t q;
            if (peek_body(z, bl, &q) == 0) bad++;
        }
    }
    T_EQ_INT(bad, 0);
}

int main(void)
{
    long_strings();
    fields();
    depth();
    versus_cjson();
    return T_SUMMARY();
}
