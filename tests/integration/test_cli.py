"""The command line and the process life cycle: -t, start-up errors, SIGTERM drain."""
import os
import socket
import subprocess
import time

import pytest

from conftest import (HOST, MOONGATE_BIN, REPO, chat_body, content_events, free_port, provider, to_lua,
                      wait_for)

GOOD_POLICY = """
return {
  route = function(req)
    return { { provider = "mock", model = "mock-small" } }
  end,
}
"""


def run(args, timeout=20):
    env = dict(os.environ)
    env.setdefault("MOONGATE_LUA_DIR", os.path.join(REPO, "lua"))
    p = subprocess.run([MOONGATE_BIN] + args, capture_output=True, timeout=timeout, cwd=REPO, env=env)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def good_config(mock, policy=None):
    cfg = {"listen": "%s:%d" % (HOST, free_port()), "workers": 2,
           "providers": {"mock": provider(mock.url(), models=["mock-small", "mock-large"])},
           "aliases": {"auto": [{"provider": "mock", "model": "mock-small"}]}}
    if policy:
        cfg["policy"] = policy
    return "return " + to_lua(cfg) + "\n"


def test_check_flag_accepts_a_good_config(mock, tmp_path):
    pol = write(tmp_path, "policy.lua", GOOD_POLICY)
    path = write(tmp_path, "good.lua", good_config(mock, pol))
    rc, out = run(["-t", "-c", path])
    assert rc == 0, out
    assert "moongate: configuration %s ok" % path in out, out


def test_check_flag_accepts_a_config_without_policy(mock, tmp_path):
    path = write(tmp_path, "good.lua", good_config(mock))
    rc, out = run(["-t", "-c", path])
    assert rc == 0, out
    assert "ok" in out


def test_check_flag_rejects_a_config_syntax_error_with_file_line(tmp_path):
    path = write(tmp_path, "bad.lua", "return {\n  listen = '127.0.0.1:1',\n  workers = 2\n  providers = {}\n}\n")
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "moongate: %s:" % path in out, out
    assert "bad.lua:4" in out or "bad.lua:3" in out, out


def test_check_flag_rejects_an_unknown_provider_kind(tmp_path):
    cfg = {"listen": "127.0.0.1:1", "providers": {
        "weird": {"kind": "nonesuch", "base_url": "http://127.0.0.1:1/v1", "api_key": "k", "models": ["m"]}}}
    path = write(tmp_path, "kind.lua", "return " + to_lua(cfg) + "\n")
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "moongate: %s:" % path in out, out
    assert "nonesuch" in out, out


@pytest.mark.parametrize("field,value,says", [
    ("workers", "many", ["workers"]),
    ("worker_cpu_affinity", "yes", ["worker_cpu_affinity", '"auto"']),
])
def test_check_flag_rejects_a_bad_field(tmp_path, field, value, says):
    cfg = {"listen": "127.0.0.1:1", field: value, "providers": {
        "mock": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key": "k", "models": ["m"]}}}
    path = write(tmp_path, "field.lua", "return " + to_lua(cfg) + "\n")
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "moongate: %s:" % path in out, out
    assert all(w in out for w in says), out


def test_check_flag_rejects_an_alias_to_an_unknown_provider(tmp_path):
    cfg = {"listen": "127.0.0.1:1", "providers": {
        "mock": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key": "k", "models": ["m"]}},
        "aliases": {"auto": [{"provider": "ghost", "model": "m"}]}}
    path = write(tmp_path, "alias.lua", "return " + to_lua(cfg) + "\n")
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "ghost" in out, out


def test_check_flag_rejects_a_broken_policy_with_file_line(mock, tmp_path):
    pol = write(tmp_path, "policy.lua", "return {\n  route = function(req)\n    return {{ provider = 'mock' model = 'x' }}\n  end\n}\n")
    path = write(tmp_path, "good.lua", good_config(mock, pol))
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "policy.lua:3" in out, out


def test_check_flag_rejects_a_policy_without_route(mock, tmp_path):
    pol = write(tmp_path, "policy.lua", "return { init = function(c) end }\n")
    path = write(tmp_path, "good.lua", good_config(mock, pol))
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "route" in out, out


def test_check_flag_rejects_a_missing_config_file(tmp_path):
    path = str(tmp_path / "nope.lua")
    rc, out = run(["-t", "-c", path])
    assert rc == 1, out
    assert "nope.lua" in out


def test_starting_with_a_bad_config_exits_1_with_the_message(tmp_path):
    path = write(tmp_path, "bad.lua", "return { listen = '127.0.0.1:%d', providers = { \n" % free_port())
    rc, out = run(["-c", path], timeout=15)
    assert rc == 1, out
    assert "bad.lua" in out, out


def test_sigterm_with_an_open_slow_stream_lets_it_finish_and_exits_0(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(pace_ms=100, events=12), models=["mock-small"])}})
    c = gw.stream(chat_body("mock-small", stream=True))
    assert c.status == 200
    assert c.next_event() is not None
    t0 = time.monotonic()
    gw.sigterm()
    c.read_all(timeout=10)
    c.close()
    assert c.finished and c.saw_done, "stream cut short at SIGTERM: %d events, eof=%s, last=%r" % (
        len(c.events), c.eof, c.raw_body[-120:])
    assert len(content_events(c.events)) == 12
    rc = gw.wait_exit(10)
    assert rc == 0, "exit status %r after drain" % rc
    assert time.monotonic() - t0 < 8


def test_sigterm_stops_accepting_new_connections_while_draining(gateway, mock, faults):
    gw = gateway({"providers": {"mock": provider(faults(pace_ms=100, events=15), models=["mock-small"])}})
    c = gw.stream(chat_body("mock-small", stream=True))
    assert c.next_event() is not None
    gw.sigterm()
    time.sleep(0.3)
    assert gw.alive(), "the gateway should still be draining the open stream"
    served = False
    try:
        s = socket.create_connection((HOST, gw.port), timeout=2)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(4096)
            served = data.startswith(b"HTTP/1.1 200")
        except OSError:
            pass
        finally:
            s.close()
    except OSError:
        pass
    assert not served, "a new connection was served after SIGTERM"
    c.read_all(timeout=10)
    c.close()
    assert c.finished and c.saw_done, "stream cut short at SIGTERM: %d events, eof=%s, last=%r" % (
        len(c.events), c.eof, c.raw_body[-120:])
    assert gw.wait_exit(10) == 0


def test_sigterm_drain_timeout_cuts_long_streams_and_still_exits_0(gateway, mock, faults):
    gw = gateway({"drain_timeout": 1,
                  "providers": {"mock": provider(faults(pace_ms=200, events=60), models=["mock-small"])}})
    before = mock.stats()
    c = gw.stream(chat_body("mock-small", stream=True))
    assert c.next_event() is not None
    t0 = time.monotonic()
    gw.sigterm()
    rc = gw.wait_exit(10)
    took = time.monotonic() - t0
    assert rc == 0, "exit status %r after a drain timeout" % rc
    assert 0.8 < took < 4, "drain_timeout = 1 s, exit took %.2f s" % took
    c.read_all(timeout=5)
    c.close()
    assert not c.saw_done, "a stream cut by the drain timeout must not look complete"
    line = [l for l in gw.access_logs() if l.get("path") == "/v1/chat/completions"][-1]
    assert line["abort"] == "shutdown", line
    # the upstream transfer was cancelled, not left running
    wait_for(lambda: mock.stats()["active"] == before["active"], 3, what="mock stream cancelled")


def cpus_allowed(pid, tid):
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def cpu_list(text):
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def test_worker_cpu_affinity_auto_pins_each_worker_to_one_allowed_cpu(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url(), models=["mock-small"])},
                  "worker_cpu_affinity": "auto", "workers": 2})
    assert gw.chat(chat_body("mock-small")).status == 200
    allowed = cpu_list(cpus_allowed(gw.pid, gw.pid))       # the main thread keeps the process's set
    tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % gw.pid))
    workers = [cpu_list(cpus_allowed(gw.pid, t)) for t in tids if t != gw.pid]
    assert len(workers) == 2, workers
    assert all(len(w) == 1 and w <= allowed for w in workers), (allowed, workers)
    if len(allowed) >= 2:
        assert workers[0] != workers[1], workers             # one worker per CPU
    assert "workers pinned to CPUs" in gw.stderr_text()


def test_worker_cpu_affinity_defaults_to_off(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url(), models=["mock-small"])}, "workers": 2})
    allowed = cpus_allowed(gw.pid, gw.pid)
    for t in os.listdir("/proc/%d/task" % gw.pid):
        assert cpus_allowed(gw.pid, int(t)) == allowed
