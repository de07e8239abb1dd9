"""Fault matrix, upstream side: what a client sees when the provider misbehaves,
and that the gateway is unhurt afterwards (serves the next request, upstream
transfers released, fds and RSS back to the baseline; see faultkit.Leaks).

Cases already covered by test_retries.py (429 honoured, fallback on 500 /
refused / 503-before-stream, 400 not retried, mid-stream reset / stall / error
event, stall timeout 504, all-429, all-500, Retry-After cap) are not repeated.

Configs give the healthy mock model `mock-small` and the faulty provider
`mock-large`, so the warm-up (faultkit.Leaks) and the after-check
(faultkit.assert_serves) never touch the fault."""
import socket
import threading
import time

from conftest import (HOST, assert_openai_error, chat_body, content_events, error_events, mock_text, provider,
                      stream_text, wait_for)
from faultkit import (ASAN, SSE_HEAD, Leaks, RawUpstream, RSSSampler, assert_serves, chat_request, chunk,
                      read_http_request, sse_chunk_event, wait_upstream_released)
import pytest

FAST_BACKOFF = {"base": 0.02, "cap": 0.05}


def cfg(mock, **faulty):
    """`mock` serves mock-small; every keyword is a provider serving mock-large."""
    providers = {"mock": provider(mock.url(), models=["mock-small"])}
    providers.update(faulty)
    return {"providers": providers}


def test_reset_before_the_status_line_is_retried_then_502(gateway, mock, faults):
    # mock reset_after=0 on a non-stream request closes before the status line
    gw = gateway(cfg(mock,
                     rst=provider(faults(reset_after=0), models=["mock-large"], retries=1, backoff=FAST_BACKOFF),
                     rst1=provider(faults(reset_after=0, fail_first=1), models=["mock-large"], retries=1,
                                   backoff=FAST_BACKOFF)))
    leaks = Leaks(gw)
    before = mock.stats()
    r = gw.chat(chat_body("rst/mock-large"))
    err = assert_openai_error(r, 502)
    assert err["code"] == "upstream_unavailable", err
    assert r.header("x-request-id")
    line = gw.access_for(r.header("x-request-id"))
    assert line["status"] == 502 and line["attempts"] == 2, line
    sent = mock.stats()["requests"] - before["requests"]
    assert sent == 2, ("retries=1: the upstream must see exactly 2 requests, it saw %d (the gateway counted %d "
                       "attempts: a POST was re-sent behind its back)" % (sent, line["attempts"]))
    # a single reset followed by a good answer is invisible to the client
    r = gw.chat(chat_body("rst1/mock-large"))
    assert r.status == 200, r
    assert r.header("x-moongate-attempts") == "2", r.header_list
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-large")
    assert_serves(gw)
    leaks.check()


def test_stalled_upstream_is_cancelled_when_the_client_gives_up(gateway, mock, faults):
    gw = gateway(cfg(mock, stall=provider(faults(stall=1), models=["mock-large"], retries=0,
                                          timeouts={"first_byte": 30})))
    leaks = Leaks(gw)
    before = mock.stats()
    s = socket.create_connection((HOST, gw.port), timeout=5)
    s.sendall(chat_request("mock-large"))
    wait_for(lambda: mock.stats()["active"] > before["active"], 3, what="the stalled request to reach the mock")
    time.sleep(0.2)
    s.close()                      # the client gives up
    wait_upstream_released(mock, before, cancelled=True, timeout=1.5)
    line = gw.wait_log(lambda l: l.get("type") == "access" and l.get("model") == "mock-large", 3,
                       what="access line of the abandoned request")
    assert line.get("abort"), "a client that left must be logged as an abort: %r" % line
    assert_serves(gw)
    leaks.check()


def _storm_cfg(mock, url_a, url_b, retries):
    c = cfg(mock,
            a=provider(url_a, models=["mock-large"], retries=retries, backoff=FAST_BACKOFF),
            b=provider(url_b, models=["mock-large"], retries=retries, backoff=FAST_BACKOFF))
    c["aliases"] = {"storm": [{"provider": "a", "model": "mock-large"},
                              {"provider": "b", "model": "mock-large", "weight": 0}]}
    return c


def test_429_storm_without_retry_after_is_bounded_and_answers_429(gateway, mock, faults):
    retries, clients = 2, 8
    gw = gateway(_storm_cfg(mock, faults(status=429), faults(status=429), retries))
    leaks = Leaks(gw)
    before = mock.stats()
    results = [None] * clients

    def one(i):
        try:
            results[i] = gw.chat(chat_body("storm"), timeout=15)
        except Exception as e:          # noqa: BLE001 - reported below
            results[i] = e

    ts = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    elapsed = time.monotonic() - t0
    per_client = 2 * (retries + 1)
    for r in results:
        assert not isinstance(r, Exception) and r is not None, results
        err = assert_openai_error(r, 429)
        assert err["code"] == "upstream_rate_limited", err
        assert r.header("retry-after") is not None, r.header_list
        assert int(r.header("retry-after")) >= 1, r.header_list
        assert r.header("x-moongate-attempts") == str(per_client), r.header_list
    delta = mock.stats()["requests"] - before["requests"]
    assert delta == clients * per_client, (
        "upstream attempts must be bounded by (retries+1) per target: %d clients x %d, got %d"
        % (clients, per_client, delta))
    assert elapsed < 5, elapsed
    assert_serves(gw)
    leaks.check(upstream_slack=clients)   # up to one idle cached upstream connection per concurrent client


def test_429_storm_with_retry_after_waits_and_answers_429_with_retry_after(gateway, mock, faults):
    retries = 1
    gw = gateway(_storm_cfg(mock, faults(status=429, retry_after=1), faults(status=429, retry_after=1), retries))
    leaks = Leaks(gw)
    before = mock.stats()
    r = gw.chat(chat_body("storm"), timeout=15)
    err = assert_openai_error(r, 429)
    assert err["code"] == "upstream_rate_limited", err
    ra = r.header("retry-after")
    assert ra is not None and int(ra) >= 1, r.header_list
    assert mock.stats()["requests"] - before["requests"] == 2 * (retries + 1)
    assert r.header("x-moongate-attempts") == str(2 * (retries + 1)), r.header_list
    # Retry-After: 1 is honoured before each same-target retry (2 targets)
    assert 1.9 <= r.elapsed < 6, r.elapsed
    assert_serves(gw)
    leaks.check()


def test_5xx_burst_then_recovery_succeeds_on_the_third_attempt(gateway, mock, faults):
    gw = gateway(cfg(mock, flaky=provider(faults(status=503, fail_first=2), models=["mock-large"], retries=2,
                                          backoff=FAST_BACKOFF)))
    leaks = Leaks(gw)
    before = mock.stats()
    r = gw.chat(chat_body("mock-large"))
    assert r.status == 200, r
    assert r.header("x-moongate-attempts") == "3", r.header_list
    assert r.header("x-moongate-provider") == "flaky"
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-large")
    assert mock.stats()["requests"] - before["requests"] == 3
    line = gw.access_for(r.header("x-request-id"))
    assert line["attempts"] == 3 and line["status"] == 200, line
    assert_serves(gw)
    leaks.check()


def _endless_event_upstream(first=b""):
    """Answers 200 text/event-stream, optionally `first` (complete events), then
    `data: xxxx...` forever: no line end ever."""
    def handler(conn, up):
        head, body = read_http_request(conn)
        if head is None:
            return
        up.record(head, body)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up.send(conn, SSE_HEAD)
        if first:
            up.send(conn, chunk(first))
            time.sleep(0.1)
        up.send(conn, chunk(b"data: "))
        piece = chunk(b"x" * 16384)
        deadline = time.monotonic() + 15
        conn.settimeout(5)
        while time.monotonic() < deadline and not up.stop_ev.is_set():
            up.send(conn, piece)
    return handler


SSE_MAX = 65536


def _run_endless(gateway, mock, first):
    up = RawUpstream(_endless_event_upstream(first))
    try:
        gw = gateway(dict(cfg(mock, raw=provider(up.base_url, models=["mock-large"], retries=0,
                                                  timeouts={"idle": 10, "first_byte": 10})),
                          sse_max_event=SSE_MAX))
        leaks = Leaks(gw)
        with RSSSampler(gw.pid) as rs:
            t0 = time.monotonic()
            c = gw.stream(chat_body("mock-large", stream=True), timeout=10)
            if c.status == 200:
                c.read_all(timeout=10)
            c.close()
            elapsed = time.monotonic() - t0
        assert elapsed < 5, "the gateway took %.1fs to give up on an endless event" % elapsed
        # the gateway dropped the upstream connection (the sender saw it go)
        wait_for(lambda: up.handlers_done >= 1, 6, what="the endless upstream to be disconnected")
        assert up.peer_gone >= 1, "the gateway never closed the endless upstream (sent %d bytes)" % up.sent
        assert up.sent < 64 * 1024 * 1024, up.sent
        if not ASAN:
            peak_mb = (rs.peak - leaks.rss0) / 1024.0
            assert peak_mb < 8, "RSS peaked at +%.1f MB with sse_max_event = 64 KiB" % peak_mb
        assert_serves(gw)
        leaks.check()
        return c
    finally:
        up.close()


def test_endless_sse_event_before_any_output_gives_a_clean_error(gateway, mock):
    c = _run_endless(gateway, mock, b"")
    if c.status == 200:
        # the gateway committed the reply on the upstream's headers: then the
        # documented outcome is an error event, a clean end and no [DONE]
        assert c.finished, "the chunked reply must be terminated properly: %r" % c.raw()[:500]
        assert error_events(c.events), c.raw()[:500]
        assert not c.saw_done
    else:
        assert c.status == 502, c.raw()[:500]
        doc = c.body_json()
        assert doc["error"]["code"] == "upstream_unavailable", doc
        assert "application/json" in (c.header("content-type") or ""), c.header_list


def test_endless_sse_event_after_content_ends_the_stream_with_an_error_event(gateway, mock):
    c = _run_endless(gateway, mock, sse_chunk_event(0, "Hello") + sse_chunk_event(1, " world"))
    assert c.status == 200
    assert stream_text(c.events) == "Hello world", c.events
    errs = error_events(c.events)
    assert len(errs) == 1 and c.events[-1] is errs[0], c.events
    assert errs[0].json()["error"]["type"] == "upstream_error", errs[0].data
    assert not c.saw_done
    assert c.finished, "the chunked reply must be terminated properly"


@pytest.mark.limit(90)
def test_50mb_upstream_body_is_relayed_intact_without_buffering_it_whole(gateway, mock, faults):
    kb = 51200
    gw = gateway(cfg(mock, big=provider(faults(body_kb=kb), models=["mock-large"], retries=0,
                                        timeouts={"total": 60})))
    leaks = Leaks(gw)
    with RSSSampler(gw.pid) as rs:
        r = gw.chat(chat_body("mock-large"), timeout=30)
    assert r.status == 200, r
    assert len(r.body) > kb * 1024, len(r.body)
    doc = r.json()
    assert len(doc["padding"]) == kb * 1024
    assert set(doc["padding"]) == {"x"}
    assert doc["choices"][0]["message"]["content"] == mock_text("mock-large")
    del r, doc
    if not ASAN:
        peak_mb = (rs.peak - leaks.rss0) / 1024.0
        assert peak_mb < 24, "RSS peaked at +%.1f MB relaying a 50 MB body: buffered whole?" % peak_mb
    assert_serves(gw)
    leaks.check()


def _drip_upstream(payload, delay=0.002):
    def handler(conn, up):
        head, body = read_http_request(conn)
        if head is None:
            return
        up.record(head, body)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(5)
        for i in range(len(payload)):
            up.send(conn, payload[i:i + 1])
            time.sleep(delay)
    return handler


def test_upstream_dripping_one_byte_at_a_time_is_relayed_intact(gateway, mock):
    words = ["Drip ", "by ", "drip."]
    events = [sse_chunk_event(i, w, model="r") for i, w in enumerate(words)] + [b"data: [DONE]\n\n"]
    # the chunked framing is dripped too: one HTTP chunk per event
    body = b"".join(chunk(e) for e in events) + b"0\r\n\r\n"
    payload = SSE_HEAD + body
    up = RawUpstream(_drip_upstream(payload))
    try:
        gw = gateway(cfg(mock, raw=provider(up.base_url, models=["mock-large"], retries=0,
                                            timeouts={"idle": 5, "first_byte": 5})))
        leaks = Leaks(gw)
        c = gw.stream(chat_body("mock-large", stream=True), timeout=15)
        c.read_all(timeout=15)
        c.close()
        assert c.status == 200
        assert c.finished and c.saw_done, c.raw()[-300:]
        assert len(content_events(c.events)) == 3, c.events
        assert stream_text(c.events) == "".join(words)
        assert not error_events(c.events)
        assert len(up.requests) == 1
        assert_serves(gw)
        leaks.check()
    finally:
        up.close()


def test_invalid_json_in_a_200_is_relayed_as_is(gateway, mock, faults):
    gw = gateway(cfg(mock, bad=provider(faults(bad_json=1), models=["mock-large"], retries=1,
                                        backoff=FAST_BACKOFF)))
    leaks = Leaks(gw)
    before = mock.stats()
    r = gw.chat(chat_body("mock-large"))
    assert r.status == 200, r
    assert r.body == b'{"id": oops', r
    assert mock.stats()["requests"] - before["requests"] == 1, "a 200 is an answer: not retried"
    assert_serves(gw)
    leaks.check()


def test_error_event_before_content_falls_back_to_the_next_target(gateway, mock, faults):
    c = cfg(mock, flaky=provider(faults(error_event=0), models=["mock-large"], retries=0))
    c["aliases"] = {"smart": [{"provider": "flaky", "model": "mock-large"},
                              {"provider": "mock", "model": "mock-small", "weight": 0}]}
    gw = gateway(c)
    leaks = Leaks(gw)
    before = mock.stats()
    s = gw.stream(chat_body("smart", stream=True))
    s.read_all()
    s.close()
    assert s.status == 200
    assert not error_events(s.events), "an error before any content must be retried, not relayed: %r" % s.events
    assert stream_text(s.events) == mock_text("mock-small"), s.events
    assert s.saw_done and s.finished
    assert s.header("x-moongate-provider") == "mock", s.header_list
    assert s.header("x-moongate-attempts") == "2", s.header_list
    assert mock.stats()["requests"] - before["requests"] == 2
    assert_serves(gw)
    leaks.check()


def test_error_event_before_content_with_no_other_target_reaches_the_client(gateway, mock, faults):
    gw = gateway(cfg(mock, flaky=provider(faults(error_event=0), models=["mock-large"], retries=0)))
    leaks = Leaks(gw)
    s = gw.stream(chat_body("mock-large", stream=True))
    if s.status == 200:
        s.read_all()
        s.close()
        assert error_events(s.events), s.events
        assert not content_events(s.events)
        assert not s.saw_done and s.finished
    else:
        s.read_all()
        s.close()
        assert s.status == 502, s.raw()[:400]
        assert s.body_json()["error"]["code"] == "upstream_unavailable", s.raw()[:400]
    assert_serves(gw)
    leaks.check()


def test_a_port_that_speaks_neither_http_nor_tls_gives_502(gateway, mock):
    def garbage(conn, up):
        up.send(conn, b"\x00\xffhello")
        time.sleep(0.05)

    up = RawUpstream(garbage)
    try:
        gw = gateway(cfg(mock, junk=provider(up.base_url, models=["mock-large"], retries=1,
                                             backoff=FAST_BACKOFF, timeouts={"first_byte": 5})))
        leaks = Leaks(gw)
        r = gw.chat(chat_body("mock-large"))
        err = assert_openai_error(r, 502)
        assert err["code"] == "upstream_unavailable", err
        assert up.accepted == 2, "retries=1: two connections expected, got %d" % up.accepted
        assert r.elapsed < 3, r.elapsed
        s = gw.stream(chat_body("mock-large", stream=True))
        s.read_all()
        s.close()
        assert s.status == 502, s.raw()[:300]
        assert_serves(gw)
        leaks.check()
    finally:
        up.close()
