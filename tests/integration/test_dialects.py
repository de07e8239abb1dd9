"""Any dialect in, any provider out: OpenAI, Anthropic and Gemini clients against
OpenAI, Anthropic and Gemini providers (the mock speaks all three), through the
real binary. A same-dialect pair is relayed untouched."""
import json

from conftest import (chat_body, content_events, error_events, mock_text, provider, stream_text,
                      stream_tool_calls)

ANT_HEADERS = {"x-api-key": "client-key", "anthropic-version": "2023-06-01", "Content-Type": "application/json"}
GEM_HEADERS = {"x-goog-api-key": "client-key", "Content-Type": "application/json"}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": [], "x-big": 12345678901234567890}}}]


def root(mock, **spec):
    """Host-root base URL (Anthropic and Gemini kinds append their own paths)."""
    return mock.url(**spec)[:-len("/v1")] if spec else "http://127.0.0.1:%d" % mock.port


def cfg(mock, faults=None, **extra):
    providers = {
        "oai": provider(mock.url(), models=["mock-small"]),
        "ant": dict(provider(root(mock), models=["claude-mock"], api_key="ant-key"), kind="anthropic"),
        "gem": dict(provider(root(mock), models=["gemini-mock"], api_key="gem-key"), kind="gemini"),
    }
    providers.update(extra)
    return {"providers": providers}


def anthropic_body(model, stream=False, **extra):
    b = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "Say hello"}]}
    if stream:
        b["stream"] = True
    b.update(extra)
    return b


def gemini_body(**extra):
    b = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    b.update(extra)
    return b


def anthropic_text(events):
    return "".join(e.json()["delta"]["text"] for e in events
                   if e.event == "content_block_delta" and e.json()["delta"]["type"] == "text_delta")


# ---- OpenAI clients ----

def test_openai_client_reaches_an_anthropic_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.chat(chat_body("claude-mock"))
    assert r.status == 200, r
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == mock_text("claude-mock")
    assert body["choices"][0]["finish_reason"] == "stop"
    last = mock.last()
    assert last["path"] == "/v1/messages"
    assert last["headers"]["x-api-key"] == "ant-key"
    sent = json.loads(last["body"])
    assert sent["max_tokens"] > 0 and sent["messages"][0]["role"] == "user"
    line = gw.access_for(r.header("x-request-id"))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7, line


def test_openai_client_streams_from_an_anthropic_provider(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(chat_body("claude-mock", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200 and c.saw_done
    assert stream_text(c.events) == mock_text("claude-mock")
    roles = [e for e in c.data_events if not e.is_done and e.json()["choices"]
             and "role" in e.json()["choices"][0]["delta"]]
    assert len(roles) == 1, "exactly one role chunk"
    line = gw.access_for(c.header("x-request-id"))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7, line


def test_openai_tools_survive_an_anthropic_provider_both_ways(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(chat_body("claude-mock", stream=True, tools=TOOLS))
    c.read_all()
    c.close()
    calls = stream_tool_calls(c.events)
    assert calls and calls[0]["name"] == "get_weather", calls
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    sent = mock.last()["body"]
    # the schema went upstream verbatim: empty array and a 20-digit integer intact
    assert '"required":[]' in sent.replace(" ", "")
    assert "12345678901234567890" in sent


def test_openai_client_reaches_a_gemini_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.chat(chat_body("gemini-mock"))
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == mock_text("gemini-mock")
    last = mock.last()
    assert last["path"].startswith("/v1beta/models/gemini-mock:generateContent")
    assert last["headers"]["x-goog-api-key"] == "gem-key"
    c = gw.stream(chat_body("gemini-mock", stream=True))
    c.read_all()
    c.close()
    assert c.saw_done and stream_text(c.events) == mock_text("gemini-mock")
    assert ":streamGenerateContent" in mock.last()["path"] and "alt=sse" in mock.last()["path"]


# ---- Anthropic clients ----

def test_anthropic_client_reaches_an_openai_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("POST", "/v1/messages", json.dumps(anthropic_body("mock-small")).encode(), ANT_HEADERS)
    assert r.status == 200, r
    m = r.json()
    assert m["type"] == "message" and m["role"] == "assistant"
    assert m["content"][0]["text"] == mock_text("mock-small")
    assert m["stop_reason"] == "end_turn"
    assert m["usage"]["output_tokens"] == 7
    assert mock.last()["path"] == "/v1/chat/completions"


def test_anthropic_client_streams_from_an_openai_provider(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(anthropic_body("mock-small", stream=True), headers=ANT_HEADERS, path="/v1/messages")
    c.read_all()
    c.close()
    names = [e.event for e in c.events]
    assert names[0] == "message_start" and names[-1] == "message_stop", names
    assert names.count("message_start") == 1
    assert "message_delta" in names
    assert anthropic_text(c.events) == mock_text("mock-small")
    assert not any(e.is_done for e in c.events), "no [DONE] in an Anthropic stream"


def test_anthropic_client_tools_reach_a_gemini_provider(gateway, mock):
    gw = gateway(cfg(mock))
    tools = [{"name": "get_weather", "description": "weather",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    r = gw.request("POST", "/v1/messages",
                   json.dumps(anthropic_body("gemini-mock", tools=tools)).encode(), ANT_HEADERS)
    assert r.status == 200, r
    block = [b for b in r.json()["content"] if b["type"] == "tool_use"][0]
    assert block["name"] == "get_weather" and block["input"] == {"city": "Paris"}
    sent = json.loads(mock.last()["body"])
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def test_anthropic_pair_is_relayed_untouched(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(anthropic_body("claude-mock", stream=True), headers=ANT_HEADERS, path="/v1/messages")
    c.read_all()
    c.close()
    # the mock's ping event only survives when nothing translates the stream
    assert "ping" in [e.event for e in c.events]
    assert anthropic_text(c.events) == mock_text("claude-mock")
    assert mock.last()["headers"]["x-api-key"] == "ant-key", "the provider's key, never the client's"


def test_anthropic_client_errors_come_in_anthropic_shape(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("POST", "/v1/messages", json.dumps(anthropic_body("no-such-model")).encode(), ANT_HEADERS)
    assert r.status == 404, r
    e = r.json()
    assert e["type"] == "error" and e["error"]["type"] == "not_found_error", e


def test_anthropic_client_gets_an_error_event_when_the_openai_upstream_fails_mid_stream(gateway, mock, faults):
    gw = gateway(cfg(mock, broken=provider(faults(error_event=3), models=["mock-broken"], retries=0)))
    c = gw.stream(anthropic_body("mock-broken", stream=True), headers=ANT_HEADERS, path="/v1/messages")
    c.read_all()
    c.close()
    names = [e.event for e in c.events]
    assert "error" in names, names
    assert "message_stop" not in names, "an upstream failure must not look like a normal end"


# ---- Gemini clients ----

def test_gemini_client_reaches_an_openai_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("POST", "/v1beta/models/mock-small:generateContent", json.dumps(gemini_body()).encode(),
                   GEM_HEADERS)
    assert r.status == 200, r
    cand = r.json()["candidates"][0]
    assert cand["content"]["parts"][0]["text"] == mock_text("mock-small")
    assert cand["finishReason"] == "STOP"


def test_gemini_sdk_style_path_streams_from_an_anthropic_provider(gateway, mock):
    gw = gateway(cfg(mock))
    # the google-genai SDK calls /v1/models/{model}:streamGenerateContent?alt=sse by default
    c = gw.stream(gemini_body(), headers=GEM_HEADERS, path="/v1/models/claude-mock:streamGenerateContent?alt=sse")
    c.read_all()
    c.close()
    assert c.status == 200
    text = "".join(p.get("text", "") for e in c.events if not e.is_done
                   for p in e.json()["candidates"][0]["content"]["parts"])
    assert text == mock_text("claude-mock")
    assert mock.last()["path"] == "/v1/messages"


def test_gemini_client_errors_come_in_gemini_shape(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("POST", "/v1beta/models/no-such-model:generateContent", json.dumps(gemini_body()).encode(),
                   GEM_HEADERS)
    assert r.status == 404, r
    e = r.json()["error"]
    assert e["code"] == 404 and e["status"] == "NOT_FOUND", e


def test_rate_limited_translated_attempts_end_in_the_client_dialect_with_retry_after(gateway, mock, faults):
    limited = dict(provider(root(mock, status=429, retry_after=1), models=["claude-limited"], retries=0,
                            api_key="ant-key"), kind="anthropic")
    gw = gateway(cfg(mock, limited=limited))
    r = gw.request("POST", "/v1beta/models/claude-limited:generateContent", json.dumps(gemini_body()).encode(),
                   GEM_HEADERS)
    assert r.status == 429, r
    assert r.header("retry-after")
    assert r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_same_dialect_streams_still_count_usage(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(gemini_body(), headers=GEM_HEADERS, path="/v1beta/models/gemini-mock:streamGenerateContent?alt=sse")
    c.read_all()
    c.close()
    line = gw.access_for(c.header("x-request-id"))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7, line
    c = gw.stream(anthropic_body("claude-mock", stream=True), headers=ANT_HEADERS, path="/v1/messages")
    c.read_all()
    c.close()
    line = gw.access_for(c.header("x-request-id"))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7, line
