"""Relaying requests and replies: what a client sees through the gateway."""
import json
import socket
import time

from conftest import (HOST, SSEClient, assert_openai_error, basic_config, chat_body, content_events,
                      decode_chunked, http_request, mock_text, provider, stream_text, stream_tool_calls,
                      usage_events)

WEATHER_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def test_mock_fault_specs_ignore_unknown_keys_like_tag(mock):
    # The harness makes fault URLs unique per test with tag=<test>; the brief
    # says the mock ignores unknown keys. (If this fails the harness falls back
    # to a distinct first_byte_ms=<n> per URL.)
    assert mock.accepts_tag, "mock rejects tag=: %r" % mock.tag_probe


def test_non_stream_chat_returns_the_mock_reply_exactly(gateway, mock):
    gw = gateway(basic_config(mock))
    r = gw.chat(chat_body("mock-small"))
    assert r.status == 200, r
    assert "application/json" in (r.header("content-type") or "")
    doc = r.json()
    assert doc["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert doc["choices"][0]["message"]["role"] == "assistant"
    assert doc["usage"]["completion_tokens"] > 0
    assert r.header("x-request-id")
    assert r.header("x-moongate-provider") == "mock"
    assert r.header("x-moongate-model") == "mock-small"
    assert r.header("x-moongate-attempts") == "1"


def test_non_stream_reply_body_is_the_upstream_body_unchanged(gateway, mock, faults):
    # a large padded body (body_kb) must arrive intact and identical to what the mock sends
    base = faults(body_kb=256)
    gw = gateway({"providers": {"mock": provider(base)}})
    body = chat_body("mock-small")
    direct = mock.post(base, "/chat/completions", body)
    r = gw.chat(body)
    assert r.status == 200, r
    assert len(r.body) == len(direct.body) and len(r.body) > 256 * 1024
    a, b = r.json(), direct.json()
    for k in ("id", "created"):
        a.pop(k, None)
        b.pop(k, None)
    assert a == b


def test_stream_chat_relays_every_event_then_done(gateway, mock):
    gw = gateway(basic_config(mock))
    c = gw.stream(chat_body("mock-small", stream=True))
    assert c.status == 200
    assert c.header("content-type").startswith("text/event-stream")
    assert c.header("cache-control") == "no-cache"
    assert (c.header("x-accel-buffering") or "").lower() == "no"
    assert c.header("x-request-id")
    assert c.header("x-moongate-provider") == "mock"
    assert c.header("x-moongate-model") == "mock-small"
    c.read_all()
    c.close()
    assert c.finished, "chunked reply not terminated"
    assert c.saw_done and c.events[-1].is_done, c.events[-3:]
    assert stream_text(c.events) == mock_text("mock-small")
    assert not usage_events(c.events), "usage chunk leaked to a client that did not ask for it"


def test_stream_matches_what_the_mock_sends_directly(gateway, mock, faults):
    base = faults(events=5)
    gw = gateway({"providers": {"mock": provider(base)}})
    body = chat_body("mock-large", stream=True)
    direct = mock.post(base, "/chat/completions", body)
    assert direct.status == 200
    c = gw.stream(body)
    c.read_all()
    c.close()
    # same number of content events and the same text as the mock produced
    from conftest import SSEParser
    p = SSEParser()
    direct_events = p.feed(direct.body + b"\n\n", 0)
    assert len(content_events(c.events)) == len(content_events(direct_events)) == 5
    assert stream_text(c.events) == stream_text(direct_events)
    assert c.saw_done


def test_sse_events_arrive_paced_not_in_one_lump(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(pace_ms=50, events=6))}})
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    evs = content_events(c.events)
    assert len(evs) == 6, c.events
    times = [e.t for e in evs]
    spread = times[-1] - times[0]
    assert spread >= 0.2, "6 events paced 50 ms apart arrived within %.3fs: buffered" % spread
    gaps = [b - a for a, b in zip(times, times[1:])]
    # each event is forwarded as it comes: most gaps are close to the pace
    assert sum(1 for g in gaps if g >= 0.025) >= 4, "gaps %r" % gaps
    # the first event reached the client long before the last one was produced
    assert times[0] - c.t_start < times[-1] - c.t_start - 0.15


def test_stream_with_crlf_line_ends_is_relayed_complete(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(crlf=1, events=4))}})
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    assert c.finished and c.saw_done
    assert len(content_events(c.events)) == 4


def test_stream_with_cr_line_ends_is_relayed_complete(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(cr=1, events=4))}})
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    assert c.finished and c.saw_done
    assert len(content_events(c.events)) == 4


def test_streamed_tool_call_arguments_concatenate_to_the_json(gateway, mock):
    gw = gateway(basic_config(mock))
    c = gw.stream(chat_body("mock-small", stream=True, tools=WEATHER_TOOLS, tool_choice="auto",
                            content="Weather in Paris?"))
    c.read_all()
    c.close()
    assert c.status == 200
    calls = stream_tool_calls(c.events)
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["name"] == "get_weather"
    assert call["arguments"] == '{"city":"Paris"}'
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    finishes = [ch.get("finish_reason") for e in c.data_events for ch in e.json().get("choices") or []]
    assert "tool_calls" in finishes
    assert c.saw_done


def test_non_stream_tool_call_is_relayed(gateway, mock):
    gw = gateway(basic_config(mock))
    r = gw.chat(chat_body("mock-small", tools=WEATHER_TOOLS, tool_choice="auto", content="Weather in Paris?"))
    assert r.status == 200, r
    ch = r.json()["choices"][0]
    calls = ch["message"]["tool_calls"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["function"]["arguments"] == '{"city":"Paris"}'
    assert ch["finish_reason"] == "tool_calls"


def test_include_usage_on_delivers_the_usage_chunk(gateway, mock):
    gw = gateway(basic_config(mock))
    body = chat_body("mock-small", stream=True, stream_options={"include_usage": True})
    raw = json.dumps(body).encode()
    c = gw.stream(raw)
    c.read_all()
    c.close()
    usage = [e for e in c.data_events if e.json().get("choices") == [] and e.json().get("usage")]
    assert len(usage) == 1, c.events
    u = usage[0].json()["usage"]
    # the body needed no edit, so the mock counted exactly our bytes
    assert u["prompt_tokens"] == len(raw) // 4
    assert u["completion_tokens"] == len(content_events(c.events)) > 0
    assert c.saw_done and c.events[-1].is_done


def test_include_usage_off_hides_usage_from_client_but_logs_tokens(gateway, mock):
    gw = gateway(basic_config(mock))
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    rid = c.header("x-request-id")
    assert c.saw_done
    assert not [e for e in c.data_events if e.json().get("choices") == []], "usage-only chunk reached the client"
    assert not usage_events(c.events), "usage reached the client"
    upstream = json.loads(mock.last()["body"])
    assert upstream.get("stream_options", {}).get("include_usage") is True, upstream
    line = gw.access_for(rid)
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] > 0, line
    assert line["completion_tokens"] == len(content_events(c.events))


def test_completions_endpoint_is_relayed(gateway, mock):
    gw = gateway(basic_config(mock))
    body = {"model": "mock-small", "prompt": "Once upon a time"}
    direct = mock.post(mock.url(), "/completions", body)
    r = gw.chat(body, path="/v1/completions")
    assert r.status == 200, r
    assert mock.last()["path"] == "/v1/completions"
    a, b = r.json(), direct.json()
    assert a["choices"] == b["choices"] and a["choices"][0]["text"]
    assert a.get("usage") == b.get("usage")
    assert r.header("x-moongate-provider") == "mock"


def test_streamed_completions_are_relayed(gateway, mock):
    gw = gateway(basic_config(mock))
    c = gw.stream({"model": "mock-small", "prompt": "Once", "stream": True}, path="/v1/completions")
    c.read_all()
    c.close()
    assert c.status == 200 and c.finished and c.saw_done
    text = "".join(ch.get("text") or "" for e in c.data_events for ch in e.json().get("choices") or [])
    assert text == mock_text("mock-small")
    assert mock.last()["path"] == "/v1/completions"


def test_embeddings_endpoint_is_relayed(gateway, mock):
    gw = gateway(basic_config(mock))
    body = {"model": "mock-small", "input": ["alpha", "beta"]}
    direct = mock.post(mock.url(), "/embeddings", body)
    r = gw.chat(body, path="/v1/embeddings")
    assert r.status == 200, r
    assert mock.last()["path"] == "/v1/embeddings"
    a, b = r.json(), direct.json()
    assert a["data"] == b["data"] and len(a["data"]) == 2
    assert isinstance(a["data"][0]["embedding"], list) and a["data"][0]["embedding"]


def test_models_list_aggregates_all_providers_with_owned_by(gateway, mock, faults):
    gw = gateway({"providers": {
        "mock": provider(mock.url(), models=["mock-small", "mock-large"]),
        "other": provider(faults(), models=["mock-other"]),
    }})
    r = gw.request("GET", "/v1/models")
    assert r.status == 200, r
    doc = r.json()
    assert doc["object"] == "list"
    owners = {}
    for m in doc["data"]:
        mid = m["id"].split("/", 1)[1] if m["id"].startswith(("mock/", "other/")) else m["id"]
        owners.setdefault(mid, set()).add(m.get("owned_by"))
        assert m.get("object") == "model"
    assert "mock" in owners["mock-small"] and "mock" in owners["mock-large"], doc
    assert "other" in owners["mock-other"], doc


def test_models_list_vendor_filter_shows_only_that_provider(gateway, mock, faults):
    gw = gateway({"providers": {
        "mock": provider(mock.url(), models=["mock-small", "mock-large"]),
        "other": provider(faults(), models=["mock-other"]),
    }})
    r = gw.request("GET", "/v1/models?vendor=other")
    assert r.status == 200, r
    data = r.json()["data"]
    assert data, r
    assert all(m.get("owned_by") == "other" for m in data), data
    assert {m["id"].split("/")[-1] for m in data} == {"mock-other"}


def test_every_reply_carries_a_unique_request_id(gateway, mock):
    gw = gateway(basic_config(mock))
    replies = [gw.request("GET", "/health"), gw.request("GET", "/v1/models"),
               gw.chat(chat_body("mock-small")), gw.chat(chat_body("no-such-model")),
               gw.request("GET", "/nope")]
    ids = [r.header("x-request-id") for r in replies]
    assert all(ids), [(r.status, r.header_list) for r in replies]
    assert len(set(ids)) == len(ids)


def test_keep_alive_connection_serves_several_requests(gateway, mock):
    import http.client
    gw = gateway(basic_config(mock))
    conn = http.client.HTTPConnection(HOST, gw.port, timeout=10)
    try:
        for i in range(5):
            conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body("mock-small")),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, body
            assert json.loads(body)["choices"][0]["message"]["content"] == mock_text("mock-small")
    finally:
        conn.close()


def test_chunked_request_body_is_accepted(gateway, mock):
    gw = gateway(basic_config(mock))
    payload = json.dumps(chat_body("mock-small")).encode()
    s = socket.create_connection((HOST, gw.port), timeout=10)
    try:
        half = len(payload) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:half], payload[half:]))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    if b"chunked" in head.lower():
        body, finished = decode_chunked(body)
        assert finished
    assert json.loads(body)["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert mock.last()["body"] == payload.decode()


def test_access_log_line_has_every_documented_field(gateway, mock):
    gw = gateway(basic_config(mock))
    r = gw.chat(chat_body("mock-small"))
    assert r.status == 200
    line = gw.access_for(r.header("x-request-id"))
    for k in ("ts", "type", "id", "method", "path", "route", "provider", "model", "attempts", "status",
              "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens", "abort"):
        assert k in line, "access line lacks %r: %r" % (k, line)
    assert line["method"] == "POST" and line["path"] == "/v1/chat/completions"
    assert line["provider"] == "mock" and line["model"] == "mock-small"
    assert line["status"] == 200 and line["attempts"] == 1 and line["abort"] is None
    assert line["latency_ms"] >= 0 and isinstance(line["ts"], (int, float))
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 7
