"""Provider keys go upstream and nowhere else."""
import json

from conftest import chat_body, provider

KEY = "sk-SECRET-XYZ-123"
FRAGMENTS = (KEY, "SECRET-XYZ")

POLICY = """
return {
  route = function(req)
    if req:header("x-boom") then error("policy exploded") end
    local p = req:header("x-test-provider") or "good"
    return { { provider = p, model = "mock-small" } }
  end,
}
"""


def test_provider_key_never_appears_in_logs_or_responses(gateway, mock, faults):
    gw = gateway({"providers": {
        "good": provider(mock.url(), models=["mock-small"], api_key=KEY),
        "unauth": provider(faults(status=401), models=["mock-small"], api_key=KEY, retries=0),
        "broken": provider(faults(status=500), models=["mock-small"], api_key=KEY, retries=0),
        "reset": provider(faults(reset_after=2), models=["mock-small"], api_key=KEY, retries=0),
        "stall": provider(faults(stall=1), models=["mock-small"], api_key=KEY, retries=0,
                          timeouts={"first_byte": 1}),
    }}, policy=POLICY)
    seen = []

    # success, and proof that the key was sent upstream
    r = gw.chat(chat_body("mock-small"))
    assert r.status == 200, r
    seen.append(r.raw())
    last = mock.last()
    assert last["headers"].get("authorization") == "Bearer " + KEY

    c = gw.stream(chat_body("mock-small", stream=True))
    c.read_all()
    c.close()
    assert c.saw_done
    seen.append(c.raw())

    # upstream 401 and 500
    for name, want in (("unauth", 401), ("broken", 502)):
        r = gw.chat(chat_body("mock-small"), headers={"x-test-provider": name})
        assert r.status in (want, 401, 500, 502), r
        seen.append(r.raw())
    # mid-stream reset
    c = gw.stream(chat_body("mock-small", stream=True), headers={"x-test-provider": "reset"})
    c.read_all()
    c.close()
    seen.append(c.raw())
    # timeout
    r = gw.chat(chat_body("mock-small"), headers={"x-test-provider": "stall"})
    assert r.status == 504, r
    seen.append(r.raw())
    # unknown provider from the policy, policy error, unknown path, models, health
    seen.append(gw.chat(chat_body("mock-small"), headers={"x-test-provider": "nope"}).raw())
    r = gw.chat(chat_body("mock-small"), headers={"x-boom": "1"})
    assert r.status == 500
    seen.append(r.raw())
    seen.append(gw.request("GET", "/v1/models").raw())
    seen.append(gw.request("GET", "/health").raw())
    seen.append(gw.chat(b"{bad json").raw())

    gw.access_for(r.header("x-request-id"))
    gw.stop()
    logs = gw.stderr_text()
    assert logs.strip(), "expected some log output"
    for frag in FRAGMENTS:
        assert frag not in logs, "provider key in the gateway log:\n" + "\n".join(
            l for l in logs.splitlines() if frag in l)
        for text in seen:
            assert frag not in text, "provider key in a response:\n" + text


def test_check_mode_does_not_print_the_key(gateway, mock, tmp_path):
    import subprocess
    from conftest import MOONGATE_BIN, REPO, to_lua
    import os
    cfg = {"listen": "127.0.0.1:1", "providers": {
        "good": provider(mock.url(), models=["mock-small"], api_key=KEY),
        "bad": {"kind": "nonesuch", "base_url": "http://127.0.0.1:1/v1", "api_key": KEY},
    }}
    path = tmp_path / "cfg.lua"
    path.write_text("return " + to_lua(cfg) + "\n")
    env = dict(os.environ)
    env.setdefault("MOONGATE_LUA_DIR", os.path.join(REPO, "lua"))
    p = subprocess.run([MOONGATE_BIN, "-t", "-c", str(path)], capture_output=True, timeout=20, cwd=REPO,
                       env=env)
    assert p.returncode == 1
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    for frag in FRAGMENTS:
        assert frag not in out, out
