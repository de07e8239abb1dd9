"""Any dialect in, any provider out: OpenAI, Anthropic and Gemini clients against
OpenAI, Anthropic and Gemini providers (the mock speaks all three), through the
real binary. A same-dialect pair is relayed untouched."""
import json
import re
import time

from conftest import (chat_body, content_events, error_events, http_request, mock_text, provider, stream_text,
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


# ---- token counting across dialects ----
# The mock counts words (of every "text", "content" and "system" string), not bytes / 4 like the
# gateway's own estimate, so an exact number below can only have come from the provider.

COUNT_TEXT = "Count these five words please"      # 5 words, 29 bytes
COUNT_SYSTEM = "Answer very tersely"              # 3 words, 19 bytes
COUNT_WORDS = 8
COUNT_ESTIMATE = -(-(len(COUNT_TEXT) + len(COUNT_SYSTEM)) // 4)  # what bytes/4 would say: 12
ANT_TOOLS = [{"name": "get_weather", "description": "Weather for a city",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": []}}]


def anthropic_count_body(model):
    return {"model": model, "system": COUNT_SYSTEM, "tools": ANT_TOOLS,
            "messages": [{"role": "user", "content": COUNT_TEXT}]}


def gemini_count_request():
    return {"contents": [{"role": "user", "parts": [{"text": COUNT_TEXT}]}],
            "systemInstruction": {"parts": [{"text": COUNT_SYSTEM}]},
            "generationConfig": {"maxOutputTokens": 5, "temperature": 0.5}}


def test_the_mock_counts_words_and_refuses_a_top_level_system_instruction_like_the_real_api(mock):
    # what makes the tests below conclusive: the gateway must wrap, and the count is not bytes/4
    assert COUNT_WORDS != COUNT_ESTIMATE
    hdr = {"x-goog-api-key": "k"}
    r = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:countTokens", gemini_count_request(), hdr)
    assert r.status == 400, r
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT" and "systemInstruction" in r.json()["error"]["message"]
    r = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:countTokens",
                     {"contents": [{"parts": [{"text": "a"}]}], "tools": []}, hdr)
    assert r.status == 400 and "tools" in r.json()["error"]["message"], r
    r = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:countTokens",
                     {"generateContentRequest": dict(gemini_count_request(), model="models/gemini-mock")}, hdr)
    assert r.status == 200 and r.json() == {"totalTokens": COUNT_WORDS}, r
    r = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:countTokens",
                     {"generateContentRequest": gemini_count_request()}, hdr)
    assert r.status == 400 and "GenerateContentRequest.model" in r.json()["error"]["message"], r


def test_an_anthropic_client_counts_tokens_exactly_on_a_gemini_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("POST", "/v1/messages/count_tokens", json.dumps(anthropic_count_body("gemini-mock")).encode(),
                   ANT_HEADERS)
    assert r.status == 200, r
    assert r.json() == {"input_tokens": COUNT_WORDS}, r
    assert r.header("x-moongate-token-estimate") is None
    last = mock.last()
    assert last["path"] == "/v1beta/models/gemini-mock:countTokens"
    assert last["headers"]["x-goog-api-key"] == "gem-key"
    sent = json.loads(last["body"])
    assert list(sent) == ["generateContentRequest"], sent
    g = sent["generateContentRequest"]
    assert g["model"] == "models/gemini-mock"
    assert g["systemInstruction"] == {"parts": [{"text": COUNT_SYSTEM}]}
    assert g["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert g["contents"] == [{"role": "user", "parts": [{"text": COUNT_TEXT}]}]
    # a count is not usage: the access line keeps its tokens null, as for a relayed count
    line = gw.access_for(r.header("x-request-id"))
    assert line["route"] == "count_tokens" and line["provider"] == "gem" and line["status"] == 200, line
    assert line["prompt_tokens"] is None and line["completion_tokens"] is None, line


def test_a_gemini_client_counts_tokens_exactly_on_an_anthropic_provider(gateway, mock):
    gw = gateway(cfg(mock))
    for path, body in (
            ("/v1beta/models/claude-mock:countTokens", gemini_count_request()),
            # the google-genai SDK's path, and the generateContentRequest form
            ("/v1/models/claude-mock:countTokens",
             {"generateContentRequest": dict(gemini_count_request(), model="models/claude-mock")})):
        r = gw.request("POST", path, json.dumps(body).encode(), GEM_HEADERS)
        assert r.status == 200, (path, r)
        assert r.json() == {"totalTokens": COUNT_WORDS}, (path, r)
        assert r.header("x-moongate-token-estimate") is None
        last = mock.last()
        assert last["path"] == "/v1/messages/count_tokens"
        assert last["headers"]["x-api-key"] == "ant-key"
        sent = json.loads(last["body"])
        # only what count_tokens accepts: no max_tokens, sampling fields or stream
        assert sent == {"model": "claude-mock", "system": COUNT_SYSTEM,
                        "messages": [{"role": "user", "content": [{"type": "text", "text": COUNT_TEXT}]}]}, sent
        line = gw.access_for(r.header("x-request-id"))
        assert line["route"] == "count_tokens" and line["provider"] == "ant", line
        assert line["prompt_tokens"] is None, line


def test_an_openai_kind_provider_still_gets_the_labelled_estimate(gateway, mock):
    gw = gateway(cfg(mock))
    before = mock.stats()["requests"]
    r = gw.request("POST", "/v1/messages/count_tokens", json.dumps(anthropic_count_body("mock-small")).encode(),
                   ANT_HEADERS)
    assert r.status == 200, r
    # the tool's name and description are text too
    text = len(COUNT_TEXT) + len(COUNT_SYSTEM) + len("get_weather") + len("Weather for a city")
    assert r.json() == {"input_tokens": -(-text // 4)}, r
    assert r.header("x-moongate-token-estimate") == "bytes/4"
    r = gw.request("POST", "/v1beta/models/mock-small:countTokens",
                   json.dumps({"contents": [{"role": "user", "parts": [{"text": COUNT_TEXT}]}]}).encode(), GEM_HEADERS)
    assert r.status == 200 and r.json() == {"totalTokens": -(-len(COUNT_TEXT) // 4)}, r
    assert r.header("x-moongate-token-estimate") == "bytes/4"
    assert mock.stats()["requests"] == before, "an estimate never reaches the provider"


def test_upstream_errors_on_a_translated_count_come_in_the_client_dialect(gateway, mock):
    bad_gem = dict(provider(root(mock, status=404), models=["gemini-gone"], api_key="gem-key", retries=0),
                   kind="gemini")
    bad_ant = dict(provider(root(mock, status=400), models=["claude-bad"], api_key="ant-key", retries=0),
                   kind="anthropic")
    gw = gateway(cfg(mock, bad_gem=bad_gem, bad_ant=bad_ant))
    r = gw.request("POST", "/v1/messages/count_tokens", json.dumps(anthropic_count_body("gemini-gone")).encode(),
                   ANT_HEADERS)
    assert r.status == 404, r
    e = r.json()
    assert e["type"] == "error" and e["error"]["type"] == "not_found_error", e
    assert "mock fault: status 404" in e["error"]["message"], e
    r = gw.request("POST", "/v1beta/models/claude-bad:countTokens", json.dumps(gemini_count_request()).encode(),
                   GEM_HEADERS)
    assert r.status == 400, r
    e = r.json()["error"]
    assert e["code"] == 400 and e["status"] == "INVALID_ARGUMENT" and "mock fault: status 400" in e["message"], e


def test_a_translated_count_is_retried_like_any_request(gateway, mock, faults):
    flaky = dict(provider(faults(status=503, fail_first=1)[:-len("/v1")], models=["gemini-flaky"],
                          api_key="gem-key", retries=1, backoff={"base": 0.01, "cap": 0.02}), kind="gemini")
    gw = gateway(cfg(mock, flaky=flaky))
    r = gw.request("POST", "/v1/messages/count_tokens", json.dumps(anthropic_count_body("gemini-flaky")).encode(),
                   ANT_HEADERS)
    assert r.status == 200 and r.json() == {"input_tokens": COUNT_WORDS}, r
    line = gw.access_for(r.header("x-request-id"))
    assert line["attempts"] == 2, line


# ---- Gemini clients streaming without alt=sse: one JSON array, not SSE ----
# :streamGenerateContent without ?alt=sse answers `[` + elements separated by `,\r\n` + `\r\n]`
# (application/json), each element one GenerateContentResponse: the same bytes the SSE form carries
# in its `data:` lines. The upstream is always read as SSE (alt=sse); the translator frames the
# client's reply, the same-dialect (Gemini provider) one included.

ARRAY_CT = "application/json; charset=UTF-8"


def array_stream(gw, model, query="", timeout=10.0):
    """Streams the JSON-array form; returns (client, seconds to the first element, seconds to the end)."""
    c = gw.stream(gemini_body(), headers=GEM_HEADERS, timeout=timeout,
                  path="/v1beta/models/%s:streamGenerateContent%s" % (model, query))
    t0, first = time.monotonic(), None
    while not (c.finished or c.eof):
        d, t = c._recv(time.monotonic() + timeout)
        if d:
            c._feed(d, t)
            if first is None and b"{" in c.raw_body:
                first = t - t0
    c.close()
    return c, first, time.monotonic() - t0


def array_elements(raw):
    assert raw.startswith(b"[") and raw.endswith(b"]"), raw[:80] + b" ... " + raw[-80:]
    inner = raw[1:-1]
    if inner.endswith(b"\r\n"):
        inner = inner[:-2]
    return inner.split(b",\r\n") if inner else []


def array_text(doc):
    return "".join(p.get("text", "") for el in doc if "candidates" in el
                   for p in el["candidates"][0]["content"]["parts"])


def test_gemini_client_without_alt_sse_gets_a_json_array_from_a_translated_provider(gateway, mock, faults):
    paced = provider(faults(pace_ms=60), models=["mock-paced"])
    gw = gateway(cfg(mock, paced=paced))
    for model in ("mock-small", "claude-mock", "mock-paced"):
        c, first, total = array_stream(gw, model)
        assert c.status == 200 and c.finished, c.raw()
        assert c.header("content-type") == ARRAY_CT, c.header("content-type")
        assert c.header("x-moongate-provider") in ("oai", "ant", "paced")
        doc = c.body_json()
        assert isinstance(doc, list) and len(doc) >= 7, doc   # a word per element, the finish may come alone
        assert array_text(doc) == mock_text(model)
        assert doc[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in doc[-1]
        # every element is one frame's JSON, separated the way Gemini separates them
        assert [json.loads(e) for e in array_elements(c.raw_body)] == doc
    # streamed as it comes, not collected: the first element long before the end
    assert first is not None and total - first > 0.25, (first, total)
    line = gw.access_for(c.header("x-request-id"))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7, line


def test_gemini_client_without_alt_sse_on_a_gemini_provider_gets_the_upstream_elements(gateway, mock):
    gw = gateway(cfg(mock))
    c, _, _ = array_stream(gw, "gemini-mock")
    assert c.status == 200 and c.header("content-type") == ARRAY_CT
    assert mock.last()["path"].endswith(":streamGenerateContent?alt=sse"), "the upstream is read as SSE"
    # the same bytes the mock sends in its own array form (only the response id differs per request)
    direct = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:streamGenerateContent",
                          body=gemini_body(), headers=GEM_HEADERS)
    assert direct.status == 200 and direct.header("content-type") == "application/json"
    norm = lambda b: re.sub(rb'"responseId":"mock-\d+"', b'"responseId":"mock-N"', b)
    assert norm(c.raw_body) == norm(direct.body)
    line = gw.access_for(c.header("x-request-id"))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7, line


def test_gemini_client_with_alt_sse_is_still_relayed_untouched(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(gemini_body(), headers=GEM_HEADERS, path="/v1beta/models/gemini-mock:streamGenerateContent?alt=sse")
    c.read_all()
    c.close()
    assert c.header("content-type").startswith("text/event-stream")
    direct = http_request(mock.port, "POST", "/v1beta/models/gemini-mock:streamGenerateContent?alt=sse",
                          body=gemini_body(), headers=GEM_HEADERS)
    norm = lambda b: re.sub(rb'"responseId":"mock-\d+"', b'"responseId":"mock-N"', b)
    assert norm(c.raw_body) == norm(direct.body), "SSE bytes relayed as the provider sent them"
    # alt=json is Google's name for the default (array) form
    c, _, _ = array_stream(gw, "mock-small", query="?alt=json")
    assert c.header("content-type") == ARRAY_CT and array_text(c.body_json()) == mock_text("mock-small")


def test_an_upstream_failure_ends_the_array_with_an_error_element(gateway, mock, faults):
    gw = gateway(cfg(mock,
                     oai_err=provider(faults(error_event=3), models=["mock-err"], retries=0),
                     oai_reset=provider(faults(reset_after=3), models=["mock-reset"], retries=0),
                     gem_err=dict(provider(root(mock, error_event=3), models=["gemini-err"], api_key="gem-key",
                                           retries=0), kind="gemini")))
    for model, text in (("mock-err", "Hello from the "), ("mock-reset", "Hello from the "),
                        ("gemini-err", "Hello from the ")):
        c, _, _ = array_stream(gw, model)
        assert c.status == 200 and c.header("content-type") == ARRAY_CT
        doc = c.body_json()   # still one complete JSON array
        assert array_text(doc) == text, (model, doc)
        err = doc[-1]["error"]
        assert isinstance(err["code"], int) and err["status"] and err["message"], (model, doc[-1])
        assert not any(el.get("candidates", [{}])[0].get("finishReason") for el in doc[:-1]), \
            "a failure must not look like a normal end"


def test_an_error_status_before_the_stream_is_a_plain_gemini_error(gateway, mock):
    limited = provider(mock.url(status=429), models=["mock-limited"], retries=0)
    gw = gateway(cfg(mock, limited=limited))
    r = gw.request("POST", "/v1beta/models/mock-limited:streamGenerateContent", json.dumps(gemini_body()).encode(),
                   GEM_HEADERS)
    assert r.status == 429, r
    assert r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
