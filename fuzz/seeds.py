#!/usr/bin/env python3
"""fuzz/seeds.py - writes the seed corpora fuzz/corpus/<target>/ (run from
the repository root; rerun after changing an input layout). Seeds are real
fixtures in each target's input layout; regression inputs found by fuzzing
live beside them as regress-*. Small on purpose: tens of files, < 200 KB."""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- sse: [cap selector][3 seed bytes] stream ------------------------------
OAI = [b'{"id":"c1","choices":[{"delta":{"role":"assistant"}}]}',
       b'{"id":"c1","choices":[{"delta":{"content":"Hel"}}]}',
       b'{"id":"c1","choices":[{"delta":{"content":"lo"}}]}']
openai = b"".join(b"data: " + e + b"\n\n" for e in OAI) + b"data: [DONE]\n\n"
anthropic = (b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
             b"event: ping\ndata: {\"type\": \"ping\"}\n\n"
             b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n"
             b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
sse = {
    "openai": openai,
    "anthropic": anthropic,
    "gemini-crlf": b"event: e\r\ndata: a\r\n\r\ndata: {\"candidates\":[]}\r\n\r\n",
    "cr": b"event: e\rdata: a\r\rdata: b\r\r",
    "mixed-eol": b"event: x\r\ndata: 1\rdata: 2\n\r\ndata: 3\r\n\ndata: 4\r\r\ndata: 5\n\r",
    "bom": b"\xEF\xBB\xBF: hi\ndata: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n",
    "bom-partial": b"\xEF\xBB" b"data: x\n\ndata: y\n\n",
    "comments": b": keep-alive\n\n: OPENROUTER PROCESSING\n\ndata: {}\n\n:no-space\n:  two\n:\n\ndata: a\n: ka\ndata: b\n\n",
    "multiline": b"data: line1\ndata: line2\ndata:\ndata\ndata: end\n\ndata\n\ndata:\n\n",
    "fields": b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: bad\0id\ndata: d\n\nretry: 3000\ndata: e\n\n"
              b"retry: 30x\ndata: f\n\nretry: 99999999999999999999999\ndata: g\n\nevent: lonely\n\n",
    "trailing": b"data: done\n\nevent: e\ndata: partial",
    "mid-error": b"data: {\"id\":\n\ndata: {\"error\":{\"message\":\"x\"}}\n\n",
}
caps = [0x00, 0x50, 0x88, 0xC4]
for i, (name, data) in enumerate(sorted(sse.items())):
    hdr = bytes([caps[i % 4], (i * 37) & 255, (i * 91) & 255, (i * 13) & 255])
    write("sse", name, hdr + data)
write("sse", "openai-x100-cap", bytes([0x46, 1, 2, 3]) + b"data: ok\n\ndata: " + b"x" * 100 + b"\n\ndata: never\n\n")

# ---- retry: [mode][now 8][base 8][cap 8][n 4] ms-value \0 retry-after -------
def retry(mode, now, base, cap, n, a, b=None):
    h = bytes([mode]) + struct.pack(">Q", now) + struct.pack(">q", base) + struct.pack(">q", cap) + struct.pack(">i", n)
    return h + a + (b"\0" + b if b is not None else b"")

R = [
    ("secs", retry(0x88, 0, 200, 2000, 0, b"120")),
    ("frac", retry(0x88, 1, 200, 2000, 3, b"1.5")),
    ("ows", retry(0x88, 2, 1, 30000, 10, b"  0.250 \t")),
    ("ms-wins", retry(0x8C, 3, 500, 60000, 2, b"1500", b"7")),
    ("ms-frac", retry(0x8C, 4, 500, 60000, 2, b"0.0001", b"7")),
    ("imf", retry(0x08, 784111777 - 1700000000 & (2**64 - 1), 200, 2000, 1, b"Sun, 06 Nov 1994 08:49:37 GMT")),
    ("rfc850", retry(0x09, 784111000, 200, 2000, 1, b"Sunday, 06-Nov-94 08:49:37 GMT")),
    ("asctime", retry(0x09, 784111000, 200, 2000, 1, b"Sun Nov  6 08:49:37 1994")),
    ("leap", retry(0x09, 784111000, 200, 2000, 1, b"Sun, 06 Nov 1994 08:49:60 GMT")),
    ("y9999", retry(0x0A, 0, 200, 2000, 1, b"Fri, 31 Dec 9999 23:59:59 GMT")),
    ("negative", retry(0x88, 0, 200, 2000, 1, b"-1")),
    ("huge", retry(0x88, 0, 2**62, 2**63 - 1, 62, b"99999999999999999999.999999999999999999999")),
    ("bad-date", retry(0x08, 0, 0, 0, -5, b"Sun, 31 Nov 1994 08:49:37 GMT")),
    ("rfc850-far-clock", retry(0x0A, 67768036191676799, 1, 1, 0, b"Sunday, 06-Nov-94 08:49:37 GMT")),
]
for name, data in R:
    write("retry", name, data)

# ---- http: [flags][seed] request bytes --------------------------------------
H = [
    ("get", 0x00, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("post-cl", 0x04, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 17\r\n\r\n{\"model\":\"m\",\"a\"}"),
    ("chunked-trailer", 0x0C, b"POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"),
    ("pipeline", 0x10, b"GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"POST /defer HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ("http10-stream", 0x02, b"POST /stream HTTP/1.0\r\nContent-Length: 4\r\n\r\nbody"),
    ("http10-keepalive", 0x00, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.0\r\n\r\n"),
    ("expect", 0x00, b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"),
    ("absolute-form", 0x00, b"GET http://other.example:81/info?y=1 HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n"),
    ("abort", 0x00, b"GET /abort HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
    ("lead-eol", 0x00, b"\r\n\nGET /info HTTP/1.1\r\n\r\n"),
    ("small-limits", 0x01, b"POST /x HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nContent-Length: 100\r\n\r\n" + b"y" * 100),
    ("bad-te", 0x00, b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    ("cl-te", 0x00, b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("dup-cl", 0x00, b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("folding", 0x00, b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
    ("bare-lf", 0x00, b"GET / HTTP/1.1\nHost: x\n\nPOST /stream HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"),
    ("relative-target", 0x00, b"GET v1/models HTTP/1.1\r\n\r\nGET x?u=http://a/v1/models HTTP/1.1\r\n\r\n"),
    ("half-close-defer", 0x02, b"GET /defer HTTP/1.1\r\n\r\n"),
]
for name, flags, data in H:
    write("http", name, bytes([flags, 7]) + data)

# ---- json: body [\0 key [\0 raw value]] -------------------------------------
J = [
    ("chat", b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}', b"model", b'"mock-small"'),
    ("empty-containers", b'{"tools":[],"meta":{},"a":[[],{}],"n":null}', b"stream_options", b'{"include_usage":true}'),
    ("bigint", b'{"seed":12345678901234567890,"f":1.000000000000000001,"e":-1e-7,"x":0}', b"seed", b"1"),
    ("unicode", b'{"u":"\\u00e9\\ud83d\\ude00 \xc3\xa9","k\\"q":"\\\\","\\u006dodel":"m"}', b"model", b'"x"'),
    ("dup-keys", b'{"a":1,"b":2,"a":3}', b"a", None),
    ("ws", b' \r\n\t{ "a" : [ 1 , 2 ] , "b" :\n{ "c" : "d" } }\n ', b"b", b"[1]"),
    ("array-body", b'[1,[],{},"x",null,true,{"a":[2]}]', b"a", None),
    ("empty", b"{}", b"k", b"false"),
    ("nested", b'{"a":{"b":{"c":[{"d":"]}"}]}},"z":"{["}', b"z", b"{}"),
    ("not-json", b'{"a":1,}', b"a", None),
    ("tools", b'{"model":"m","tools":[{"type":"function","function":{"name":"shell"}},{"name":"flat"}],"tool_choice":"auto"}',
     b"tools", b"[]"),
]
for name, body, key, raw in J:
    data = body + b"\0" + key + (b"\0" + raw if raw is not None else b"")
    write("json", name, data)

# ---- config: the file's text -------------------------------------------------
with open(os.path.join(os.path.dirname(ROOT), "..", "examples", "moongate.lua"), "rb") as f:
    write("config", "example", f.read())
C = {
    "minimal": b'return { providers = { a = { base_url = "http://127.0.0.1:9001/v1", api_key = "k", models = { "m" } } } }\n',
    "full": b'''local key = env("OPENAI_API_KEY")
return {
  listen = "127.0.0.1:8080", workers = 2, log = "stderr",
  max_body = 1048576, max_header_bytes = 16384, max_request_line = 4096, max_headers = 50,
  header_timeout = 5, body_timeout = 10, idle_timeout = 30, drain_timeout = 5,
  retry_after_cap = 10, sse_max_event = 65536, policy_timeout = 0.1,
  defaults = { timeouts = { connect = 1, first_byte = 10, idle = 20, total = 60 }, retries = 2,
               backoff = { base = 0.1, cap = 1 } },
  providers = {
    openai = { kind = "openai", base_url = "https://api.openai.com/v1", api_key = key,
               models = { "gpt-4o-mini" }, headers = { ["OpenAI-Organization"] = "org" },
               retries = 0, backoff = { cap = 3 }, timeouts = { total = 120 } },
    local1 = { base_url = "http://127.0.0.1:11434/v1", api_key = "none", models = { "llama" } },
    off = { base_url = "http://x/v1", api_key = "k", enabled = false, models = { "z" } },
  },
  aliases = { fast = { "openai/gpt-4o-mini", { provider = "local1", model = "llama", weight = 0 } } },
  options = { refused_models = { "gpt-4o" } },
  policy = "scripts/default.lua",
}
''',
    "errors": b'return { workers = 0, providers = { a = { base_url = "ftp://x", api_key = 12 } } }\n',
    "keyless": b'return { providers = { l = { base_url = "http://localhost:8000/v1/", api_key = false, models = { "a", "b" } } }, aliases = { auto = { "l/b" } } }\n',
    "loop": b"local n = 0\nwhile true do n = n + 1 end\n",
    "syntax": b"return { providers = \n",
    "runtime-error": b'local t = nil\nreturn t.x\n',
}
for name, text in C.items():
    write("config", name, text)

# ---- regressions found while fuzzing ------------------------------------------
write("config", "regress-api-key-crlf",
      b'return { providers = { a = { base_url = "http://x/v1", api_key = "sk-1\\r\\nX-Injected: 1", models = { "m" } } } }\n')
write("config", "regress-base-url-crlf",
      b'return { providers = { a = { base_url = "http://x/v1\\r\\nX: y", api_key = "k", models = { "m" } } } }\n')
write("http", "regress-relative-targets", bytes([0, 7]) + b"GET \xff HTTP/1.1\r\n\r\n")
