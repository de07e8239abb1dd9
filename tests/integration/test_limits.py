"""Limits and back-pressure: big bodies, greedy headers, vanished and slow clients."""
import json
import os
import socket
import time

import pytest

from conftest import (HOST, assert_openai_error, chat_body, content_events, mock_stream_text, provider, rss_kb,
                      stream_text, wait_for)


def raw_exchange(port, data, timeout=10):
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out:
                head = out.split(b"\r\n\r\n", 1)[0].lower()
                if b"content-length:" in head:
                    n = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                    if len(out.split(b"\r\n\r\n", 1)[1]) >= n:
                        break
        return out
    finally:
        s.close()


def status_of(raw):
    assert raw.startswith(b"HTTP/1."), raw[:200]
    return int(raw.split(b" ", 2)[1])


def test_oversized_body_is_413_in_openai_envelope(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}, "max_body": 2048})
    before = mock.stats()["requests"]
    r = gw.chat(chat_body("mock-small", content="x" * 8000))
    err = assert_openai_error(r, 413)
    assert err["message"]
    assert mock.stats()["requests"] == before, "an oversized body must not reach the upstream"
    assert gw.chat(chat_body("mock-small")).status == 200


def test_oversized_chunked_body_is_413(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}, "max_body": 2048})
    payload = json.dumps(chat_body("mock-small", content="y" * 8000)).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 1000]), payload[i:i + 1000])
                      for i in range(0, len(payload), 1000))
    raw = raw_exchange(gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                                b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert status_of(raw) == 413, raw[:300]


def body_json(raw):
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def test_server_side_limit_errors_speak_the_dialect_of_the_path(gateway, mock):
    # The errors http.c answers itself, before any policy runs, still come in
    # the envelope the client's SDK parses: Anthropic's on /v1/messages,
    # Gemini's on :generateContent, OpenAI's elsewhere.
    gw = gateway({"providers": {"mock": provider(mock.url())}, "max_body": 2048, "max_headers": 20})
    big = b'{"x":"' + b"q" * 4000 + b'"}'

    def post(path, extra=b""):
        return raw_exchange(gw.port, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + extra + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(big) + big)

    raw = post(b"/v1/messages")
    assert status_of(raw) == 413, raw[:300]
    b = body_json(raw)
    assert b["type"] == "error" and b["error"]["type"] == "request_too_large" and b["error"]["message"], b
    raw = post(b"/v1beta/models/gemini-2.5-flash:generateContent?key=x")
    assert status_of(raw) == 413, raw[:300]
    b = body_json(raw)["error"]
    assert b["code"] == 413 and b["status"] == "INVALID_ARGUMENT" and b["message"], b
    raw = post(b"/v1/chat/completions")
    assert status_of(raw) == 413
    b = body_json(raw)["error"]
    assert b["type"] == "invalid_request_error" and b["code"] == "request_too_large", b
    # too many headers: the head is not complete, the path is read off the request line
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(50))
    raw = raw_exchange(gw.port, b"POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
    assert status_of(raw) == 431, raw[:300]
    b = body_json(raw)
    assert b["type"] == "error" and b["error"]["type"] == "invalid_request_error", b
    raw = raw_exchange(gw.port, b"POST /v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\n"
                       b"Host: x\r\n" + hdrs + b"\r\n")
    assert status_of(raw) == 431
    assert body_json(raw)["error"]["status"] == "INVALID_ARGUMENT"
    assert gw.chat(chat_body("mock-small")).status == 200


def test_body_exactly_at_max_body_is_accepted(gateway, mock):
    limit = 4096
    gw = gateway({"providers": {"mock": provider(mock.url())}, "max_body": limit})
    body = chat_body("mock-small", content="")
    base = len(json.dumps(body))
    body["messages"][0]["content"] = "z" * (limit - base)
    data = json.dumps(body).encode()
    assert len(data) == limit
    r = gw.chat(data)
    assert r.status == 200, r
    assert mock.last()["body"] == data.decode()


def test_overlong_request_line_is_rejected_with_414(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}, "max_request_line": 1024})
    raw = raw_exchange(gw.port, b"GET /v1/models?x=" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(raw) == 414
    assert gw.request("GET", "/health").status == 200


def test_too_many_headers_are_rejected_with_431(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}, "max_headers": 20})
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(50))
    raw = raw_exchange(gw.port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
    assert status_of(raw) == 431


def test_client_disconnect_mid_stream_cancels_the_upstream(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(pace_ms=150, events=60))}})
    before = mock.stats()
    c = gw.stream(chat_body("mock-small", stream=True))
    rid = c.header("x-request-id")
    assert c.next_event() is not None
    assert c.next_event() is not None
    c.close()
    t0 = time.monotonic()
    wait_for(lambda: mock.stats()["cancelled"] > before["cancelled"], 1.5,
             what="the mock to see the upstream request cancelled")
    assert time.monotonic() - t0 <= 1.5
    line = gw.access_for(rid)
    assert line.get("abort"), "client disconnect must be logged as an abort: %r" % line
    # the gateway is fine afterwards
    assert gw.chat(chat_body("mock-small")).status == 200


SLOW_N = 200000          # ~46 MB of SSE: far more than socket buffers hold


def _slow_client_run(gateway, mock, faults, check):
    # Under ASan freed memory sits in a 256 MB quarantine and inflates RSS; keep
    # it small for this process so RSS measures what the gateway really holds.
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + "quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
    gw = gateway({"providers": {"mock": provider(faults(events=SLOW_N), timeouts={"idle": 30, "total": 120})}},
                 extra_env={"ASAN_OPTIONS": asan})
    assert gw.chat(chat_body("mock-small")).status == 200     # warm up, then measure
    rss0 = rss_kb(gw.pid)
    before = mock.stats()
    c = gw.stream(chat_body("mock-small", stream=True), rcvbuf=64 * 1024, timeout=60)
    assert c.status == 200
    time.sleep(2.0)     # read nothing
    check(gw, rss0, before, mock.stats())
    c.read_all(timeout=60)
    c.close()
    assert c.finished and c.saw_done
    evs = content_events(c.events)
    assert len(evs) == SLOW_N
    assert stream_text(c.events) == mock_stream_text("mock-small", SLOW_N), "content differs from the mock's"
    return gw, rss0


def test_slow_client_does_not_grow_gateway_memory(gateway, mock, faults):
    def check(gw, rss0, before, mid):
        grew_mb = (rss_kb(gw.pid) - rss0) / 1024.0
        assert grew_mb < 20, "gateway RSS grew %.1f MB while the client read nothing" % grew_mb

    gw, rss0 = _slow_client_run(gateway, mock, faults, check)
    grew_mb = (rss_kb(gw.pid) - rss0) / 1024.0
    assert grew_mb < 40, "RSS after the stream: +%.1f MB" % grew_mb


def test_slow_client_pauses_the_upstream_stream(gateway, mock, faults):
    def check(gw, rss0, before, mid):
        assert mid["active"] >= 1 and mid["completed"] == before["completed"], (
            "the mock finished a %d-event stream while the client read nothing (%r -> %r)"
            % (SLOW_N, before, mid))

    _slow_client_run(gateway, mock, faults, check)
