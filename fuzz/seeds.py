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

# ---- translate: [mode] request \0 response body \0 event \0 event ... ------
# mode % 6: the (client, upstream) pair (PAIRS, as in fuzz_translate.lua);
# mode // 6 % 4: the end (0 finish, 1 error, 2 timeout error, 3 finish then
# error). An event is "name\ndata" or just "data". Streams and bodies from
# the mock (build/rel/moongate-mock -p 0, fetched with curl: OpenAI
# /v1/chat/completions, Anthropic /v1/messages, Gemini
# /v1beta/models/m:streamGenerateContent?alt=sse and :generateContent, plain
# and with one tool; "created" pinned), the rest from spec/translate_*_spec.lua.
PAIRS = [("openai", "anthropic"), ("openai", "gemini"), ("anthropic", "openai"),
         ("anthropic", "gemini"), ("gemini", "openai"), ("gemini", "anthropic")]
END_FINISH, END_ERROR, END_TIMEOUT, END_BOTH = 0, 1, 2, 3

MOCK = {
    "oai_plain": rb'''data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"Hello "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"from "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"the "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"mock "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"provider, "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"model "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"m."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-mock-7","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[],"usage":{"prompt_tokens":27,"completion_tokens":7,"total_tokens":34}}

data: [DONE]

''',
    "oai_tools": rb'''data: {"id":"chatcmpl-mock-8","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_mock_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-mock-8","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-mock-8","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-mock-8","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}

data: [DONE]

''',
    "ant_plain": rb'''event: message_start
data: {"type":"message_start","message":{"id":"msg_mock_3","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"from "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"the "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"mock "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"provider, "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"model "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"m."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}

event: message_stop
data: {"type":"message_stop"}

''',
    "ant_tools": rb'''event: message_start
data: {"type":"message_start","message":{"id":"msg_mock_4","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":48,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_mock_1","name":"get_weather","input":{}}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":2}}

event: message_stop
data: {"type":"message_stop"}

''',
    "gem_plain": rb'''data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hello "}]},"index":0}],"usageMetadata":{"promptTokenCount":13,"totalTokenCount":13},"modelVersion":"m","responseId":"mock-5"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"from "}]},"index":0}],"usageMetadata":{"promptTokenCount":13,"totalTokenCount":13},"modelVersion":"m","responseId":"mock-5"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"the "}]},"index":0}],"usageMetadata":{"promptTokenCount":13,"totalTokenCount":13},"modelVersion":"m","responseId":"mock-5"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"mock "}]},"index":0}],"usageMetadata":{"promptTokenCount":13,"totalTokenCount":13},"modelVersion":"m","responseId":"mock-5"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"provider, "}]},"index":0}],"usageMetadata":{"promptTokenCount":13,"totalTokenCount":13},"modelVersion":"m","responseId":"mock-5"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"model "}]},"index":0}],"usageMetadata":{"promptTokenCount":13,"totalTokenCount":13},"modelVersion":"m","responseId":"mock-5"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"m."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":7,"totalTokenCount":20},"modelVersion":"m","responseId":"mock-5"}

''',
    "gem_tools": rb'''data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":46,"candidatesTokenCount":1,"totalTokenCount":47},"modelVersion":"m","responseId":"mock-6"}

''',
    "oai_plain_body": rb'''{"id":"chatcmpl-mock-9","object":"chat.completion","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock provider, model m.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21}}''',
    "oai_tools_body": rb'''{"id":"chatcmpl-mock-10","object":"chat.completion","created":1700000000,"model":"m","system_fingerprint":"fp_mock","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_mock_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":38,"completion_tokens":2,"total_tokens":40}}''',
    "ant_plain_body": rb'''{"id":"msg_mock_11","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hello from the mock provider, model m."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":18,"output_tokens":7}}''',
    "ant_tools_body": rb'''{"id":"msg_mock_12","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_mock_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":34,"output_tokens":2}}''',
    "gem_plain_body": rb'''{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from the mock provider, model m."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":7,"totalTokenCount":20},"modelVersion":"m","responseId":"mock-13"}''',
    "gem_tools_body": rb'''{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":36,"candidatesTokenCount":1,"totalTokenCount":37},"modelVersion":"m","responseId":"mock-14"}''',
    "oai_429_body": rb'''{"error":{"message":"mock fault: status 429","type":"rate_limit_exceeded","param":null,"code":"rate_limit_exceeded"}}''',
    "ant_429_body": rb'''{"type":"error","error":{"type":"rate_limit_error","message":"mock fault: status 429"},"request_id":"req_mock_16"}''',
    "gem_429_body": rb'''{"error":{"code":429,"message":"mock fault: status 429","status":"RESOURCE_EXHAUSTED"}}''',
}


def sse_events(text):
    """SSE text -> ["name\ndata" | "data", ...] (the mock's frames are simple)."""
    out = []
    for block in text.split(b"\n\n"):
        if not block:
            continue
        name, data = b"", []
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:]
            elif line.startswith(b"data: "):
                data.append(line[6:])
        out.append((name + b"\n" if name else b"") + b"\n".join(data))
    return out


def translate_seed(name, pair, end, req, body, events):
    mode = PAIRS.index(pair) + 6 * end
    write("translate", name, bytes([mode]) + req + b"\0" + body + b"".join(b"\0" + e for e in events))


WEATHER = b'{"type":"object","properties":{"city":{"type":"string"}}}'
REQ = {
    ("openai", "plain"): b'{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}',
    ("openai", "tools"): b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],'
                         b'"tools":[{"type":"function","function":{"name":"get_weather","parameters":' + WEATHER + b'}}]}',
    ("anthropic", "plain"): b'{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}',
    ("anthropic", "tools"): b'{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}],'
                            b'"tools":[{"name":"get_weather","input_schema":' + WEATHER + b'}]}',
    ("gemini", "plain"): b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}',
    ("gemini", "tools"): b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],'
                         b'"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":' + WEATHER + b'}]}]}',
}
SHORT = {"openai": "oai", "anthropic": "ant", "gemini": "gem"}
for i, pair in enumerate(PAIRS):
    c, u = pair
    for kind in ("plain", "tools"):
        end = END_FINISH if kind == "plain" else [END_FINISH, END_BOTH, END_ERROR][i % 3]
        translate_seed("mock-%s-%s-%s" % (c, u, kind), pair, end, REQ[(c, kind)],
                       MOCK["%s_%s_body" % (SHORT[u], kind)], sse_events(MOCK["%s_%s" % (SHORT[u], kind)]))
    # the upstream's real 429 body; the stream cut after two events
    translate_seed("mock-%s-%s-429-cut" % (c, u), pair, END_FINISH, REQ[(c, "plain")], MOCK["%s_429_body" % SHORT[u]],
                   sse_events(MOCK["%s_plain" % SHORT[u]])[:2])

# spec/translate_anthropic_spec.lua
OAI_SPEC = rb"""{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"developer","content":[{"type":"text","text":"Answer in French."}]},{"role":"user","content":[{"type":"text","text":"What is in these?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},{"type":"text","text":""}]},{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"call_a","type":"function","function":{"name":"lookup","arguments":"{\"ids\":[],\"opts\":{},\"n\":12345678901234567890,\"q\":\"caf\\u00e9 \ud83d\ude00\"}"}},{"id":"call_b","type":"function","function":{"name":"noop","arguments":""}}]},{"role":"tool","tool_call_id":"call_a","content":"found"},{"role":"tool","tool_call_id":"call_b","content":[{"type":"text","text":"done"}]},{"role":"user","content":"thanks"}],"tools":[{"type":"function","function":{"name":"lookup","description":"Find things","parameters":{"type":"object","properties":{"ids":{"type":"array","items":{"type":"integer","maximum":12345678901234567890}},"kind":{"enum":[]}},"required":[],"description":"caf\u00e9 \u2603"}}},{"type":"function","function":{"name":"noop"}}],"tool_choice":"required","parallel_tool_calls":false,"max_completion_tokens":512,"temperature":1.7,"top_p":0.9,"stop":["END","  "],"user":"u-1","stream":true,"stream_options":{"include_usage":true},"n":1,"logprobs":false,"seed":7}"""
OAI_JSON = rb"""{"model":"m","reasoning_effort":"low","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"a":{"type":"array","items":{}}},"required":[]}}}}"""
ANT_SPEC = rb"""{"model":"claude-x","max_tokens":300,"system":[{"type":"text","text":"Be brief."},{"type":"text","text":"Be kind."}],"messages":[{"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}},{"type":"image","source":{"type":"url","url":"https://x.test/a.png"}}]},{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"ids":[],"n":12345678901234567890,"s":"\u00e9"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"42"}]},{"type":"tool_result","tool_use_id":"toolu_2","content":"boom","is_error":true},{"type":"text","text":"go on"}]}],"tools":[{"name":"lookup","description":"d","input_schema":{"type":"object","properties":{"ids":{"type":"array","items":{"enum":[]}}},"required":[]}},{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"stop_sequences":["END"],"temperature":0.5,"top_k":5,"metadata":{"user_id":"u9"},"stream":true}"""
ANT_BODY = rb"""{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4","content":[{"type":"text","text":"Checking "},{"type":"thinking","thinking":"hmm"},{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"ids":[],"meta":{},"n":12345678901234567890,"q":"caf\u00e9"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":40,"cache_creation_input_tokens":5,"cache_read_input_tokens":100}}"""
A_START = b'message_start\n{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2,"cache_creation_input_tokens":20,"cache_read_input_tokens":100}}}'
A_PING = b'ping\n{"type":"ping"}'


def a_block(i, kind, *deltas, start=None):
    st = start or {"text": b'{"type":"text","text":""}', "thinking": b'{"type":"thinking","thinking":""}'}[kind]
    ev = [b'content_block_start\n{"type":"content_block_start","index":%d,"content_block":%s}' % (i, st)]
    for d in deltas:
        ev.append(b'content_block_delta\n{"type":"content_block_delta","index":%d,"delta":%s}' % (i, d))
    ev.append(b'content_block_stop\n{"type":"content_block_stop","index":%d}' % i)
    return ev


def a_tool(i, tid, name, *frags):
    return a_block(i, "tool", *[b'{"type":"input_json_delta","partial_json":%s}' % f for f in frags],
                   start=b'{"type":"tool_use","id":"%s","name":"%s","input":{}}' % (tid, name))


def a_stop(reason, n):
    return b'message_delta\n{"type":"message_delta","delta":{"stop_reason":"%s","stop_sequence":null},"usage":{"output_tokens":%d}}' % (reason, n)


A_STOP = b'message_stop\n{"type":"message_stop"}'
A_ERR = b'error\n{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
ANT_TOOLS_STREAM = ([A_START] + a_block(0, "thinking", b'{"type":"thinking_delta","thinking":"let me see"}')
                    + a_block(1, "text", b'{"type":"text_delta","text":"Checking."}')
                    + a_tool(2, b"toolu_a", b"weather", b'"{\\"city\\":"', b'"\\"Paris\\"}"') + [A_PING]
                    + a_tool(3, b"toolu_b", b"time") + [a_stop(b"tool_use", 89), A_STOP])
for pair in PAIRS:
    c, u = pair
    if u != "anthropic":
        continue
    req = {"openai": OAI_SPEC, "gemini": REQ[("gemini", "tools")]}[c]
    translate_seed("spec-%s-anthropic-tools" % c, pair, END_FINISH, req, ANT_BODY, ANT_TOOLS_STREAM)
    translate_seed("spec-%s-anthropic-error-event" % c, pair, END_FINISH, req, MOCK["ant_429_body"],
                   [A_START] + a_block(0, "text", b'{"type":"text_delta","text":"Hel"}') + [A_ERR, A_STOP])
translate_seed("spec-openai-anthropic-json-tool", PAIRS[0], END_FINISH, OAI_JSON,
               b'{"id":"m","model":"c","content":[{"type":"tool_use","id":"t","name":"json_response","input":{"a":[],"b":12345678901234567890}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}',
               [A_START] + a_tool(0, b"t", b"json_response", b'"{\\"a\\":"', b'"[]}"') + [a_stop(b"tool_use", 2), A_STOP])

OC = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}'


def oc(delta, finish=None):
    return OC % (delta, b'"%s"' % finish if finish else b"null")


OAI_USAGE = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":12,"total_tokens":62,"prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":2}}}'
OAI_BODY = rb"""{"id":"chatcmpl-9","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Sure.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":[],\"n\":12345678901234567890}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":130,"completion_tokens":7,"total_tokens":137,"prompt_tokens_details":{"cached_tokens":100}}}"""
OAI_INTERLEAVED = [
    oc(b'{"role":"assistant","content":""}'), oc(b'{"content":"Checking."}'),
    oc(b'{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"a","arguments":"{\\"x\\":"}}]}'),
    oc(b'{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"b","arguments":"{\\"y\\":"}}]}'),
    oc(b'{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}'),
    oc(b'{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}'),
    oc(b"{}", b"tool_calls"), OAI_USAGE, b"[DONE]"]
OAI_ERR = b'{"error":{"message":"mock mid-stream failure","type":"server_error","param":null,"code":null}}'
GEM_SPEC = rb"""{"system_instruction":{"parts":[{"text":"Be terse."}]},"contents":[{"role":"user","parts":[{"text":"Weather?"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris","tags":[],"n":12345678901234567890}}}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}}]},{"role":"model","parts":[{"functionCall":{"id":"fc9","name":"get_weather","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"id":"fc9","name":"get_weather","response":{"temp":18,"list":[]}}},{"text":"ok"}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","description":"W","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING","enum":[]}},"required":[]}},{"name":"raw","parametersJsonSchema":{"type":"object","properties":{"x":{"type":["string","null"]}},"required":[],"additionalProperties":false}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},"generationConfig":{"temperature":0.2,"maxOutputTokens":64,"stopSequences":["END"],"responseMimeType":"application/json"}}"""
for pair in PAIRS:
    c, u = pair
    if u != "openai":
        continue
    req = {"anthropic": ANT_SPEC, "gemini": GEM_SPEC}[c]
    translate_seed("spec-%s-openai-interleaved" % c, pair, END_FINISH, req, OAI_BODY, OAI_INTERLEAVED)
    translate_seed("spec-%s-openai-error-payload" % c, pair, END_TIMEOUT, req, MOCK["oai_429_body"],
                   [oc(b'{"role":"assistant","content":""}'), oc(b'{"content":"Hel"}'), OAI_ERR])

# spec/translate_gemini_spec.lua
OAI_GEM = rb"""{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},{"type":"image_url","image_url":{"url":"https://x.test/cat.jpg"}},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1__thought__c2ln","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"tags\":[],\"n\":12345678901234567890}"}},{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1__thought__c2ln","content":"{\"temp\":18,\"list\":[]}"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":["object","null"],"properties":{"city":{"type":"string"}},"$schema":"x","additionalProperties":false}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}},"reasoning_effort":"medium","stream":true,"stream_options":{"include_usage":true}}"""
G1 = b'{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"r1"}'
GT = b'{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"Checking."}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r2"}'
GC = (b'{"candidates":[{"content":{"parts":[{"functionCall":{"name":"lookup","args":{"ids":[],"n":12345678901234567890,"q":"caf\\u00e9"}},"thoughtSignature":"c2ln"},'
      b'{"functionCall":{"name":"time","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}],'
      b'"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":10,"thoughtsTokenCount":4,"totalTokenCount":34},"modelVersion":"gemini-2.5-flash","responseId":"r2"}')
GERR = b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'
GBLOCK = b'{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}'
for pair in PAIRS:
    c, u = pair
    if u != "gemini":
        continue
    req = {"openai": OAI_GEM, "anthropic": REQ[("anthropic", "tools")]}[c]
    translate_seed("spec-%s-gemini-calls" % c, pair, END_FINISH, req, GC, [GT, GC])
    translate_seed("spec-%s-gemini-error" % c, pair, END_FINISH, req, GERR, [G1, GERR])
    translate_seed("spec-%s-gemini-blocked" % c, pair, END_BOTH, req, GBLOCK, [GBLOCK])

# ---- peek: a client body --------------------------------------------------
peek = {
    "chat-stream": b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,'
                   b'"stream_options":{"include_usage":true}}',
    "escapes": b'{"mod\\u0065l":"m\\ud83d\\ude00\\n","contents":[{"parts":[{"text":"x"}]}],"model":null}',
    "duplicates": b'{"stream":true,"stream":false,"messages":[],"messages":[1],"stream_options":[],"x":{"model":"y"}}',
    "numbers": b'[0, -0.5e+3, 1E9, -.5, 1., 123456789012345678901234567890, {"a": [true, false, null]}]',
    "not-object": b' "just a string" ',
    "invalid": b'{"model":"m",}',
}
for name, data in sorted(peek.items()):
    write("peek", name, data)
write("peek", "regress-leading-dot", b".3")


# ---- regressions found while fuzzing ------------------------------------------
write("config", "regress-api-key-crlf",
      b'return { providers = { a = { base_url = "http://x/v1", api_key = "sk-1\\r\\nX-Injected: 1", models = { "m" } } } }\n')
write("config", "regress-base-url-crlf",
      b'return { providers = { a = { base_url = "http://x/v1\\r\\nX: y", api_key = "k", models = { "m" } } } }\n')
write("http", "regress-relative-targets", bytes([0, 7]) + b"GET \xff HTTP/1.1\r\n\r\n")
DEEP = b"[" * 130 + b"]" * 130
for name, pair, req, events in [
    ("regress-block-without-index", PAIRS[0], b"{}",
     [b'content_block_start\n{"type":"content_block_start","content_block":{"type":"tool_use"}}']),
    ("regress-usage-1e400", PAIRS[0], b"{}",
     [b'message_start\n{"type":"message_start","message":{"usage":{"input_tokens":1e400}}}',
      b'message_delta\n{"type":"message_delta","delta":{"stop_reason":"end_turn"}}', A_STOP]),
    ("regress-gemini-usage-1e400", PAIRS[1], b"{}",
     [b'{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1e400}}']),
    ("regress-error-type-deep", PAIRS[0], b"{}",
     [b'error\n{"type":"error","error":{"type":' + DEEP + b',"message":' + DEEP + b'}}']),
    ("regress-anthropic-message-number", PAIRS[2], b'{"messages":[1,true]}', []),
    ("regress-openai-tool-call-number", PAIRS[0], b'{"messages":[{"role":"assistant","tool_calls":[1,{"function":1}]}]}', []),
    ("regress-openai-gemini-tool-call-number", PAIRS[1], b'{"messages":[{"role":"assistant","tool_calls":[1]}]}', []),
    ("regress-gemini-contents-number", PAIRS[4],
     b'{"contents":[1,{"role":"model","parts":[2]},{"parts":[3]}],"tools":[{"functionDeclarations":[1]}]}', []),
    ("regress-gemini-allowed-deep", PAIRS[4],
     b'{"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":[' + DEEP + b']}}}', []),
    ("regress-gemini-schema-type-deep", PAIRS[4],
     b'{"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":[' + DEEP + b']}}]}]}', []),
]:
    translate_seed(name, pair, END_FINISH, req, b'{"choices":[{"message":{"tool_calls":[1]}}]}', events)
NUL_ARGS = b'"arguments":"{}\\u0000junk"'
for name, pair, req, body, events in [
    ("regress-nul-args-request", PAIRS[0], b'{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f",' + NUL_ARGS + b'}}]}]}', b"{}", []),
    ("regress-nul-args-body", PAIRS[2], b"{}", b'{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"f",' + NUL_ARGS + b'}}]}}]}', []),
    ("regress-nul-args-stream", PAIRS[4], b"{}", b"{}",
     [b'{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f",' + NUL_ARGS + b'}}]},"finish_reason":"stop"}]}']),
    ("regress-nul-tool-result", PAIRS[1], b'{"messages":[{"role":"tool","tool_call_id":"x","content":"{}\\u0000j"}]}', b"{}", []),
]:
    translate_seed(name, pair, END_FINISH, req, body, events)
