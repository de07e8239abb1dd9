"""SIGHUP reloads: good, broken and frequent."""
import re
import threading
import time

from conftest import chat_body, content_events, http_request, mock_text, provider, wait_for

POLICY = """
return {
  route = function(req)
    local p = req:header("x-test-provider") or "mock"
    return { { provider = p, model = "%s" } }
  end,
}
"""


def policy_for(model):
    return POLICY % model


def reload_config(mock, faults):
    return {"providers": {
        "mock": provider(mock.url(), models=["mock-small", "mock-large"]),
        "slow": provider(faults(pace_ms=100, events=12), models=["mock-small", "mock-large"]),
    }}


def wait_generation(gw, above, timeout=5):
    return wait_for(lambda: gw.health()["generation"] > above, timeout, what="generation > %d" % above)


def test_health_reports_ok_generation_and_no_reload_error(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}})
    h = gw.health()
    assert h["status"] == "ok"
    assert isinstance(h["generation"], int)
    assert "last_reload_error" in h and h["last_reload_error"] is None


def test_sighup_with_a_good_policy_keeps_the_running_stream_and_applies_the_new_policy(gateway, mock, faults):
    gw = gateway(reload_config(mock, faults), policy=policy_for("mock-small"))
    assert gw.chat(chat_body("whatever")).header("x-moongate-model") == "mock-small"
    gen0 = gw.health()["generation"]
    c = gw.stream(chat_body("whatever", stream=True), headers={"x-test-provider": "slow"})
    assert c.status == 200
    assert c.next_event() is not None
    gw.write_policy(policy_for("mock-large"))
    gw.sighup()
    wait_generation(gw, gen0)
    gw.wait_log(lambda l: l.get("type") == "event" and "reload ok" in l.get("msg", ""),
                what="a 'reload ok' log line")
    r = gw.chat(chat_body("whatever"))
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-large"
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-large")
    assert not c.finished, "the slow stream should still be running during the reload"
    c.read_all(timeout=10)
    c.close()
    assert c.finished and c.saw_done
    assert len(content_events(c.events)) == 12
    assert c.header("x-moongate-model") == "mock-small"


def test_sighup_with_a_broken_policy_keeps_the_old_one_serving(gateway, mock, faults):
    gw = gateway(reload_config(mock, faults), policy=policy_for("mock-small"))
    gen0 = gw.health()["generation"]
    gw.write_policy("return {\n  route = function(req)\n    return {{ provider = 'mock' model = 'x' }}\n  end\n}\n")
    gw.sighup()
    line = gw.wait_log(lambda l: l.get("type") == "event" and "reload failed" in l.get("msg", ""),
                       what="a 'reload failed' log line")
    assert re.search(r"policy\.lua:\d+", line["msg"]), line
    h = gw.health()
    assert h["generation"] == gen0
    assert isinstance(h["last_reload_error"], str) and re.search(r"policy\.lua:\d+", h["last_reload_error"]), h
    r = gw.chat(chat_body("whatever"))
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-small"


def test_a_good_reload_after_a_failed_one_clears_last_reload_error(gateway, mock, faults):
    gw = gateway(reload_config(mock, faults), policy=policy_for("mock-small"))
    gen0 = gw.health()["generation"]
    gw.write_policy("return { route = function(req) return nil end")   # syntax error
    gw.sighup()
    wait_for(lambda: gw.health()["last_reload_error"], 5, what="last_reload_error set")
    gw.write_policy(policy_for("mock-large"))
    gw.sighup()
    wait_generation(gw, gen0)
    assert gw.health()["last_reload_error"] is None
    assert gw.chat(chat_body("whatever")).header("x-moongate-model") == "mock-large"


def test_sighup_applies_a_changed_config(gateway, mock, faults):
    cfg = {"providers": {"mock": provider(mock.url(), models=["mock-small", "mock-large"])},
           "aliases": {"auto": [{"provider": "mock", "model": "mock-small"}]}}
    gw = gateway(cfg)
    assert gw.chat(chat_body("auto")).header("x-moongate-model") == "mock-small"
    gen0 = gw.health()["generation"]
    cfg["aliases"] = {"auto": [{"provider": "mock", "model": "mock-large"}]}
    gw.write_config(cfg)
    gw.sighup()
    wait_generation(gw, gen0)
    assert gw.chat(chat_body("auto")).header("x-moongate-model") == "mock-large"


def test_sighup_every_100ms_during_200_requests_loses_none(gateway, mock, faults):
    gw = gateway(reload_config(mock, faults), policy=policy_for("mock-small"))
    gen0 = gw.health()["generation"]
    stop = threading.Event()
    sent = [0]

    def hupper():
        while not stop.is_set():
            gw.sighup()
            sent[0] += 1
            stop.wait(0.1)

    failures = []
    results = []

    def client(n):
        for _ in range(n):
            try:
                r = http_request(gw.port, "POST", "/v1/chat/completions", body=chat_body("whatever"), timeout=10)
                results.append(r.status)
                if r.status != 200 or r.json()["choices"][0]["message"]["content"] != mock_text("mock-small"):
                    failures.append(r)
            except Exception as e:     # noqa: BLE001 - any failure counts
                failures.append(repr(e))
            time.sleep(0.02)           # spread the loop over > 1 s of reloads

    t = threading.Thread(target=hupper, daemon=True)
    t.start()
    clients = [threading.Thread(target=client, args=(50,), daemon=True) for _ in range(4)]
    for th in clients:
        th.start()
    for th in clients:
        th.join(40)
    stop.set()
    t.join(2)
    assert len(results) + len([f for f in failures if isinstance(f, str)]) == 200
    assert not failures, failures[:5]
    assert gw.alive()
    assert sent[0] >= 5
    assert gw.health()["generation"] > gen0
    assert gw.health()["last_reload_error"] is None
