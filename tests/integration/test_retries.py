"""Retries, fallbacks, timeouts and upstream failures as the client sees them.

Alias targets: the stock router picks the first target at random by weight
(default 1); `weight = 0` marks a target as fallback only, so fallback tests
give every target after the first weight 0 to make the order deterministic."""
import json
import time

from conftest import (assert_openai_error, chat_body, closed_port, content_events, error_events, mock_text,
                      provider, stream_text)


def test_429_with_retry_after_is_honoured_before_retrying(gateway, mock, faults):
    gw = gateway({"providers": {
        "rl": provider(faults(status=429, retry_after=1, fail_first=1), models=["mock-small"], retries=1),
    }})
    t0 = time.monotonic()
    r = gw.chat(chat_body("mock-small"))
    elapsed = time.monotonic() - t0
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "rl"
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert elapsed >= 0.9, "retried after %.3fs, before Retry-After: 1" % elapsed
    assert elapsed < 5, elapsed


def test_500_falls_back_to_the_second_provider(gateway, mock, faults):
    gw = gateway({
        "providers": {
            "flaky": provider(faults(status=500), models=["mock-small"], retries=0),
            "mock": provider(mock.url(), models=["mock-small", "mock-large"]),
        },
        "aliases": {"smart": [{"provider": "flaky", "model": "mock-small"},
                              {"provider": "mock", "model": "mock-large", "weight": 0}]},
    })
    r = gw.chat(chat_body("smart"))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "mock"
    assert r.header("x-moongate-model") == "mock-large"
    assert r.header("x-moongate-attempts") == "2"
    line = gw.access_for(r.header("x-request-id"))
    assert line["attempts"] == 2 and line["status"] == 200, line


def test_connection_refused_falls_back_to_the_second_provider(gateway, mock):
    gw = gateway({
        "providers": {
            "dead": provider("http://127.0.0.1:%d/v1" % closed_port(), models=["mock-small"], retries=0),
            "mock": provider(mock.url(), models=["mock-small", "mock-large"]),
        },
        "aliases": {"smart": [{"provider": "dead", "model": "mock-small"},
                              {"provider": "mock", "model": "mock-small", "weight": 0}]},
    })
    t0 = time.monotonic()
    r = gw.chat(chat_body("smart"))
    assert r.status == 200, r
    assert time.monotonic() - t0 < 3
    assert r.header("x-moongate-provider") == "mock"


def test_stream_falls_back_before_the_first_byte(gateway, mock, faults):
    gw = gateway({
        "providers": {
            "flaky": provider(faults(status=503), models=["mock-small"], retries=0),
            "mock": provider(mock.url(), models=["mock-small"]),
        },
        "aliases": {"smart": [{"provider": "flaky", "model": "mock-small"},
                              {"provider": "mock", "model": "mock-small", "weight": 0}]},
    })
    c = gw.stream(chat_body("smart", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200
    assert c.header("x-moongate-provider") == "mock"
    assert stream_text(c.events) == mock_text("mock-small") and c.saw_done


def test_upstream_400_is_passed_through_unchanged_and_not_retried(gateway, mock, faults):
    base = faults(status=400)
    gw = gateway({
        "providers": {
            "strict": provider(base, models=["mock-small"], retries=2),
            "mock": provider(mock.url(), models=["mock-small"]),
        },
        "aliases": {"smart": [{"provider": "strict", "model": "mock-small"},
                              {"provider": "mock", "model": "mock-small", "weight": 0}]},
    })
    body = chat_body("mock-small")
    direct = mock.post(base, "/chat/completions", body)
    assert direct.status == 400
    before = mock.stats()["requests"]
    r = gw.chat(chat_body("smart"))
    after = mock.stats()["requests"]
    assert r.status == 400, r
    assert r.body == direct.body
    assert after - before == 1, "a 400 must not be retried nor fall back (%d upstream requests)" % (
        after - before)


def test_mid_stream_reset_ends_the_stream_with_an_error_event_and_no_done(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(reset_after=3, events=8), retries=2)}})
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200
    assert len(content_events(c.events)) == 3, c.events
    errs = error_events(c.events)
    assert len(errs) == 1, c.events
    assert c.events[-1] is errs[0], "the error event must be the last event"
    err = errs[0].json()["error"]
    assert err["type"] == "upstream_error"
    assert err["code"] in ("upstream_reset", "upstream_error"), err
    assert not c.saw_done, "a broken stream must not end with [DONE]"
    assert c.finished, "the chunked reply must be terminated properly"
    line = gw.access_for(c.header("x-request-id"))
    assert line.get("abort"), line


def test_mid_stream_stall_ends_with_a_timeout_error_event(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(stall_after=2, events=8), retries=0,
                                                 timeouts={"idle": 1})}})
    t0 = time.monotonic()
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all(timeout=8)
    c.close()
    assert time.monotonic() - t0 < 4
    assert len(content_events(c.events)) == 2
    errs = error_events(c.events)
    assert len(errs) == 1 and errs[0].json()["error"]["code"] == "upstream_timeout", c.events
    assert not c.saw_done and c.finished


def test_upstream_that_never_answers_gives_504_within_its_timeout(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(stall=1), retries=0, timeouts={"first_byte": 1})}})
    t0 = time.monotonic()
    r = gw.chat(chat_body("mock-small"), timeout=15)
    elapsed = time.monotonic() - t0
    err = assert_openai_error(r, 504)
    assert err["code"] == "upstream_timeout"
    assert 0.9 <= elapsed <= 3.0, elapsed


def test_slow_first_byte_within_the_timeout_succeeds(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(first_byte_ms=300), retries=0,
                                                 timeouts={"first_byte": 3})}})
    r = gw.chat(chat_body("mock-small"))
    assert r.status == 200, r
    assert r.elapsed >= 0.29


def test_all_attempts_429_returns_429_with_retry_after(gateway, mock, faults):
    gw = gateway({
        "providers": {
            "a": provider(faults(status=429, retry_after=1), models=["mock-small"], retries=0),
            "b": provider(faults(status=429, retry_after=1), models=["mock-small"], retries=0),
        },
        "aliases": {"both": [{"provider": "a", "model": "mock-small"}, {"provider": "b", "model": "mock-small"}]},
    })
    r = gw.chat(chat_body("both"))
    err = assert_openai_error(r, 429)
    assert err["code"] == "upstream_rate_limited"
    # the last provider's own words are quoted: a quota error is not a rate limit
    assert err["message"].endswith("; upstream said: mock fault: status 429" + " (request id %s)" % r.header("x-request-id")), err
    ra = r.header("retry-after")
    assert ra is not None, r.header_list
    assert float(ra) >= 0
    assert r.elapsed < 5


def test_all_attempts_500_returns_502(gateway, mock, faults):
    gw = gateway({"providers": {"a": provider(faults(status=500), models=["mock-small"], retries=1,
                                              backoff={"base": 0.05, "cap": 0.1})}})
    r = gw.chat(chat_body("mock-small"))
    err = assert_openai_error(r, 502)
    assert err["code"] == "upstream_unavailable"
    assert r.header("x-request-id")
    assert "(HTTP 500) after 2 attempts; last: a/mock-small; upstream said: mock fault: status 500" in err["message"], err


def test_upstream_bad_json_does_not_crash_the_gateway(gateway, mock, faults):
    gw = gateway({"providers": {"m": provider(faults(bad_json=1), models=["mock-small"], retries=0),
                                "mock": provider(mock.url(), models=["mock-large"])}})
    r = gw.chat(chat_body("mock-small"))
    assert r.status in (200, 502), r
    assert gw.chat(chat_body("mock-large")).status == 200


def test_an_upstream_error_event_reaches_the_client_and_the_stream_ends(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(error_event=2, events=8), retries=0)}})
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200
    assert len(content_events(c.events)) == 2
    assert error_events(c.events), "the upstream's error event was swallowed: %r" % c.events
    assert not c.saw_done
    assert c.finished, "the chunked reply must be terminated properly"


def test_a_malformed_upstream_frame_does_not_hurt_the_gateway(gateway, mock, faults):
    gw = gateway({"providers": {"m": provider(faults(malformed=1, events=4), models=["mock-small"], retries=0),
                                "mock": provider(mock.url(), models=["mock-large"])}})
    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    assert c.status == 200 and (c.finished or c.eof)
    r = gw.chat(chat_body("mock-large"))
    assert r.status == 200, r


def test_retry_after_beyond_the_cap_is_not_waited_for(gateway, mock, faults):
    gw = gateway({"providers": {"rl": provider(faults(status=429, retry_after=60, fail_first=1),
                                               models=["mock-small"], retries=1)},
                  "retry_after_cap": 1})
    r = gw.chat(chat_body("mock-small"), timeout=15)
    assert r.elapsed < 3, "the gateway slept on Retry-After: 60 despite retry_after_cap = 1 (%.1fs)" % r.elapsed
    assert r.status == 429, r
    assert r.header("retry-after") is not None
