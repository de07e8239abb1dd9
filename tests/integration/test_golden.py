"""Golden fixtures: every inbound dialect x provider kind, checked event by event.

For each client dialect (OpenAI `/v1/chat/completions`, Azure-style
`/openai/deployments/{model}/chat/completions?api-version=...`, Anthropic
`/v1/messages`, Gemini `:generateContent` / `:streamGenerateContent?alt=sse`),
each provider kind (openai, azure, anthropic, gemini: all the mock) and each
case (text, stream_text, tool, stream_tool: a tool with a parameter schema;
error_400 / stream_error_400: the upstream's error body relayed or
translated; error_429 / stream_error_429: the gateway's verdict once its
attempts are spent, with Retry-After; midstream_error: the upstream's error
event after two content events; midstream_reset: the upstream connection
dropped after two), one request goes through the real gateway binary and
what the client receives is recorded: status, a few headers, and the JSON
body or the list of SSE events (event name + data JSON) in order.

Three checks per case, in this order:
  1. generic invariants of the client's dialect (`check_openai`,
     `check_anthropic`, `check_gemini`: one role chunk / message_start, the
     dialect's end of stream, tool-call fragments per index, finish/stop
     reasons per the mapping tables, usage, the error shape and status, a
     mid-stream failure surfaced as an error event and never as a normal end).
     They run whatever the fixture says, so a fixture cannot freeze a bug
     that breaks them;
  2. the recording, normalised, equals tests/golden/<inbound>__<provider>__<case>.json,
     with a diff naming the event index and the field on mismatch;
  3. same-dialect pairs: the client's bytes are the mock's bytes, compared
     with what the mock sends for the same upstream request replayed directly
     (only its per-request sequence numbers and `created` differ): line
     ends (Gemini's CRLF), comments and spacing included.

Normalisation replaces only what legitimately varies with placeholders that
are numbered per kind in order of first appearance within one response
(ids chatcmpl-*, msg_*, toolu_*, call_*, req_*, Gemini responseId, `created`,
the gateway's request id in the x-request-id header and in error messages).
The same value always maps to the same placeholder, so a stream whose chunks
carry two different ids shows two different placeholders, and an error
message naming another request id than the header shows <request-id-2>.

A missing fixture is a failure. To (re)write the fixtures run

    GOLDEN_UPDATE=1 python3 -m pytest -q test_golden.py

(only cases whose invariants pass are written) and READ the diff of
tests/golden/ before committing it: a golden test only freezes what exists
(see tests/golden/README.md).

One mock and one gateway serve the whole module (about a second in all,
under ASan too). The Azure-style inbound cases (`azure__*`) send what openai's
AzureOpenAI client sends: the deployment in the path, `api-key`, an OpenAI body;
the client's dialect is OpenAI.
"""
import difflib
import http.client
import json
import os
import re

import pytest

from conftest import (HOST, REPO, Gateway, SSEClient, check_gateways, http_request, mock_text,
                      provider)

GOLDEN_DIR = os.path.join(REPO, "tests", "golden")
UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"

INBOUND = ["openai", "azure", "anthropic", "gemini"]
KINDS = ["openai", "azure", "anthropic", "gemini"]
CASES = ["text", "stream_text", "tool", "stream_tool", "error_400", "stream_error_400", "error_429",
         "stream_error_429", "midstream_error", "midstream_reset"]
DIALECT = {"openai": "openai", "azure": "openai", "anthropic": "anthropic", "gemini": "gemini"}

# Upstream behaviour per case: the mock fault spec, and the model suffix that
# picks the provider configured with it. A 400 is not retryable: the upstream's
# error body reaches the client (relayed, or translated into its dialect). A
# 429 is: once the attempts are spent the gateway answers with its own error
# (stream.c fail_final), Retry-After included.
# After MIDSTREAM_AFTER content events the mock sends its dialect's error
# event (midstream_error), or drops the connection (midstream_reset: the
# gateway's own verdict, "upstream_reset", in the client's dialect).
MIDSTREAM_AFTER = 2
VARIANTS = {"ok": ({}, ""), "400": ({"status": 400}, "-400"), "429": ({"status": 429, "retry_after": 1}, "-429"),
            "cut": ({"error_event": MIDSTREAM_AFTER}, "-cut"), "reset": ({"reset_after": MIDSTREAM_AFTER}, "-reset")}
CASE_VARIANT = {"text": "ok", "stream_text": "ok", "tool": "ok", "stream_tool": "ok",
                "error_400": "400", "stream_error_400": "400", "error_429": "429", "stream_error_429": "429",
                "midstream_error": "cut", "midstream_reset": "reset"}
ERROR_STATUS = {"400": 400, "429": 429}
BASE_MODEL = {"openai": "gpt-mock", "azure": "azure-mock", "anthropic": "claude-mock", "gemini": "gemini-mock"}

TOOL_NAME = "get_weather"
TOOL_ARGS = {"city": "Paris"}   # what the mock always answers with
SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
          "required": ["city"]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": TOOL_NAME, "description": "Weather for a city",
                                                  "parameters": SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": TOOL_NAME, "description": "Weather for a city", "input_schema": SCHEMA}]
GEMINI_TOOLS = [{"functionDeclarations": [{"name": TOOL_NAME, "description": "Weather for a city",
                                           "parameters": SCHEMA}]}]

# Response headers worth freezing (x-request-id is normalised).
KEPT_HEADERS = ("content-type", "cache-control", "retry-after", "retry-after-ms", "x-should-retry",
                "x-moongate-provider", "x-moongate-model", "x-moongate-attempts", "x-request-id")


def model_for(kind, case):
    return BASE_MODEL[kind] + VARIANTS[CASE_VARIANT[case]][1]


def is_stream(case):
    return case.startswith("stream_") or case.startswith("midstream_")


def error_status(case):
    """The upstream error status of an error case, else None."""
    return ERROR_STATUS.get(CASE_VARIANT[case])


def has_tools(case):
    return case in ("tool", "stream_tool")


# --------------------------------------------------------------------------
# the gateway under test (one per module)
# --------------------------------------------------------------------------

def _root(mock, spec):
    """Host-root base URL: Anthropic, Gemini and Azure kinds append their own paths."""
    return mock.url(**spec)[:-len("/v1")] if spec else "http://%s:%d" % (HOST, mock.port)


def golden_config(mock):
    providers = {}
    for kind in KINDS:
        for variant, (spec, suffix) in VARIANTS.items():
            spec = dict(spec)
            model = BASE_MODEL[kind] + suffix
            name = "%s_%s" % (kind, variant)
            base = mock.url(**spec) if kind == "openai" else _root(mock, spec)
            p = provider(base, models=[model], api_key="%s-key" % kind, retries=0)
            p["kind"] = kind
            providers[name] = p
    return {"providers": providers}


@pytest.fixture(scope="module")
def gw(mock, tmp_path_factory):
    g = Gateway(str(tmp_path_factory.mktemp("golden")), golden_config(mock))
    try:
        g.start()
        yield g
    finally:
        problems = check_gateways([g])   # stops it; crash, hang or sanitizer report
    if problems:
        pytest.fail(problems, pytrace=False)


# --------------------------------------------------------------------------
# requests per inbound dialect
# --------------------------------------------------------------------------

def build_request(inbound, kind, case):
    model = model_for(kind, case)
    stream = is_stream(case)
    tools = has_tools(case)
    prompt = [{"role": "user", "content": "What is the weather in Paris?"}]
    if inbound in ("openai", "azure"):
        body = {"model": model, "messages": prompt}
        if stream:
            # include_usage: the usage chunk is part of what is checked (and
            # nothing is filtered from a passthrough stream)
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = OPENAI_TOOLS
        if inbound == "openai":
            path, headers = "/v1/chat/completions", {"Authorization": "Bearer client-key"}
        else:
            path = "/openai/deployments/%s/chat/completions?api-version=2024-10-21" % model
            headers = {"api-key": "client-key"}
    elif inbound == "anthropic":
        body = {"model": model, "max_tokens": 256, "messages": prompt}
        if stream:
            body["stream"] = True
        if tools:
            body["tools"] = ANTHROPIC_TOOLS
        path = "/v1/messages"
        headers = {"x-api-key": "client-key", "anthropic-version": "2023-06-01"}
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": prompt[0]["content"]}]}]}
        if tools:
            body["tools"] = GEMINI_TOOLS
        path = "/v1beta/models/%s:%s" % (model, "streamGenerateContent?alt=sse" if stream else "generateContent")
        headers = {"x-goog-api-key": "client-key"}
    return {"method": "POST", "path": path, "headers": headers, "body": body, "stream": stream}


class Reply:
    """What the client received: status, headers, raw (de-chunked) body,
    SSE events when the reply is a 200 stream."""

    def __init__(self, status, header_list, raw, events=None, finished=True):
        self.status = status
        self.headers = {}
        for k, v in header_list:
            self.headers.setdefault(k.lower(), v)
        self.raw = raw
        self.events = events
        self.finished = finished

    def header(self, name):
        return self.headers.get(name.lower())


def send(gw, req):
    if req["stream"]:
        c = SSEClient(gw.port, path=req["path"], body=req["body"], headers=req["headers"], timeout=10)
        try:
            c.read_all()
        finally:
            c.close()
        events = None
        if c.status == 200:
            events = [(e.event, e.data) for e in c.events]
        return Reply(c.status, c.header_list, c.raw_body, events, c.finished)
    r = http_request(gw.port, req["method"], req["path"], body=req["body"], headers=req["headers"])
    return Reply(r.status, r.header_list, r.body)


def record(req, reply):
    """The fixture document (before normalisation)."""
    doc = {"request": {"method": req["method"], "path": req["path"], "body": req["body"]},
           "status": reply.status,
           "headers": {k: reply.headers[k] for k in KEPT_HEADERS if k in reply.headers}}
    if reply.events is not None:
        doc["events"] = [{"event": name, "data": data if data == "[DONE]" else json.loads(data)}
                         for name, data in reply.events]
    else:
        doc["body"] = json.loads(reply.raw) if reply.raw.strip() else None
    return doc


# --------------------------------------------------------------------------
# normalisation: stable placeholders for what legitimately varies
# --------------------------------------------------------------------------

ID_PATTERNS = [(re.compile(r"^chatcmpl-.+$"), "chatcmpl"), (re.compile(r"^msg_.+$"), "msg"),
               (re.compile(r"^toolu_.+$"), "toolu"), (re.compile(r"^call_.+$"), "call"),
               (re.compile(r"^req_.+$"), "req")]
REQUEST_ID_IN_TEXT = re.compile(r"request id ([0-9a-f]{16})")


class Normaliser:
    """One per response: the same value always gets the same placeholder."""

    def __init__(self):
        self.seen = {}      # (kind, value) -> placeholder
        self.count = {}     # kind -> n

    def ph(self, kind, value):
        key = (kind, value)
        if key not in self.seen:
            self.count[kind] = self.count.get(kind, 0) + 1
            self.seen[key] = "<%s-%d>" % (kind, self.count[kind])
        return self.seen[key]

    def string(self, s):
        for rx, kind in ID_PATTERNS:
            if rx.match(s):
                return self.ph(kind, s)
        return REQUEST_ID_IN_TEXT.sub(lambda m: "request id " + self.ph("request-id", m.group(1)), s)

    def value(self, v, key=None):
        if isinstance(v, dict):
            return {k: self.value(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if key == "created" and isinstance(v, int) and not isinstance(v, bool):
            return self.ph("created", v)
        if key == "responseId" and isinstance(v, str):
            return self.ph("responseId", v)
        if isinstance(v, str):
            return self.string(v)
        return v


def normalise(doc):
    n = Normaliser()
    out = dict(doc)
    hdrs = dict(doc["headers"])
    if "x-request-id" in hdrs:
        hdrs["x-request-id"] = n.ph("request-id", hdrs["x-request-id"])
    out["headers"] = hdrs
    if "events" in doc:
        out["events"] = [{"event": e["event"], "data": n.value(e["data"])} for e in doc["events"]]
    else:
        out["body"] = n.value(doc["body"])
    return out


# --------------------------------------------------------------------------
# fixture files and the readable diff
# --------------------------------------------------------------------------

def fixture_path(inbound, kind, case):
    return os.path.join(GOLDEN_DIR, "%s__%s__%s.json" % (inbound, kind, case))


def dump(doc):
    """Stable, reviewable text: one line per header/event, keys in the order received."""
    c = lambda v: json.dumps(v, ensure_ascii=False)
    lines = ["{", '  "request": %s,' % c(doc["request"]), '  "status": %s,' % c(doc["status"]),
             '  "headers": %s,' % c(doc["headers"])]
    if "events" in doc:
        lines.append('  "events": [')
        evs = doc["events"]
        for i, e in enumerate(evs):
            lines.append("    %s%s" % (c(e), "," if i < len(evs) - 1 else ""))
        lines.append("  ]")
    else:
        lines.append('  "body": %s' % c(doc["body"]))
    lines.append("}")
    return "\n".join(lines) + "\n"


def short(v, n=100):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "..."


def diff(exp, got, path, out):
    if isinstance(exp, dict) and isinstance(got, dict):
        for k in exp:
            if k not in got:
                out.append("%s.%s: missing (expected %s)" % (path, k, short(exp[k])))
            else:
                diff(exp[k], got[k], "%s.%s" % (path, k), out)
        for k in got:
            if k not in exp:
                out.append("%s.%s: unexpected (got %s)" % (path, k, short(got[k])))
    elif isinstance(exp, list) and isinstance(got, list):
        for i in range(min(len(exp), len(got))):
            diff(exp[i], got[i], "%s[%d]" % (path, i), out)
        if len(exp) != len(got):
            out.append("%s: expected %d items, got %d" % (path, len(exp), len(got)))
    elif exp != got or type(exp) is not type(got):
        out.append("%s: expected %s, got %s" % (path, short(exp), short(got)))


def event_label(e):
    d = e["data"]
    if e["event"]:
        return e["event"]
    if not isinstance(d, dict):
        return str(d)
    if "error" in d:
        return "error"
    ch = (d.get("choices") or [None])[0]
    if isinstance(ch, dict):
        delta = ch.get("delta") or {}
        if ch.get("finish_reason"):
            return "finish:%s" % ch["finish_reason"]
        return "delta:" + ",".join(sorted(delta)) if delta else "delta:{}"
    if "choices" in d:
        return "usage" if d.get("usage") else "empty"
    cand = (d.get("candidates") or [None])[0]
    if isinstance(cand, dict):
        return "candidate" + (":%s" % cand["finishReason"] if cand.get("finishReason") else "")
    return short(d, 40)


def compare(expected, got):
    """A readable list of differences ([] when equal)."""
    out = []
    if expected.get("request") != got.get("request"):
        out.append("the request differs from the one the fixture was recorded with "
                   "(re-record with GOLDEN_UPDATE=1 and review):")
        diff(expected.get("request"), got.get("request"), "request", out)
        return out
    for k in ("status", "headers"):
        diff(expected.get(k), got.get(k), k, out)
    if ("events" in expected) != ("events" in got):
        out.append("expected %s, got %s" % ("an SSE stream" if "events" in expected else "a JSON body",
                                            "an SSE stream" if "events" in got else "a JSON body"))
        return out
    if "events" not in got:
        diff(expected.get("body"), got.get("body"), "body", out)
        return out
    ee, ge = expected["events"], got["events"]
    el, gl = [event_label(e) for e in ee], [event_label(e) for e in ge]
    if el != gl:
        out.append("event sequence differs (%d expected, %d got):\n  expected %s\n  got      %s"
                   % (len(ee), len(ge), el, gl))
    # Align the two sequences on whole events, so one missing or extra event
    # is reported as such instead of shifting every later comparison; events
    # that differ in place are compared field by field.
    key = lambda e: json.dumps(e, sort_keys=True)
    sm = difflib.SequenceMatcher(a=[key(e) for e in ee], b=[key(e) for e in ge], autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        k = min(i2 - i1, j2 - j1) if op in ("equal", "replace") else 0
        for i, j in zip(range(i1, i1 + k), range(j1, j1 + k)):
            sub = []
            diff(ee[i], ge[j], "", sub)
            out.extend("event %d (%s)%s" % (j, gl[j], line) for line in sub)
        i1, j1 = i1 + k, j1 + k
        for i in range(i1, i2):
            out.append("missing event: expected event %d (%s) %s" % (i, el[i], short(ee[i]["data"], 160)))
        for j in range(j1, j2):
            out.append("unexpected event %d (%s) %s" % (j, gl[j], short(ge[j]["data"], 160)))
    return out


# --------------------------------------------------------------------------
# generic invariants per client dialect (run on the raw recording)
# --------------------------------------------------------------------------

def json_args(text, where):
    """Tool-call arguments as JSON (an AssertionError naming them if they do not parse)."""
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError("%s: arguments are not JSON: %r" % (where, text))


def check_usage_openai(u, where):
    assert isinstance(u, dict), "%s: no usage" % where
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert isinstance(u.get(k), int) and u[k] >= 0, "%s: usage.%s %r" % (where, k, u.get(k))
    assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0, "%s: empty usage %r" % (where, u)
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "%s: total != sum %r" % (where, u)


def check_error_status(reply, dialect, case):
    """An upstream error status reaches the client before any SSE, with that
    status, in the client's dialect; a 400's message is the upstream's, a 429
    (the gateway's own verdict once its attempts are spent) says when to retry."""
    want = error_status(case)
    assert reply.status == want, "status %d, want %d: %r" % (reply.status, want, reply.raw[:300])
    assert "application/json" in (reply.header("content-type") or ""), reply.headers
    doc = json.loads(reply.raw)
    if dialect == "openai":
        e = doc.get("error")
        assert isinstance(e, dict) and set(e) >= {"message", "type", "param", "code"}, doc
        assert isinstance(e["type"], str) and e["type"], doc
        msg = e["message"]
    elif dialect == "anthropic":
        assert doc.get("type") == "error" and isinstance(doc.get("error"), dict), doc
        assert doc["error"]["type"] == {400: "invalid_request_error", 429: "rate_limit_error"}[want], doc
        msg = doc["error"]["message"]
    else:
        e = doc.get("error")
        assert isinstance(e, dict), doc
        assert e["code"] == want and e["status"] == {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}[want], doc
        msg = e["message"]
    assert isinstance(msg, str) and msg, doc
    if want == 429:
        assert reply.header("retry-after") == "1", "Retry-After not relayed: %r" % reply.headers
    else:
        assert "mock fault: status 400" in msg, "the upstream's message is lost: %r" % doc


def check_sse_framing(reply, dialect):
    assert reply.status == 200
    ct = reply.header("content-type") or ""
    assert ct.startswith("text/event-stream"), "stream content-type %r" % ct
    assert reply.finished, "the chunked reply was not ended properly"
    raw = reply.raw
    assert raw.endswith(b"\n\n") or raw.endswith(b"\r\n\r\n"), \
        "the last SSE event is not terminated by a blank line: %r" % raw[-80:]
    assert reply.events, "no SSE events"


def check_openai(reply, kind, case):
    if error_status(case):
        return check_error_status(reply, "openai", case)
    model = model_for(kind, case)
    if not is_stream(case):
        assert reply.status == 200, reply.raw[:300]
        assert "application/json" in (reply.header("content-type") or "")
        d = json.loads(reply.raw)
        assert d["object"] == "chat.completion" and isinstance(d["created"], int) and d["id"], d
        ch = d["choices"]
        assert len(ch) == 1 and ch[0]["index"] == 0, d
        msg = ch[0]["message"]
        assert msg["role"] == "assistant" and "content" in msg, d
        if has_tools(case):
            assert ch[0]["finish_reason"] == "tool_calls", d
            calls = msg["tool_calls"]
            assert len(calls) == 1 and calls[0]["type"] == "function" and calls[0]["id"], d
            assert calls[0]["function"]["name"] == TOOL_NAME, d
            assert json_args(calls[0]["function"]["arguments"], "tool call") == TOOL_ARGS, d
        else:
            assert ch[0]["finish_reason"] == "stop", d
            assert msg["content"] == mock_text(model), d
            assert not msg.get("tool_calls"), d
        check_usage_openai(d.get("usage"), "body")
        return
    check_sse_framing(reply, "openai")
    evs = reply.events
    assert all(name == "" for name, _ in evs), "OpenAI chat streams have no event: lines %r" % evs
    data = [d for _, d in evs]
    errors = [i for i, d in enumerate(data) if d != "[DONE]" and "error" in json.loads(d)]
    done = [i for i, d in enumerate(data) if d == "[DONE]"]
    chunks = [json.loads(d) for d in data if d != "[DONE]" and "error" not in json.loads(d)]
    assert chunks, "no chunk before the end: %r" % data
    assert len({c["id"] for c in chunks}) == 1, "one id per stream: %r" % {c["id"] for c in chunks}
    assert len({c["created"] for c in chunks}) == 1, "one created per stream"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    roles = [c for c in chunks if c["choices"] and "role" in c["choices"][0]["delta"]]
    assert len(roles) == 1 and chunks[0] is roles[0], "exactly one role chunk, first"
    assert roles[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    if case.startswith("midstream_"):
        assert errors == [len(data) - 1], "the upstream failure must end the stream as an error event: %r" % data
        e = json.loads(data[-1])["error"]
        assert isinstance(e.get("message"), str) and e["message"] and "type" in e, e
        assert not done, "no [DONE] after an upstream failure"
        if case == "midstream_reset":
            assert e["code"] == "upstream_reset" and e["type"] == "upstream_error", e
        assert not finishes, "an upstream failure must not look like a normal finish: %r" % finishes
        assert text and mock_text(model).startswith(text) and text != mock_text(model), text
        return
    assert not errors, "unexpected error event: %r" % data
    assert done == [len(data) - 1], "exactly one [DONE], last: %r" % data
    assert len(finishes) == 1, "exactly one finish chunk: %r" % finishes
    fin = chunks.index(finishes[0])
    want = "tool_calls" if has_tools(case) else "stop"
    assert finishes[0]["choices"][0]["finish_reason"] == want, "finish_reason %r, want %r" % (
        finishes[0]["choices"][0]["finish_reason"], want)
    usage = [c for c in chunks if c.get("usage")]
    assert len(usage) == 1 and usage[0]["choices"] == [], "one usage chunk with choices []: %r" % usage
    assert chunks.index(usage[0]) == len(chunks) - 1 and chunks.index(usage[0]) > fin, \
        "the usage chunk comes after the finish, just before [DONE]"
    check_usage_openai(usage[0]["usage"], "usage chunk")
    assert all("usage" in c for c in chunks), "include_usage: every chunk carries usage (null)"
    calls = {}
    for c in chunks:
        if not c["choices"]:
            continue
        for tc in c["choices"][0]["delta"].get("tool_calls") or []:
            j = tc["index"]
            if j not in calls:
                assert tc.get("id") and tc.get("type") == "function" and tc["function"].get("name"), \
                    "the first fragment of tool call %d carries id, type and name: %r" % (j, tc)
                assert j == len(calls), "tool indices count 0, 1, ...: %r" % tc
                calls[j] = {"name": tc["function"]["name"], "args": tc["function"].get("arguments", "")}
            else:
                assert "id" not in tc and "name" not in tc.get("function", {}), \
                    "later fragments carry only index and arguments: %r" % tc
                calls[j]["args"] += tc["function"].get("arguments", "")
    if has_tools(case):
        assert list(calls) == [0], calls
        assert calls[0]["name"] == TOOL_NAME and json_args(calls[0]["args"], "streamed tool call") == TOOL_ARGS, calls
        assert chunks.index(finishes[0]) > max(i for i, c in enumerate(chunks)
                                               if c["choices"] and c["choices"][0]["delta"].get("tool_calls"))
    else:
        assert not calls, calls
        assert text == mock_text(model), text


def check_anthropic(reply, kind, case):
    if error_status(case):
        return check_error_status(reply, "anthropic", case)
    model = model_for(kind, case)
    if not is_stream(case):
        assert reply.status == 200, reply.raw[:300]
        d = json.loads(reply.raw)
        assert d["type"] == "message" and d["role"] == "assistant" and d["id"].startswith("msg_"), d
        assert d["stop_sequence"] is None, d
        u = d["usage"]
        assert u["input_tokens"] > 0 and u["output_tokens"] > 0, d
        if has_tools(case):
            assert d["stop_reason"] == "tool_use", d
            uses = [b for b in d["content"] if b["type"] == "tool_use"]
            assert len(uses) == 1 and uses[0]["id"] and uses[0]["name"] == TOOL_NAME, d
            assert uses[0]["input"] == TOOL_ARGS, d
        else:
            assert d["stop_reason"] == "end_turn", d
            assert [b["type"] for b in d["content"]] == ["text"] and d["content"][0]["text"] == mock_text(model), d
        return
    check_sse_framing(reply, "anthropic")
    evs = [(name, json.loads(data)) for name, data in reply.events]
    names = [n for n, _ in evs]
    for n, d in evs:
        assert n and d.get("type") == n, "event name %r must equal data.type %r" % (n, d.get("type"))
    assert names.count("message_start") == 1 and names[0] == "message_start", names
    m = evs[0][1]["message"]
    assert m["role"] == "assistant" and m["content"] == [] and m["id"].startswith("msg_"), m
    assert isinstance(m["usage"].get("input_tokens"), int), m
    # content blocks: sequential indices from 0, one open at a time
    open_idx, next_idx, blocks = None, 0, []
    for n, d in evs:
        if n == "content_block_start":
            assert open_idx is None, "block %s opened while %s is open" % (d["index"], open_idx)
            assert d["index"] == next_idx, "block indices count 0, 1, ...: %r" % d
            open_idx, next_idx = d["index"], next_idx + 1
            blocks.append({"block": d["content_block"], "text": "", "json": ""})
        elif n == "content_block_delta":
            assert d["index"] == open_idx, "delta for a block that is not open: %r" % d
            dl = d["delta"]
            if dl["type"] == "text_delta":
                blocks[-1]["text"] += dl["text"]
            elif dl["type"] == "input_json_delta":
                blocks[-1]["json"] += dl["partial_json"]
        elif n == "content_block_stop":
            assert d["index"] == open_idx, "stop for a block that is not open: %r" % d
            open_idx = None
    text = "".join(b["text"] for b in blocks)
    if case.startswith("midstream_"):
        assert names[-1] == "error" and names.count("error") == 1, names
        e = evs[-1][1]["error"]
        assert e.get("type") and isinstance(e.get("message"), str) and e["message"], e
        if case == "midstream_reset":
            assert e["type"] == "api_error", e
        assert "message_stop" not in names and "message_delta" not in names, \
            "an upstream failure must not look like a normal end: %r" % names
        assert text and mock_text(model).startswith(text) and text != mock_text(model), text
        return
    assert "error" not in names, names
    assert names[-1] == "message_stop" and names.count("message_stop") == 1, names
    assert open_idx is None, "a content block was left open"
    deltas = [d for n, d in evs if n == "message_delta"]
    assert len(deltas) == 1 and names.index("message_delta") == len(names) - 2, names
    md = deltas[0]
    assert md["delta"]["stop_reason"] == ("tool_use" if has_tools(case) else "end_turn"), md
    assert isinstance(md["usage"].get("output_tokens"), int) and md["usage"]["output_tokens"] > 0, md
    if has_tools(case):
        uses = [b for b in blocks if b["block"]["type"] == "tool_use"]
        assert len(uses) == 1, blocks
        tb = uses[0]["block"]
        assert tb["id"] and tb["name"] == TOOL_NAME and tb["input"] == {}, tb
        assert json_args(uses[0]["json"], "input_json_delta") == TOOL_ARGS, uses
    else:
        assert [b["block"]["type"] for b in blocks] == ["text"], blocks
        assert text == mock_text(model), text


def gemini_text(d):
    cand = d["candidates"][0]
    return "".join(p.get("text", "") for p in cand["content"]["parts"])


def check_gemini_usage(um, where):
    assert isinstance(um, dict), "%s: no usageMetadata" % where
    p, c, t = um.get("promptTokenCount"), um.get("candidatesTokenCount"), um.get("totalTokenCount")
    assert isinstance(p, int) and p > 0 and isinstance(c, int) and c > 0, "%s: %r" % (where, um)
    assert t == p + c + um.get("thoughtsTokenCount", 0) + um.get("toolUsePromptTokenCount", 0), \
        "%s: total != sum %r" % (where, um)


def check_gemini(reply, kind, case):
    if error_status(case):
        return check_error_status(reply, "gemini", case)
    model = model_for(kind, case)
    if not is_stream(case):
        assert reply.status == 200, reply.raw[:300]
        d = json.loads(reply.raw)
        cand = d["candidates"]
        assert len(cand) == 1 and cand[0]["content"]["role"] == "model", d
        assert cand[0]["finishReason"] == "STOP", d
        check_gemini_usage(d.get("usageMetadata"), "body")
        calls = [p["functionCall"] for p in cand[0]["content"]["parts"] if "functionCall" in p]
        if has_tools(case):
            assert len(calls) == 1 and calls[0]["name"] == TOOL_NAME and calls[0]["args"] == TOOL_ARGS, d
        else:
            assert not calls and gemini_text(d) == mock_text(model), d
        return
    check_sse_framing(reply, "gemini")
    evs = reply.events
    assert all(name == "" for name, _ in evs), "Gemini streams have no event: lines"
    assert not any(data == "[DONE]" for _, data in evs), "no [DONE] in a Gemini stream"
    docs = [json.loads(data) for _, data in evs]
    errors = [i for i, d in enumerate(docs) if "error" in d]
    chunks = [d for d in docs if "error" not in d]
    for d in chunks:
        cand = d["candidates"]
        assert len(cand) == 1 and cand[0]["content"]["role"] == "model", d
        assert isinstance(cand[0]["content"]["parts"], list), d
    finishes = [i for i, d in enumerate(docs) if "error" not in d and d["candidates"][0].get("finishReason")]
    text = "".join(gemini_text(d) for d in chunks)
    if case.startswith("midstream_"):
        assert errors == [len(docs) - 1], "the upstream failure must end the stream as an error: %r" % docs
        e = docs[-1]["error"]
        assert isinstance(e.get("code"), int) and e.get("status") and e.get("message"), e
        if case == "midstream_reset":
            # the same verdict whatever the provider's dialect (one hop or two)
            assert (e["code"], e["status"]) == (502, "UNAVAILABLE"), e
        assert not finishes, "an upstream failure must not look like a normal finish"
        assert text and mock_text(model).startswith(text) and text != mock_text(model), text
        return
    assert not errors, docs
    assert finishes == [len(docs) - 1], "exactly one chunk with finishReason, the last: %r" % docs
    last = docs[-1]
    assert last["candidates"][0]["finishReason"] == "STOP", last
    check_gemini_usage(last.get("usageMetadata"), "last chunk")
    calls = [p["functionCall"] for d in chunks for p in d["candidates"][0]["content"]["parts"]
             if "functionCall" in p]
    if has_tools(case):
        assert len(calls) == 1 and calls[0]["name"] == TOOL_NAME and calls[0]["args"] == TOOL_ARGS, calls
    else:
        assert not calls and text == mock_text(model), text


CHECKS = {"openai": check_openai, "anthropic": check_anthropic, "gemini": check_gemini}


# --------------------------------------------------------------------------
# passthrough: the client's bytes are the mock's bytes
# --------------------------------------------------------------------------

# Per-request values in the mock's output: its sequence number and the time.
MOCK_VARIABLE = [(re.compile(rb"(chatcmpl-mock-|msg_mock_|req_mock_|\"responseId\":\"mock-)\d+"), rb"\g<1>N"),
                 (re.compile(rb"\"created\":\d+"), rb"\"created\":0")]


def mock_variable_out(raw):
    for rx, rep in MOCK_VARIABLE:
        raw = rx.sub(rep, raw)
    return raw


def replay_direct(mock, last):
    """Sends the request the gateway sent upstream straight to the mock; returns
    (status, de-chunked body bytes)."""
    skip = {"host", "content-length", "transfer-encoding", "connection"}
    headers = {k: v for k, v in last["headers"].items() if k not in skip}
    conn = http.client.HTTPConnection(HOST, mock.port, timeout=10)
    try:
        conn.request(last["method"], last["path"], body=last["body"].encode("utf-8"), headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def first_difference(a, b):
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    return "first difference at byte %d:\n  mock    %r\n  gateway %r" % (
        i, b[max(0, i - 60):i + 60], a[max(0, i - 60):i + 60])


def check_passthrough(mock, reply, upstream):
    """Same dialect both sides: what the client got is what the mock sends for
    the request the gateway made."""
    status, raw = replay_direct(mock, upstream)
    assert reply.status == status, "status %d, the mock answers %d" % (reply.status, status)
    got, want = mock_variable_out(reply.raw), mock_variable_out(raw)
    assert got == want, ("a same-dialect pair must relay the mock's bytes untouched; "
                         + first_difference(got, want))


# --------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------

MATRIX = [(i, k, c) for i in INBOUND for k in KINDS for c in CASES]


@pytest.mark.parametrize("inbound,kind,case", MATRIX, ids=["%s__%s__%s" % m for m in MATRIX])
def test_golden(gw, mock, inbound, kind, case):
    req = build_request(inbound, kind, case)
    reply = send(gw, req)
    upstream = mock.last()
    assert gw.alive(), "the gateway died:\n" + gw.stderr_text()[-3000:]
    dialect = DIALECT[inbound]
    doc = record(req, reply)

    # 1. invariants of the client's dialect, whatever the fixture says
    CHECKS[dialect](reply, kind, case)

    # 2. the fixture, event by event
    got = normalise(doc)
    path = fixture_path(inbound, kind, case)
    if UPDATE:
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        with open(path, "w") as f:
            f.write(dump(got))
    elif not os.path.exists(path):
        pytest.fail("missing fixture %s (record it with GOLDEN_UPDATE=1, then read it)"
                    % os.path.relpath(path, REPO), pytrace=False)
    else:
        with open(path) as f:
            expected = json.load(f)
        problems = compare(expected, json.loads(dump(got)))
        if problems:
            more = len(problems) - 40
            pytest.fail("%s__%s__%s differs from %s:\n%s%s" % (
                inbound, kind, case, os.path.relpath(path, REPO), "\n".join(problems[:40]),
                "\n... %d more" % more if more > 0 else ""), pytrace=False)

    # 3. same dialect on both sides: the mock's bytes, untouched. Not for a
    # 429 (a retryable status ends in the gateway's own error once its
    # attempts are spent; Retry-After and the dialect's shape are checked
    # above) nor a reset (the mock's reply is cut; the error event after it is
    # the gateway's).
    if dialect == DIALECT[kind] and error_status(case) != 429 and case != "midstream_reset":
        check_passthrough(mock, reply, upstream)


def test_every_fixture_belongs_to_the_matrix():
    """A renamed case must not leave a stale fixture behind."""
    if not os.path.isdir(GOLDEN_DIR):
        return
    known = {os.path.basename(fixture_path(*m)) for m in MATRIX}
    stale = sorted(f for f in os.listdir(GOLDEN_DIR) if f.endswith(".json") and f not in known)
    assert not stale, "fixtures outside the matrix: %s" % stale
