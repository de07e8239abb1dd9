"""User policies: errors, runaway code, rejections and the sandbox, as a user sees them."""
import json
import os
import re
import threading
import time

from conftest import chat_body, http_request, mock_text, provider

POLICY = """
return {
  route = function(req)
    if req:header("x-boom") then
      error("boom from the policy")
    end
    if req:header("x-spin") then
      while true do end
    end
    if req:header("x-deny") then
      return nil, 403, "denied by policy"
    end
    if req:header("x-shell") then
      os.execute("touch " .. req:header("x-shell"))
    end
    return { { provider = "mock", model = "mock-small" } }
  end,
}
"""


def cfg(mock):
    return {"providers": {"mock": provider(mock.url(), models=["mock-small", "mock-large"])}}


def test_a_policy_that_raises_gives_500_with_the_request_id_and_logs_file_line(gateway, mock):
    gw = gateway(cfg(mock), policy=POLICY)
    r = gw.chat(chat_body("anything"), headers={"x-boom": "1"})
    assert r.status == 500, r
    assert "application/json" in (r.header("content-type") or "")
    err = r.json()["error"]
    rid = r.header("x-request-id")
    assert rid and rid in r.text, "the 500 body should carry the request id %r: %r" % (rid, r.text)
    assert err["message"]
    line = gw.wait_log(lambda l: l.get("type") == "event" and "policy error" in l.get("msg", ""),
                       what="a 'policy error' log line")
    assert line.get("level") == "error", line
    assert re.search(r"policy\.lua:\d+", line["msg"]), line
    assert "boom from the policy" in line["msg"]
    assert rid in json.dumps(line), "the policy error log line must name the request id: %r" % line
    ok = gw.chat(chat_body("anything"))
    assert ok.status == 200, ok
    assert ok.json()["choices"][0]["message"]["content"] == mock_text("mock-small")


def test_a_runaway_policy_is_stopped_with_500_within_a_second_and_workers_survive(gateway, mock):
    gw = gateway(cfg(mock), policy=POLICY)
    results = []

    def spin():
        t0 = time.monotonic()
        r = http_request(gw.port, "POST", "/v1/chat/completions", body=chat_body("x"),
                         headers={"x-spin": "1"}, timeout=10)
        results.append((r, time.monotonic() - t0))

    # several at once so every worker gets to run one
    ths = [threading.Thread(target=spin, daemon=True) for _ in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(15)
    assert len(results) == 4
    for r, elapsed in results:
        assert r.status == 500, r
        assert r.json()["error"]["message"]
        assert elapsed < 1.5, "runaway policy answered after %.2fs" % elapsed
    # afterwards both workers serve normally (several connections, several requests)
    for _ in range(10):
        r = gw.chat(chat_body("x"))
        assert r.status == 200, r
    assert gw.alive()


def test_a_policy_rejection_reaches_the_client_in_the_openai_envelope(gateway, mock):
    gw = gateway(cfg(mock), policy=POLICY)
    before = mock.stats()["requests"]
    r = gw.chat(chat_body("x"), headers={"x-deny": "1"})
    assert r.status == 403, r
    # the policy's message reaches the client (the gateway may append the request id)
    assert r.json()["error"]["message"].startswith("denied by policy"), r
    assert mock.stats()["requests"] == before


def test_a_policy_cannot_run_shell_commands(gateway, mock, tmp_path):
    gw = gateway(cfg(mock), policy=POLICY)
    target = str(tmp_path / "pwned")
    r = gw.chat(chat_body("x"), headers={"x-shell": target})
    assert r.status == 500, r
    time.sleep(0.2)
    assert not os.path.exists(target), "the sandboxed policy ran os.execute"
    assert gw.chat(chat_body("x")).status == 200


def test_policy_body_edits_reach_the_upstream_and_keep_the_rest(gateway, mock):
    policy = """
return {
  route = function(req)
    req:set_field("temperature", 0.5)
    req:remove_field("user")
    req:remove_tools({"secret_tool"})
    return { { provider = "mock", model = "mock-small" } }
  end,
}
"""
    gw = gateway(cfg(mock), policy=policy)
    sent = (b'{"model":"mock-small","messages":[{"role":"user","content":"hi \\u00e9"}],"user":"u1",'
            b'"n":1,"tools":[{"type":"function","function":{"name":"secret_tool","parameters":{}}},'
            b'{"type":"function","function":{"name":"get_weather","parameters":{}}}],"tool_choice":"auto"}')
    r = gw.chat(sent)
    assert r.status == 200, r
    body = mock.last()["body"]
    up = json.loads(body)
    assert up["temperature"] == 0.5
    assert "user" not in up
    assert [t["function"]["name"] for t in up["tools"]] == ["get_weather"]
    assert up["tool_choice"] == "auto" and up["n"] == 1
    assert '"hi \\u00e9"' in body, "untouched strings keep their escapes: %r" % body


def test_removing_every_tool_also_drops_tool_choice(gateway, mock):
    policy = """
return {
  route = function(req)
    req:remove_tools({"secret_tool"})
    return { { provider = "mock", model = "mock-small" } }
  end,
}
"""
    gw = gateway(cfg(mock), policy=policy)
    sent = {"model": "mock-small", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "secret_tool", "parameters": {}}}],
            "tool_choice": "auto"}
    r = gw.chat(sent)
    assert r.status == 200, r
    up = json.loads(mock.last()["body"])
    assert "tools" not in up and "tool_choice" not in up
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-small")


def test_a_policy_edit_before_the_router_is_what_the_router_and_the_upstream_see(gateway, mock):
    # the router reads the body's fields off its bytes (core:peek) until the policy edits or
    # decodes it; from then on the edited body counts
    policy = """
local router = require("moongate.router")
local config
return {
  init = function(cfg) config = cfg end,
  route = function(req)
    if req:header("x-edit") then
      req:set_field("model", "mock-large")
      req:set_field("stream", true)
    end
    if req:header("x-peek-first") then
      local first = router.route(req, config)          -- routed on the client's body
      req:set_field("model", "mock-large")
      assert(first[1].model == "mock-small")
    end
    return router.route(req, config)
  end,
}
"""
    gw = gateway(cfg(mock), policy=policy)
    r = gw.chat(chat_body("mock-small"), headers={"x-edit": "1"})
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-large"
    assert "text/event-stream" in (r.header("content-type") or "")   # the edited stream flag counts
    up = json.loads(mock.last()["body"])
    assert up["model"] == "mock-large" and up["stream"] is True
    r = gw.chat(chat_body("mock-small"), headers={"x-peek-first": "1"})
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-large"
    assert json.loads(mock.last()["body"])["model"] == "mock-large"
