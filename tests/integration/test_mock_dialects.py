"""The mock provider's Anthropic, Gemini and Azure dialects, checked directly
against the mock (no gateway), so translation specs can rely on their shapes
(docs/internals.md section 3)."""
import json

import pytest

from conftest import SSEClient, http_request, mock_stream_text, mock_text

ANT_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GEM_HEADERS = {"x-goog-api-key": "k"}
TOOL_ARGS = {"city": "Paris"}


def prefix(base_url):
    """'/f/<spec>' from a mock base URL ('' without a spec)."""
    path = "/" + base_url.split("://", 1)[1].split("/", 1)[1]
    assert path.endswith("/v1")
    return path[:-3]


def ant_body(model="claude-mock", stream=False, **extra):
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello"}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


ANT_TOOLS = [{"name": "get_weather", "description": "w",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def gem_body(**extra):
    body = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    body.update(extra)
    return body


GEM_TOOLS = [{"googleSearch": {}},
             {"functionDeclarations": [{"name": "get_weather", "parameters": {
                 "type": "object", "properties": {"city": {"type": "string"}}}}]}]


def ant_stream(mock, body, pre="", headers=ANT_HEADERS):
    c = SSEClient(mock.port, path=pre + "/v1/messages", body=body, headers=headers)
    try:
        c.read_all()
    finally:
        c.close()
    return c


def gem_stream(mock, model, body, pre="", sse=True, headers=GEM_HEADERS):
    path = "%s/v1beta/models/%s:streamGenerateContent%s" % (pre, model, "?alt=sse" if sse else "")
    c = SSEClient(mock.port, path=path, body=body, headers=headers)
    try:
        c.read_all()
    finally:
        c.close()
    return c


def assert_anthropic_error(resp, status, etype):
    assert resp.status == status, resp
    assert "application/json" in (resp.header("content-type") or "")
    doc = resp.json()
    assert doc["type"] == "error", doc
    assert doc["error"]["type"] == etype, doc
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
    return doc


def assert_gemini_error(resp, code, status):
    assert resp.status == code, resp
    doc = resp.json()
    assert doc["error"]["code"] == code and doc["error"]["status"] == status, doc
    assert doc["error"]["message"]
    return doc


# --------------------------------------------------------------------------
# Anthropic
# --------------------------------------------------------------------------

def test_anthropic_message_non_stream(mock):
    body = ant_body()
    sent = json.dumps(body).encode()
    r = http_request(mock.port, "POST", "/v1/messages", sent, ANT_HEADERS)
    assert r.status == 200, r
    d = r.json()
    assert d["id"].startswith("msg_mock_")
    assert r.header("request-id") and r.header("request-id").startswith("req_mock_")
    assert {k: d[k] for k in ("type", "role", "model", "stop_reason", "stop_sequence")} == {
        "type": "message", "role": "assistant", "model": "claude-mock",
        "stop_reason": "end_turn", "stop_sequence": None}
    assert d["content"] == [{"type": "text", "text": mock_text("claude-mock")}]
    assert d["usage"] == {"input_tokens": len(sent) // 4, "output_tokens": 7}
    last = mock.last()
    assert last["path"] == "/v1/messages" and last["body"].encode() == sent
    assert last["headers"]["anthropic-version"] == "2023-06-01"


def test_anthropic_tool_use_non_stream_and_tool_choice_none(mock):
    r = http_request(mock.port, "POST", "/v1/messages", ant_body(tools=ANT_TOOLS), ANT_HEADERS)
    d = r.json()
    assert d["stop_reason"] == "tool_use"
    assert d["content"] == [{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather",
                             "input": TOOL_ARGS}]
    assert d["usage"]["output_tokens"] == 2
    r = http_request(mock.port, "POST", "/v1/messages",
                     ant_body(tools=ANT_TOOLS, tool_choice={"type": "none"}), ANT_HEADERS)
    assert r.json()["content"][0]["type"] == "text" and r.json()["stop_reason"] == "end_turn"
    r = http_request(mock.port, "POST", "/v1/messages",
                     ant_body(tools=ANT_TOOLS, tool_choice={"type": "any"}), ANT_HEADERS)
    assert r.json()["stop_reason"] == "tool_use"


def test_anthropic_auth_and_validation_errors(mock):
    bearer = {"Authorization": "Bearer t", "anthropic-version": "2026-10-21"}
    assert http_request(mock.port, "POST", "/v1/messages", ant_body(), bearer).status == 200
    assert_anthropic_error(http_request(mock.port, "POST", "/v1/messages", ant_body(),
                                        {"anthropic-version": "2023-06-01"}), 401, "authentication_error")
    assert_anthropic_error(http_request(mock.port, "POST", "/v1/messages", ant_body(), {"x-api-key": "k"}),
                           400, "invalid_request_error")
    no_max = ant_body()
    del no_max["max_tokens"]
    doc = assert_anthropic_error(http_request(mock.port, "POST", "/v1/messages", no_max, ANT_HEADERS),
                                 400, "invalid_request_error")
    assert "max_tokens" in doc["error"]["message"]
    assert_anthropic_error(http_request(mock.port, "POST", "/v1/messages", "{nope", ANT_HEADERS),
                           400, "invalid_request_error")
    assert_anthropic_error(http_request(mock.port, "GET", "/v1/messages", None, ANT_HEADERS),
                           405, "invalid_request_error")


def test_anthropic_count_tokens(mock):
    body = {"model": "claude-mock", "messages": [{"role": "user", "content": "hello there"}]}
    sent = json.dumps(body).encode()
    r = http_request(mock.port, "POST", "/v1/messages/count_tokens", sent, ANT_HEADERS)
    # count_tokens counts words (not bytes / 4): "hello there"
    assert r.status == 200 and r.json() == {"input_tokens": 2}, r


def test_anthropic_stream_events(mock):
    body = ant_body(stream=True)
    c = ant_stream(mock, body)
    assert c.status == 200 and c.finished
    assert c.header("content-type").startswith("text/event-stream")
    names = [e.event for e in c.events]
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 7 + [
        "content_block_stop", "message_delta", "message_stop"], names
    for e in c.events:
        assert e.json()["type"] == e.event
    assert not c.saw_done and b"[DONE]" not in c.raw_body
    start = c.events[0].json()["message"]
    assert start["id"].startswith("msg_mock_") and start["content"] == [] and start["model"] == "claude-mock"
    assert start["usage"]["input_tokens"] == len(json.dumps(body)) // 4
    assert c.events[1].json()["content_block"] == {"type": "text", "text": ""}
    deltas = [e.json()["delta"] for e in c.events if e.event == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas)
    assert "".join(d["text"] for d in deltas) == mock_text("claude-mock")
    md = c.events[-2].json()
    assert md["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert md["usage"]["output_tokens"] == 7


def test_anthropic_stream_tool_use(mock):
    c = ant_stream(mock, ant_body(stream=True, tools=ANT_TOOLS))
    block = c.events[1].json()["content_block"]
    assert block == {"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}}
    frags = [e.json()["delta"] for e in c.events if e.event == "content_block_delta"]
    assert [f["type"] for f in frags] == ["input_json_delta"] * 2
    assert [f["partial_json"] for f in frags] == ['{"city":', '"Paris"}']
    assert json.loads("".join(f["partial_json"] for f in frags)) == TOOL_ARGS
    md = [e.json() for e in c.events if e.event == "message_delta"][0]
    assert md["delta"]["stop_reason"] == "tool_use" and md["usage"]["output_tokens"] == 2


@pytest.mark.parametrize("status,etype", [(429, "rate_limit_error"), (529, "overloaded_error"),
                                          (500, "api_error"), (503, "api_error"),
                                          (400, "invalid_request_error")])
def test_anthropic_status_fault_uses_anthropic_error_shape(mock, faults, status, etype):
    pre = prefix(faults(status=status, retry_after=3))
    r = http_request(mock.port, "POST", pre + "/v1/messages", ant_body(), ANT_HEADERS)
    assert_anthropic_error(r, status, etype)
    assert r.header("retry-after") == "3"


def test_anthropic_fail_first_then_success(mock, faults):
    pre = prefix(faults(status=529, fail_first=1))
    assert http_request(mock.port, "POST", pre + "/v1/messages", ant_body(), ANT_HEADERS).status == 529
    assert http_request(mock.port, "POST", pre + "/v1/messages", ant_body(), ANT_HEADERS).status == 200


def test_anthropic_error_event(mock, faults):
    c = ant_stream(mock, ant_body(stream=True), prefix(faults(error_event=2)))
    assert c.finished
    names = [e.event for e in c.events]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta",
                     "content_block_delta", "error"], names
    assert c.events[-1].json() == {"type": "error", "error": {"type": "overloaded_error",
                                                              "message": "mock mid-stream failure"}}


def test_anthropic_stream_shape_faults(mock, faults):
    c = ant_stream(mock, ant_body(stream=True), prefix(faults(events=3, crlf=1)))
    assert b"\r\n\r\n" in c.raw_body and b"\n\n" not in c.raw_body.replace(b"\r\n", b"")
    text = "".join(e.json()["delta"]["text"] for e in c.events if e.event == "content_block_delta")
    assert text == mock_stream_text("claude-mock", 3)
    assert c.events[-2].json()["usage"]["output_tokens"] == 3
    c = ant_stream(mock, ant_body(stream=True), prefix(faults(malformed=1)))
    assert b'data: {"type":\n\n' in c.raw_body and c.events[-1].event == "message_stop"
    c = ant_stream(mock, ant_body(stream=True), prefix(faults(reset_after=2)))
    assert not c.finished and c.eof
    assert [e.event for e in c.events].count("content_block_delta") == 2


def test_anthropic_body_kb_and_bad_json(mock, faults):
    r = http_request(mock.port, "POST", prefix(faults(body_kb=2)) + "/v1/messages", ant_body(), ANT_HEADERS)
    assert len(r.json()["padding"]) == 2048
    r = http_request(mock.port, "POST", prefix(faults(bad_json=1)) + "/v1/messages", ant_body(), ANT_HEADERS)
    assert r.status == 200
    with pytest.raises(ValueError):
        r.json()


# --------------------------------------------------------------------------
# Gemini
# --------------------------------------------------------------------------

def test_gemini_generate_content(mock):
    body = gem_body(systemInstruction={"parts": [{"text": "terse"}]}, generationConfig={"temperature": 0})
    sent = json.dumps(body).encode()
    r = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:generateContent", sent, GEM_HEADERS)
    assert r.status == 200, r
    d = r.json()
    n = len(sent) // 4
    assert d["candidates"] == [{"content": {"role": "model", "parts": [{"text": mock_text("gemini-mock")}]},
                                "finishReason": "STOP", "index": 0}]
    assert d["usageMetadata"] == {"promptTokenCount": n, "candidatesTokenCount": 7, "totalTokenCount": n + 7}
    assert d["modelVersion"] == "gemini-mock" and d["responseId"].startswith("mock-")


def test_gemini_v1_path_model_with_slash_and_query_key(mock):
    r = http_request(mock.port, "POST", "/v1/models/alpha/m-fast:generateContent?key=abc", gem_body())
    assert r.status == 200, r
    assert r.json()["modelVersion"] == "alpha/m-fast"
    assert mock.last()["path"] == "/v1/models/alpha/m-fast:generateContent?key=abc"
    # the OpenAI model endpoints under /v1/models/ are untouched
    assert http_request(mock.port, "GET", "/v1/models/mock-small").json()["id"] == "mock-small"


def test_gemini_function_call_and_mode_none(mock):
    r = http_request(mock.port, "POST", "/v1beta/models/g:generateContent", gem_body(tools=GEM_TOOLS),
                     GEM_HEADERS)
    cand = r.json()["candidates"][0]
    assert cand["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": TOOL_ARGS}}]
    assert cand["finishReason"] == "STOP"
    r = http_request(mock.port, "POST", "/v1beta/models/g:generateContent",
                     gem_body(tools=GEM_TOOLS, toolConfig={"functionCallingConfig": {"mode": "NONE"}}),
                     GEM_HEADERS)
    assert r.json()["candidates"][0]["content"]["parts"] == [{"text": mock_text("g")}]


def test_gemini_errors_and_count_tokens(mock):
    assert_gemini_error(http_request(mock.port, "POST", "/v1beta/models/g:generateContent", gem_body()),
                        403, "PERMISSION_DENIED")
    assert_gemini_error(http_request(mock.port, "POST", "/v1beta/models/g:generateContent", {}, GEM_HEADERS),
                        400, "INVALID_ARGUMENT")
    assert_gemini_error(http_request(mock.port, "POST", "/v1beta/models/g:generateContent", "{", GEM_HEADERS),
                        400, "INVALID_ARGUMENT")
    assert_gemini_error(http_request(mock.port, "POST", "/v1beta/models/g:embedContent", gem_body(),
                                     GEM_HEADERS), 404, "NOT_FOUND")
    sent = json.dumps(gem_body()).encode()
    r = http_request(mock.port, "POST", "/v1beta/models/g:countTokens", sent, GEM_HEADERS)
    # countTokens counts words (not bytes / 4): "Say hello"
    assert r.status == 200 and r.json() == {"totalTokens": 2}, r


def test_gemini_stream_sse(mock):
    body = gem_body()
    c = gem_stream(mock, "gemini-mock", body)
    assert c.status == 200 and c.finished
    assert c.header("content-type").startswith("text/event-stream")
    assert c.raw_body.count(b"\r\n\r\n") == 7 and b"[DONE]" not in c.raw_body
    chunks = [e.json() for e in c.events]
    assert len(chunks) == 7 and all(e.event == "" for e in c.events)
    text = "".join(p["text"] for ch in chunks for p in ch["candidates"][0]["content"]["parts"])
    assert text == mock_text("gemini-mock")
    assert all("finishReason" not in ch["candidates"][0] for ch in chunks[:-1])
    n = len(json.dumps(body)) // 4
    assert chunks[0]["usageMetadata"] == {"promptTokenCount": n, "totalTokenCount": n}
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {"promptTokenCount": n, "candidatesTokenCount": 7,
                                           "totalTokenCount": n + 7}
    assert all(ch["modelVersion"] == "gemini-mock" for ch in chunks)


def test_gemini_stream_json_array(mock):
    c = gem_stream(mock, "g", gem_body(), sse=False)
    assert c.status == 200 and c.finished
    assert c.header("content-type").startswith("application/json")
    arr = json.loads(c.raw_body)
    assert len(arr) == 7 and arr[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(x["candidates"][0]["content"]["parts"][0]["text"] for x in arr) == mock_text("g")


def test_gemini_stream_function_call(mock):
    c = gem_stream(mock, "g", gem_body(tools=GEM_TOOLS))
    chunks = [e.json() for e in c.events]
    assert len(chunks) == 1
    cand = chunks[0]["candidates"][0]
    assert cand["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": TOOL_ARGS}}]
    assert cand["finishReason"] == "STOP" and chunks[0]["usageMetadata"]["candidatesTokenCount"] == 1


@pytest.mark.parametrize("status,name", [(429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"),
                                         (503, "UNAVAILABLE"), (400, "INVALID_ARGUMENT")])
def test_gemini_status_fault_uses_gemini_error_shape(mock, faults, status, name):
    pre = prefix(faults(status=status))
    r = http_request(mock.port, "POST", pre + "/v1beta/models/g:streamGenerateContent?alt=sse", gem_body(),
                     GEM_HEADERS)
    assert_gemini_error(r, status, name)


def test_gemini_error_event(mock, faults):
    c = gem_stream(mock, "g", gem_body(), prefix(faults(error_event=2)))
    chunks = [e.json() for e in c.events]
    assert len(chunks) == 3 and c.finished
    assert chunks[-1] == {"error": {"code": 500, "message": "mock mid-stream failure", "status": "INTERNAL"}}
    # N beyond the content: all words, no finishReason, then the error
    c = gem_stream(mock, "g", gem_body(), prefix(faults(error_event=99)))
    chunks = [e.json() for e in c.events]
    assert len(chunks) == 8 and "error" in chunks[-1]
    assert not any("finishReason" in ch["candidates"][0] for ch in chunks[:-1])
    c = gem_stream(mock, "g", gem_body(), prefix(faults(error_event=1)), sse=False)
    arr = json.loads(c.raw_body)
    assert len(arr) == 2 and arr[-1]["error"]["status"] == "INTERNAL"


def test_gemini_stream_shape_faults(mock, faults):
    c = gem_stream(mock, "g", gem_body(), prefix(faults(events=3, cr=1)))
    assert b"\r\r" in c.raw_body and b"\n" not in c.raw_body
    chunks = [e.json() for e in c.events]
    assert "".join(ch["candidates"][0]["content"]["parts"][0]["text"] for ch in chunks) == \
        mock_stream_text("g", 3)
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    c = gem_stream(mock, "g", gem_body(), prefix(faults(reset_after=1)))
    assert c.eof and not c.finished and len(c.events) == 1
    c = gem_stream(mock, "g", gem_body(), prefix(faults(malformed=1)))
    assert b'data: {"candidates":\r\n\r\n' in c.raw_body


# --------------------------------------------------------------------------
# Azure
# --------------------------------------------------------------------------

def test_azure_deployment_is_the_model(mock):
    path = "/openai/deployments/my-4o/chat/completions?api-version=2024-10-21"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    r = http_request(mock.port, "POST", path, body, {"api-key": "k"})
    assert r.status == 200, r
    d = r.json()
    assert d["model"] == "my-4o" and d["choices"][0]["message"]["content"] == mock_text("my-4o")
    assert mock.last()["path"] == path
    r = http_request(mock.port, "POST", path, body)
    assert r.status == 401 and r.json()["error"]["code"] == "401"
    c = SSEClient(mock.port, path=path, body=dict(body, model="ignored", stream=True),
                  headers={"api-key": "k"})
    c.read_all()
    c.close()
    assert c.saw_done and all(ch["model"] == "my-4o" for ch in c.chunks())


def test_stats_count_every_dialect(mock):
    before = mock.stats()["requests"]
    http_request(mock.port, "POST", "/v1/messages", ant_body(), ANT_HEADERS)
    http_request(mock.port, "POST", "/v1beta/models/g:countTokens", gem_body(), GEM_HEADERS)
    http_request(mock.port, "POST", "/openai/deployments/d/chat/completions", {"messages": []}, {"api-key": "k"})
    assert mock.stats()["requests"] == before + 3
