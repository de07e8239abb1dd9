"""Fault matrix, client side: clients that vanish at every stage, slow or lying
clients, malformed and hostile requests, a connection burst. Each case checks
the documented outcome, that the gateway serves the next request, that an
upstream transfer is released when its client is gone, and no leaks (fds and
RSS back to the baseline: faultkit.Leaks).

Raw sockets throughout: http.client would refuse to send most of these."""
import json
import resource
import selectors
import socket
import threading
import time

import pytest

from conftest import HOST, Mock, assert_openai_error, chat_body, mock_text, provider, wait_for
from faultkit import (Leaks, assert_serves, chat_request, http_head, parse_responses, raw_conversation, rst_close,
                      wait_upstream_released)

CHAT = "/v1/chat/completions"


def cfg(mock, faulty_url=None, **top):
    """`mock` serves mock-small; `slow` (a fault URL) serves mock-large."""
    providers = {"mock": provider(mock.url(), models=["mock-small"])}
    if faulty_url:
        providers["slow"] = provider(faulty_url, models=["mock-large"], retries=0,
                                     timeouts={"first_byte": 30, "idle": 30})
    c = {"providers": providers}
    c.update(top)
    return c


def settle(mock, before, timeout=1.5):
    """Nothing of ours is left running upstream."""
    wait_for(lambda: mock.stats()["active"] <= before["active"], timeout,
             what="the mock's active gauge back to %d (now %r)" % (before["active"], mock.stats()))


def single(resps, closed=None):
    assert len(resps) == 1, resps
    return resps[0]


# --------------------------------------------------------------------------
# the client disappears
# --------------------------------------------------------------------------

def test_disconnect_during_the_request_head(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before = mock.stats()
    for partial in (b"POST /v1/chat/compl", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le"):
        s = socket.create_connection((HOST, gw.port), timeout=5)
        s.sendall(partial)
        time.sleep(0.05)
        s.close()
    time.sleep(0.2)
    assert mock.stats()["requests"] == before["requests"], "half a request reached the upstream"
    assert_serves(gw)
    leaks.check()


def test_disconnect_during_the_body_upload(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before = mock.stats()
    s = socket.create_connection((HOST, gw.port), timeout=5)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n" + b'{"model":"')
    time.sleep(0.1)
    s.close()
    time.sleep(0.2)
    assert mock.stats()["requests"] == before["requests"], "an incomplete body reached the upstream"
    assert_serves(gw)
    leaks.check()


SLOW_ROUTE_POLICY = """
local router = require("moongate.router")
local M, config = {}, nil
function M.init(cfg) config = cfg end
function M.route(req)
  local t0 = os.clock()
  while os.clock() - t0 < 0.15 do end      -- 150 ms of policy work
  return router.route(req, config)
end
return M
"""


def test_disconnect_while_the_policy_routes(gateway, mock, faults):
    # the routed target answers only after 2 s: if the gateway still starts it
    # once the client is gone, the mock must see it cancelled at once
    gw = gateway(cfg(mock, faults(first_byte_ms=2000), policy_timeout=1), policy=SLOW_ROUTE_POLICY)
    leaks = Leaks(gw, warm=4)
    before = mock.stats()
    s = socket.create_connection((HOST, gw.port), timeout=5)
    s.sendall(chat_request("mock-large"))
    time.sleep(0.05)
    s.close()                           # mid-route
    time.sleep(0.5)                     # route is over; anything started upstream must be gone by now
    now = mock.stats()
    started = now["requests"] - before["requests"]
    assert started in (0, 1), now
    if started:
        wait_upstream_released(mock, before, cancelled=True, timeout=1.0)
    settle(mock, before)
    assert gw.alive()
    assert_serves(gw)
    leaks.check()


def test_disconnect_while_waiting_for_the_upstream_cancels_it(gateway, mock, faults):
    gw = gateway(cfg(mock, faults(first_byte_ms=2000)))
    leaks = Leaks(gw)
    before = mock.stats()
    s = socket.create_connection((HOST, gw.port), timeout=5)
    s.sendall(chat_request("mock-large"))
    time.sleep(0.1)
    s.close()
    t0 = time.monotonic()
    wait_upstream_released(mock, before, cancelled=True, timeout=1.5)
    assert time.monotonic() - t0 < 1.5
    line = gw.wait_log(lambda l: l.get("type") == "access" and l.get("model") == "mock-large", 3,
                       what="access line of the abandoned request")
    assert line.get("abort"), line
    assert_serves(gw)
    leaks.check()


def test_disconnect_mid_stream_with_a_reset_cancels_the_upstream(gateway, mock, faults):
    gw = gateway(cfg(mock, faults(pace_ms=100, events=50)))
    leaks = Leaks(gw)
    before = mock.stats()
    c = gw.stream(chat_body("mock-large", stream=True))
    rid = c.header("x-request-id")
    assert c.next_event() is not None and c.next_event() is not None
    rst_close(c.sock)                   # RST, not FIN
    wait_upstream_released(mock, before, cancelled=True, timeout=1.5)
    line = gw.access_for(rid)
    assert line.get("abort"), line
    assert_serves(gw)
    leaks.check()


# --------------------------------------------------------------------------
# slow and lying clients
# --------------------------------------------------------------------------

def _drip_until_answer(sock, data, every, limit):
    """Sends data one byte every `every` s until the server answers or closes
    (or `limit` s pass). Returns (bytes received, closed, seconds)."""
    t0 = time.monotonic()
    got = b""
    i = 0
    while time.monotonic() - t0 < limit:
        if i < len(data):
            try:
                sock.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
        r, _, _ = select_read(sock, every)
        if r:
            try:
                d = sock.recv(65536)
            except ConnectionResetError:
                return got, True, time.monotonic() - t0
            if not d:
                return got, True, time.monotonic() - t0
            got += d
            resps, _ = parse_responses(got)
            if resps:
                return got, False, time.monotonic() - t0
    return got, False, time.monotonic() - t0


def select_read(sock, timeout):
    import select
    return select.select([sock], [], [], timeout)


def test_slowloris_headers_are_cut_at_header_timeout_and_others_are_served(gateway, mock):
    gw = gateway(cfg(mock, header_timeout=1))
    leaks = Leaks(gw)
    others = []
    stop = threading.Event()

    def other_clients():
        while not stop.is_set():
            try:
                r = gw.chat(chat_body("mock-small"), timeout=5)
                others.append((r.status, r.elapsed))
            except Exception as e:      # noqa: BLE001 - reported below
                others.append((repr(e), 99))
            time.sleep(0.05)

    t = threading.Thread(target=other_clients, daemon=True)
    s = socket.create_connection((HOST, gw.port), timeout=5)
    t.start()
    try:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        got, closed, secs = _drip_until_answer(s, head, 0.5, 4.0)
    finally:
        stop.set()
        t.join(6)
        s.close()
    assert got or closed, "a header dripped at 2 bytes/s was not cut off after %.1fs" % secs
    assert secs <= 1.7, "cut after %.2fs with header_timeout = 1" % secs
    if got:
        resps, _ = parse_responses(got)
        err = assert_openai_error(resps[0], 408)
        assert err["code"] == "request_timeout", err
    assert others and all(st == 200 and el < 1.0 for st, el in others), others
    assert_serves(gw)
    leaks.check()


def test_a_body_slower_than_body_timeout_gets_408(gateway, mock):
    # 1 byte every 0.4 s: every read comes well within the 1 s timeout, the
    # body as a whole does not
    gw = gateway(cfg(mock, body_timeout=1))
    leaks = Leaks(gw)
    before = mock.stats()
    body = json.dumps(chat_body("mock-small")).encode()
    s = socket.create_connection((HOST, gw.port), timeout=5)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        got, closed, secs = _drip_until_answer(s, body, 0.4, 4.0)
    finally:
        s.close()
    assert got or closed, ("a body dripped at 1 byte / 0.4 s (%d bytes) was still being read after %.1fs "
                           "with body_timeout = 1" % (len(body), secs))
    assert secs <= 1.8, secs
    if got:
        resps, _ = parse_responses(got)
        assert_openai_error(resps[0], 408)
    assert mock.stats()["requests"] == before["requests"]
    assert_serves(gw)
    leaks.check()


def test_content_length_larger_than_the_body_times_out_with_408(gateway, mock):
    gw = gateway(cfg(mock, body_timeout=1))
    leaks = Leaks(gw)
    before = mock.stats()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100\r\n\r\n" + b'{"model":"')
    resps, closed, raw, secs = raw_conversation(gw.port, req, timeout=5, want=1)
    err = assert_openai_error(single(resps), 408)
    assert err["code"] == "request_timeout", err
    assert 0.9 <= secs <= 2.0, secs
    assert closed, "the connection must close after a 408"
    assert mock.stats()["requests"] == before["requests"]
    assert_serves(gw)
    leaks.check()


def test_content_length_smaller_than_the_body_leaves_the_rest_as_the_next_request(gateway, mock):
    # header_timeout bounds the case should the remainder be waited on as an
    # incomplete request head
    gw = gateway(cfg(mock, header_timeout=2))
    leaks = Leaks(gw)
    before = mock.stats()
    # pretty-printed JSON (line ends between members), as many clients send it
    body = json.dumps(chat_body("mock-small", content="x" * 40), indent=1).encode()
    assert len(body) >= 100
    body = body[:100]
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 10\r\n\r\n" + body)
    resps, closed, raw, secs = raw_conversation(gw.port, req, timeout=5, want=2)
    assert len(resps) == 2, raw[:600]
    err = assert_openai_error(resps[0], 400)      # the first 10 bytes are not JSON
    assert err["code"] == "invalid_json", err
    assert_openai_error(resps[1], 400)            # the other 90 bytes are no request
    assert closed
    assert secs < 1.5, secs
    assert mock.stats()["requests"] == before["requests"]
    assert_serves(gw)
    leaks.check()


def test_pipelined_garbage_after_a_valid_request(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    req = chat_request("mock-small") + b"\x16\x03\x01garbage \x00\xff\r\n\r\n"
    resps, closed, raw, secs = raw_conversation(gw.port, req, timeout=5, want=2)
    assert len(resps) == 2, raw[:600]
    assert resps[0].status == 200, resps[0]
    assert resps[0].json()["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert_openai_error(resps[1], 400)
    assert closed, "the connection must close after the 400"
    assert_serves(gw)
    leaks.check()


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------

def _limit_case(gateway, mock, data, status, code, **limits):
    gw = gateway(cfg(mock, **limits))
    leaks = Leaks(gw)
    before = mock.stats()
    resps, closed, raw, secs = raw_conversation(gw.port, data, timeout=5, want=1)
    err = assert_openai_error(single(resps), status)
    assert err["code"] == code, err
    assert resps[0].header("connection", ) in ("close", None) or closed, resps[0]
    assert secs < 1.5, "the rejection took %.2fs" % secs
    assert mock.stats()["requests"] == before["requests"]
    assert_serves(gw)
    leaks.check()
    return resps[0]


def test_huge_request_line_gets_414(gateway, mock):
    _limit_case(gateway, mock, b"GET /v1/models?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                414, "request_line_too_long")


def test_huge_header_gets_431(gateway, mock):
    _limit_case(gateway, mock, http_head("POST", CHAT, [("X-Big", "b" * 40000)],
                                         json.dumps(chat_body()).encode()), 431, "headers_too_large")


def test_hundreds_of_headers_get_431(gateway, mock):
    hs = [("X-H%d" % i, "v") for i in range(300)]
    _limit_case(gateway, mock, http_head("POST", CHAT, hs, json.dumps(chat_body()).encode()),
                431, "headers_too_large")


def test_declared_body_over_the_limit_gets_413_without_reading_it(gateway, mock):
    # Content-Length over max_body: refused at once, the body never sent
    data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (9 * 1024 * 1024))
    _limit_case(gateway, mock, data, 413, "request_too_large")


def test_invalid_chunked_encoding_gets_400(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before = mock.stats()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    payload = json.dumps(chat_body()).encode()
    bad = [
        b"zz\r\n" + payload + b"\r\n0\r\n\r\n",                              # size not hex
        b"%x\r\n" % len(payload) + payload + b"XX0\r\n\r\n",                 # no CRLF after the data
        b"-5\r\nhello\r\n0\r\n\r\n",                                          # negative size
        b"%x\r\n" % len(payload) + payload + b"\r\n" + b"f" * 2000 + b"\r\n",  # absurd size line
    ]
    for body in bad:
        resps, closed, raw, secs = raw_conversation(gw.port, head + body, timeout=5, want=1)
        assert len(resps) == 1, (body[:40], raw[:300])
        assert_openai_error(resps[0], 400)
        assert closed
    assert mock.stats()["requests"] == before["requests"]
    assert_serves(gw)
    leaks.check()


# --------------------------------------------------------------------------
# hostile bodies
# --------------------------------------------------------------------------

def _utf8_case(gateway, mock, body):
    """Either relayed byte for byte to the upstream, or a clean 400."""
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before = mock.stats()
    resps, closed, raw, secs = raw_conversation(gw.port, http_head("POST", CHAT, [], body), timeout=5, want=1)
    r = single(resps)
    if r.status == 200:
        assert mock.stats()["requests"] == before["requests"] + 1
        last = mock.last()
        # /_mock/last shows invalid UTF-8 as U+FFFD per bad byte
        assert last["body"] == body.decode("utf-8", "replace"), (last["body"], body)
        assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-small")
    else:
        assert_openai_error(r, 400)
        assert mock.stats()["requests"] == before["requests"]
    assert_serves(gw)
    leaks.check()
    return r


def test_lone_surrogate_escape_is_relayed_byte_for_byte_or_refused(gateway, mock):
    body = b'{"model":"mock-small","messages":[{"role":"user","content":"a\\ud800b\\udfffc"}]}'
    r = _utf8_case(gateway, mock, body)
    # documented outcome (observed): refused with 400 invalid_json, since
    # cjson rejects lone surrogate escapes; the body never reaches the upstream
    assert r.status == 400, r
    assert r.json()["error"]["code"] == "invalid_json", r


def test_raw_invalid_utf8_is_relayed_byte_for_byte_or_refused(gateway, mock):
    body = b'{"model":"mock-small","messages":[{"role":"user","content":"a\xffb\xfec\x80d"}]}'
    r = _utf8_case(gateway, mock, body)
    # documented outcome (observed): relayed byte for byte (the gateway does
    # not re-encode bodies; cjson does not validate UTF-8)
    assert r.status == 200, r


def test_json_nested_100000_deep_gets_a_clean_400(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before = mock.stats()
    depth = 100000
    body = (b'{"model":"mock-small","messages":[{"role":"user","content":' + b"[" * depth + b"]" * depth
            + b"}]}")
    resps, closed, raw, secs = raw_conversation(gw.port, http_head("POST", CHAT, [], body), timeout=10, want=1)
    r = single(resps)
    err = assert_openai_error(r, 400)
    assert err["type"] == "invalid_request_error", err
    assert mock.stats()["requests"] == before["requests"]
    assert gw.alive()
    assert_serves(gw)
    leaks.check()


# --------------------------------------------------------------------------
# odd but legal, and hostile heads
# --------------------------------------------------------------------------

def test_http10_without_host_is_served(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    resps, closed, raw, secs = raw_conversation(gw.port, chat_request("mock-small", version="HTTP/1.0", host=False),
                                                timeout=5, want=1)
    r = single(resps)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert raw.startswith(b"HTTP/1."), raw[:40]
    assert closed, "an HTTP/1.0 request without keep-alive ends with a close"
    assert_serves(gw)
    leaks.check()


def test_absolute_form_uri_is_served_locally_never_proxied_by_target(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before = mock.stats()
    req = chat_request("mock-small", path="http://evil.example/v1/chat/completions")
    resps, closed, raw, secs = raw_conversation(gw.port, req, timeout=5, want=1)
    r = single(resps)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert mock.stats()["requests"] == before["requests"] + 1
    last = mock.last()
    assert last["path"] == "/v1/chat/completions", last
    assert last["headers"].get("host") == "%s:%d" % (HOST, mock.port), last["headers"]
    assert "evil" not in json.dumps(last), last
    assert r.header("x-moongate-provider") == "mock"
    assert_serves(gw)
    leaks.check()


def _assert_not_reflected(r, value):
    head = r.head
    assert b"\r\nX-Evil" not in head and b"\r\nx-evil" not in head.lower(), head
    if isinstance(value, str):
        value = value.encode("utf-8")
    if len(value) >= 4:
        assert value not in head, "the header value was reflected into the response head: %r" % head[:400]
    assert r.header("x-moongate-model") is None or r.header("x-moongate-model") == "mock-small", r.header_list


def test_header_injection_through_routeur_headers(gateway, mock):
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    before_reqs = mock.stats()["requests"]
    body = json.dumps(chat_body("mock-small")).encode()

    # a bare CR inside the value (a CRLF would simply end the field): refused or harmless
    for name in ("Routeur-Model", "Routeur-Provider"):
        raw_head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + name.encode()
                    + b": mock-small\rX-Evil: 1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % len(body))
        resps, closed, raw, secs = raw_conversation(gw.port, raw_head + body, timeout=5, want=1)
        r = single(resps)
        if r.status == 400:
            assert_openai_error(r, 400)
        else:
            assert_openai_error(r, 404)         # the value as a whole names no model / provider
        _assert_not_reflected(r, b"X-Evil")
        if mock.stats()["requests"] != before_reqs:
            assert "x-evil" not in mock.last()["headers"], mock.last()["headers"]

    # sent with a real CRLF the "injection" is just another header: served normally, nothing reflected
    resps, closed, raw, secs = raw_conversation(
        gw.port, http_head("POST", CHAT, [("Routeur-Model", "mock-small"), ("X-Evil", "1")], body),
        timeout=5, want=1)
    r = single(resps)
    assert r.status == 200, r
    _assert_not_reflected(r, b"X-Evil")

    # path tricks, huge and unicode values: 404 in the envelope, never reflected into headers
    values = ["../../etc", "mock-small/../../etc/passwd", "a" * 8192, "mod\u00e8le-\u00fc-\U0001F600",
              "mock-small\u2028X-Evil: 1", "../mock-small"]
    for name in ("Routeur-Model", "Routeur-Provider"):
        for v in values + ["mock/../x"] * (name == "Routeur-Provider"):
            resps, closed, raw, secs = raw_conversation(gw.port, http_head("POST", CHAT, [(name, v)], body),
                                                        timeout=5, want=1)
            r = single(resps)
            err = assert_openai_error(r, 404)
            want = "model_not_found" if name == "Routeur-Model" else "provider_not_found"
            assert err["code"] == want, (name, v[:40], err)
            _assert_not_reflected(r, v)

    # "provider/model" pins any model id on an enabled provider (README,
    # "Choosing the model"): the id travels in the JSON body only, the
    # upstream URL stays the provider's
    before = mock.stats()["requests"]
    resps, closed, raw, secs = raw_conversation(
        gw.port, http_head("POST", CHAT, [("Routeur-Model", "mock/../x")], body), timeout=5, want=1)
    r = single(resps)
    if r.status == 200:
        last = mock.last()
        assert mock.stats()["requests"] == before + 1
        assert last["path"] == "/v1/chat/completions", last
        assert json.loads(last["body"])["model"] == "../x", last["body"]
    else:
        assert_openai_error(r, 404)
    assert b"X-Evil" not in r.head
    assert_serves(gw)
    leaks.check()


def test_model_id_with_crlf_is_never_reflected_into_response_headers(gateway, mock):
    # JSON escapes put CR LF into a model id; the pinned id is echoed in
    # x-moongate-model, so it must be refused or sanitised, never written raw
    gw = gateway(cfg(mock))
    leaks = Leaks(gw)
    cases = [
        ("non-stream", chat_body("mock/x\r\nX-Evil: 1"), []),
        ("Routeur-Provider", chat_body("x\r\nX-Evil: 1"), [("Routeur-Provider", "mock")]),
        ("stream", chat_body("mock/y\r\nX-Evil: 2", stream=True), []),
        ("bare LF", chat_body("mock/z\nX-Evil: 3"), []),
        ("NUL", chat_body("mock/w\u0000X-Evil: 4"), []),
    ]
    problems = []
    for what, b, hs in cases:
        resps, closed, raw, secs = raw_conversation(gw.port, http_head("POST", CHAT, hs, json.dumps(b).encode()),
                                                    timeout=5, want=1)
        head = raw.split(b"\r\n\r\n", 1)[0]
        lines = head.split(b"\r\n")
        bad = [l for l in lines if l.lower().startswith(b"x-evil")] + [l for l in lines if b"\n" in l or b"\0" in l]
        if bad or not resps:
            problems.append("%s: response head %r" % (what, head[:400]))
        elif resps[0].status >= 400:
            assert_openai_error(resps[0])
    assert not problems, "model id reflected raw into response headers:\n  " + "\n  ".join(problems)
    assert_serves(gw)
    leaks.check()


# --------------------------------------------------------------------------
# a burst of connections
# --------------------------------------------------------------------------

def _burst(port, n, req, deadline_s):
    """n concurrent connections, each sends `req` and reads one response.
    Returns ({status: count}, errors)."""
    sel = selectors.DefaultSelector()
    states = {}
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((HOST, port))
        st = {"sock": s, "out": req, "in": b""}
        states[s.fileno()] = st
        sel.register(s, selectors.EVENT_WRITE, st)
    statuses, errors = {}, []
    left = n
    deadline = time.monotonic() + deadline_s
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(0.5):
            st = key.data
            s = st["sock"]
            done = False
            try:
                if ev & selectors.EVENT_WRITE:
                    k = s.send(st["out"])
                    st["out"] = st["out"][k:]
                    if not st["out"]:
                        sel.modify(s, selectors.EVENT_READ, st)
                elif ev & selectors.EVENT_READ:
                    d = s.recv(65536)
                    if not d:
                        errors.append("closed without a reply: %r" % st["in"][:100])
                        done = True
                    else:
                        st["in"] += d
                        resps, _ = parse_responses(st["in"])
                        if resps:
                            statuses[resps[0].status] = statuses.get(resps[0].status, 0) + 1
                            if resps[0].status != 200:
                                st["bad"] = resps[0]
                                errors.append(repr(resps[0]))
                            done = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                errors.append(repr(e))
                done = True
            if done:
                sel.unregister(s)
                s.close()
                left -= 1
    for key in list(sel.get_map().values()):
        errors.append("no reply within %.0fs" % deadline_s)
        key.fileobj.close()
    sel.close()
    return statuses, errors


def _burst_setup(gateway, tmp_path, **settings):
    """Raises RLIMIT_NOFILE (the gateway inherits it) and starts a private mock
    under it: the gateway opens up to one upstream connection per client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    (tmp_path / "burst-mock").mkdir()
    mk = Mock(str(tmp_path / "burst-mock"))
    gw = gateway(dict({"providers": {"mock": provider(mk.url(), models=["mock-small"],
                                                      timeouts={"connect": 10, "first_byte": 30})}},
                      **settings))
    return mk, gw, (soft, hard)


def _burst_checked(gw, n):
    req = chat_request("mock-small")
    t0 = time.monotonic()
    statuses, errors = _burst(gw.port, n, req, 60)
    elapsed = time.monotonic() - t0
    assert not [e for e in errors if "503" not in e], (
        "%d of %d connections failed (statuses %r): %r" % (len(errors), n, statuses, errors[:5]))
    assert sum(statuses.values()) == n, statuses
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.get(200, 0) > 0, statuses
    return elapsed


BURST = 2000


@pytest.mark.limit(90)
def test_a_2000_connection_burst_is_served_and_leaks_nothing(gateway, tmp_path):
    mk, gw, lim = _burst_setup(gateway, tmp_path)
    try:
        leaks = Leaks(gw)
        elapsed = _burst_checked(gw, BURST)
        assert_serves(gw)
        # client-side fds exactly back; the idle upstream connections left in
        # libcurl's cache are bounded by the burst's concurrency (a leak of
        # upstream sockets would exceed it after a second burst); memory is
        # judged by the next test and, in the ASan build, by LeakSanitizer
        leaks.check(timeout=5, rss_mb=1e9, upstream_slack=BURST, what="after the burst (%.1fs)" % elapsed)
        _burst_checked(gw, BURST)
        assert_serves(gw)
        leaks.check(timeout=5, rss_mb=1e9, upstream_slack=BURST, what="after a second burst")
    finally:
        mk.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, lim)


@pytest.mark.limit(90)
def test_after_a_2000_connection_burst_fds_and_rss_return_to_baseline(gateway, tmp_path):
    # the criterion taken literally: after the burst the gateway's fds
    # are back at the baseline and RSS within +5 MB. Idle upstream connections
    # are a cache (capped per origin, closed after upstream_idle_timeout): a
    # 1 s timeout here lets the pool drain within the check, and workers hand
    # freed heap back to the system when idle (every 2 s).
    # libevent keeps its per-descriptor tables up to the highest fd the
    # process has seen, and those small blocks pin heap pages: the first burst
    # sets that high-water mark, so the baseline is taken after one burst and
    # the check is that a second one leaves nothing behind.
    mk, gw, lim = _burst_setup(gateway, tmp_path, upstream_idle_timeout=1)
    try:
        _burst_checked(gw, BURST)
        time.sleep(3.0)
        leaks = Leaks(gw)
        elapsed = _burst_checked(gw, BURST)
        assert_serves(gw)
        time.sleep(3.0)
        leaks.check(timeout=5, what="after a %d-connection burst (%.1fs)" % (BURST, elapsed))
    finally:
        mk.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, lim)
