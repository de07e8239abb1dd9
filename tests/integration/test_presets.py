"""OpenAI-compatible presets through the real binary (PROTOCOLS 6): the request
edits a preset makes reach the provider, and the provider quirks on the
response side reach the client as the provider sent them (OpenRouter's `cost`
in usage, keep-alive comments, DeepSeek's blank lines before a body) while the
gateway still counts the tokens.

The mock plays the providers with its shape keys (mock/main.c): `comments=1`
puts a `: OPENROUTER PROCESSING` comment before every SSE event, `cost=1` adds
OpenRouter's usage extras, `blank_lines=N` starts a non-stream body with N
newlines. The exact request each preset builds is pinned by
spec/fixtures/presets/ (busted); these tests prove the wiring end to end.
"""
import json
import re

from conftest import SSEParser, chat_body, mock_stream_text, stream_text, usage_events

COST = '"cost":0.00012345678901234567'
USAGE_EXTRAS = COST + ',"is_byok":false,"cost_details":{"upstream_inference_cost":null}'


def openrouter_cfg(base_url):
    return {"providers": {"openrouter": {
        "kind": "openrouter", "base_url": base_url, "api_key": "sk-or-it", "referer": "https://app.example",
        "title": "IT App", "models": ["openai/gpt-4o"]}}}


def normalize(data):
    """An event's or body's text without what differs per request (id, created)."""
    data = re.sub(r'"id":"chatcmpl-mock-\d+"', '"id":"X"', data)
    return re.sub(r'"created":\d+', '"created":0', data)


def direct_stream(mock, base, body):
    """The mock's own stream for this request: (event data texts, comment count)."""
    r = mock.post(base, "/chat/completions", body)
    assert r.status == 200, r
    p = SSEParser()
    events = p.feed(r.body, 0) + p.flush(0)
    return [e.data for e in events], p.comments


def test_openrouter_cost_in_usage_reaches_the_client_byte_for_byte(gateway, mock):
    base = mock.url(cost=1)
    gw = gateway(openrouter_cfg(base))
    r = gw.chat(chat_body("openai/gpt-4o"))
    assert r.status == 200, r
    # the digits a double cannot hold are still there: the body was not re-encoded
    assert USAGE_EXTRAS.encode() in r.body, r.body
    usage = r.json()["usage"]
    # the attribution headers and the bearer key reached OpenRouter
    h = mock.last()["headers"]
    assert h["authorization"] == "Bearer sk-or-it"
    assert h["http-referer"] == "https://app.example"
    assert h["x-title"] == "IT App" and h["x-openrouter-title"] == "IT App"
    direct = mock.post(base, "/chat/completions", chat_body("openai/gpt-4o"))
    assert normalize(r.text) == normalize(direct.text)
    line = gw.access_for(r.header("x-request-id"))
    assert (line["prompt_tokens"], line["completion_tokens"]) == \
        (usage["prompt_tokens"], usage["completion_tokens"]), line


def test_openrouter_stream_keepalive_comments_and_cost_reach_the_client_byte_for_byte(gateway, mock):
    base = mock.url(comments=1, cost=1)
    gw = gateway(openrouter_cfg(base))
    body = chat_body("openai/gpt-4o", stream=True, stream_options={"include_usage": True})
    c = gw.stream(body)
    c.read_all()
    c.close()
    assert c.status == 200 and c.finished and c.saw_done
    want, comments = direct_stream(mock, base, body)
    assert comments == len(want)      # the mock put one before every event
    # A passthrough stream is the provider's bytes: every event with its data
    # unchanged, in order, and every keep-alive comment where it was sent.
    assert [normalize(e.data) for e in c.events] == [normalize(d) for d in want]
    assert c._parser.comments == comments
    direct = mock.post(base, "/chat/completions", body)
    assert normalize(c.raw_body.decode()) == normalize(direct.text)
    u = usage_events(c.events)
    assert len(u) == 1 and USAGE_EXTRAS in u[0].data, u
    assert stream_text(c.events) == mock_stream_text("openai/gpt-4o")
    line = gw.access_for(c.header("x-request-id"))
    usage = u[0].json()["usage"]
    assert (line["prompt_tokens"], line["completion_tokens"]) == \
        (usage["prompt_tokens"], usage["completion_tokens"]), line
    assert line["completion_tokens"] == 7 and line["abort"] is None, line


def test_usage_is_counted_from_the_hidden_usage_chunk_among_comments(gateway, mock):
    # The client did not ask for usage: the gateway asks for it, counts it,
    # and hides the usage-only chunk; comments sit before every event.
    gw = gateway(openrouter_cfg(mock.url(comments=1)))
    c = gw.stream(chat_body("openai/gpt-4o", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200 and c.saw_done
    assert usage_events(c.events) == []
    assert stream_text(c.events) == mock_stream_text("openai/gpt-4o")
    sent = mock.last()["body"]
    assert json.loads(sent)["stream_options"] == {"include_usage": True}
    line = gw.access_for(c.header("x-request-id"))
    assert line["prompt_tokens"] == len(sent.encode()) // 4, line
    assert line["completion_tokens"] == 7, line


def test_deepseek_blank_lines_before_the_body_are_relayed_and_usage_still_counted(gateway, mock):
    base = mock.url(blank_lines=3)
    gw = gateway({"providers": {"deepseek": {"kind": "deepseek", "base_url": base, "api_key": "sk-ds-it",
                                             "models": ["deepseek-chat"]}}})
    r = gw.chat(chat_body("deepseek-chat", max_completion_tokens=64))
    assert r.status == 200, r
    assert r.body.startswith(b"\n\n\n{"), r.body[:20]
    usage = r.json()["usage"]         # JSON allows the leading whitespace
    # the preset's rename reached DeepSeek: only max_tokens limits the output there
    sent = json.loads(mock.last()["body"])
    assert sent["max_tokens"] == 64 and "max_completion_tokens" not in sent
    line = gw.access_for(r.header("x-request-id"))
    assert (line["prompt_tokens"], line["completion_tokens"]) == \
        (usage["prompt_tokens"], usage["completion_tokens"]), line


def test_mistral_gets_its_tool_call_ids_and_no_stream_options(gateway, mock):
    gw = gateway({"providers": {"mistral": {"kind": "mistral", "base_url": mock.url(), "api_key": "mk-it",
                                            "models": ["mistral-large-latest"]}}})
    body = chat_body("mistral-large-latest", stream=True, seed=12345678901234567890, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc123XYZ", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_abc123XYZ", "content": "sun"},
        {"role": "user", "content": "thanks"}])
    c = gw.stream(body)
    c.read_all()
    c.close()
    assert c.status == 200 and c.saw_done
    raw = mock.last()["body"]
    sent = json.loads(raw)
    assert "stream_options" not in sent and "seed" not in sent
    assert '"random_seed":12345678901234567890' in raw
    msgs = sent["messages"]
    new_id = msgs[1]["tool_calls"][0]["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", new_id) and msgs[2]["tool_call_id"] == new_id
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "user"]


def test_a_keepalive_comment_before_an_error_event_does_not_end_the_fallback(gateway, mock):
    # A comment before anything else is held like the role chunk: it must not
    # commit the reply, so the error event right after it is still retried on
    # the next target, and the client sees only that target's stream.
    cfg = openrouter_cfg(mock.url(comments=1, error_event=0, tag="ka-err"))
    cfg["providers"]["openrouter"]["retries"] = 0
    cfg["providers"]["mock"] = {"kind": "openai", "base_url": mock.url(), "api_key": "k",
                                "models": ["mock-small"]}
    cfg["aliases"] = {"smart": [{"provider": "openrouter", "model": "openai/gpt-4o"},
                                {"provider": "mock", "model": "mock-small", "weight": 0}]}
    gw = gateway(cfg)
    c = gw.stream(chat_body("smart", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200 and c.saw_done and c.finished
    assert c.header("x-moongate-provider") == "mock", c.header_list
    assert c.header("x-moongate-attempts") == "2", c.header_list
    assert b"OPENROUTER" not in c.raw_body and b'"error"' not in c.raw_body, c.raw_body[:400]
    assert stream_text(c.events) == mock_stream_text("mock-small")
