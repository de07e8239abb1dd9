#!/usr/bin/python3
"""moongate soak ("Unbreakable"): a million mixed requests through one gateway, with faults,
client disconnects and a SIGHUP every second; python3 stdlib only (`make soak` builds first).

Everything runs on loopback in a temp run dir, every child in its own process group, all of
them stopped in a finally:
  mock      build/rel/moongate-mock -p 0 (one mock; faults chosen by URL, docs/internals.md 3)
  gateway   build/rel/moongate -c RUNDIR/moongate.lua (2 workers, access log to a file)

Providers in the generated config (all on the one mock):
  mock       healthy: mock-small, mock-large, mock-embed
  flaky      /f/status=503: every attempt fails; only reached through the alias `chat`
             (targets flaky/flaky-model and mock/mock-large), retries=1 with a 1 ms backoff,
             so such a request costs 3 attempts and still succeeds (200) through the fallback
  resetting  /f/reset_after=3: the stream is cut after 3 content events; the client gets a
             `data: {"error":{..."code":"upstream_reset"}}` event and no [DONE] (injected)
  slow       /f/pace_ms=15,events=12: paced streams (~180 ms each)
  slowlong   /f/pace_ms=15,events=400: the disconnect client's streams (~6 s if read to the end)

Load (run concurrently; the side drivers are paced to spread over the wrk run):
  wrk          non-stream mix (and keep-alive streams) from a generated Lua script cycling
               through models, the alias, provider/model pins, embeddings and /v1/models;
               each thread stops at its quota (exactly N requests in all)
  sseload      fresh-connection streams: fast (mock-small), slow (slow-model, paced) and
               resetting (reset-model: every one is an injected failure, `no_done`)
  disconnect   python threads: a slowlong stream closed after 2 events (injected client close)
  reset-check  python threads: a resetting stream read to its end; it must carry the
               upstream_reset error event and no [DONE] (injected)
  SIGHUP       every second, after atomically rewriting the config: variant A (alias weights
               flaky:mock 1:3, stock policy) and variant B (3:1, a policy file in the run dir)
  RSS          of the gateway sampled every second

Start RSS is taken idle after a warm-up that runs every driver at the soak's concurrency,
end RSS idle after the soak, both in the same state (one reload to variant A awaited, then
4.5 s idle: the workers trim the heap every 2 s). At the end the access log is
stream-parsed and every line classified by status/abort: injected (upstream_reset on
`resetting`, client_closed on `slowlong`, client_closed at wrk's stop) or unexpected.

Targets: RSS growth < 5 %, zero failures that were not injected, every reload applied, the
gateway alive throughout and exiting 0 on SIGTERM, nothing on its stderr that looks like a
sanitizer report or a crash, no growth in open fds beyond what the upstream pools may hold.
The last line is `soak: 1 passed, 0 failed` or `soak: 0 passed, 1 failed` (after the reasons).

  soak/soak.py [--requests N] [--quick] [--keep] [--max-seconds S] [--rss-target PCT]
               [--moongate-bin PATH] [--mock-bin PATH] [--sseload-bin PATH] [--wrk-bin PATH]
"""

import argparse
import collections
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from proc import Procs, free_port, wait_port  # noqa: E402  (bench/proc.py, shared with bench.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RSS_TARGET_PCT = 5.0
SETTLE_S = 4.5          # idle time before an idle RSS sample (the workers trim every 2 s)
WRK_THREADS = 2
WRK_CONNS = 64
SSE_CONC = {"fast": 32, "slow": 96, "reset": 16}
PY_THREADS = {"disconnect": 12, "resetcheck": 4}
# Warm-up: every driver at the soak's concurrency for ~10 s, before the start RSS.
WARMUP = {"wrk": 150000, "fast": 6000, "slow": 2000, "reset": 2000, "disconnect": 1500, "resetcheck": 400}
WARMUP_EST_S = 8.0
# Shares of --requests per driver; wrk takes the rest.
SHARES = {"fast": 0.05, "slow": 0.015, "reset": 0.02, "disconnect": 0.015, "resetcheck": 0.005}

SLOW_SPEC = "pace_ms=15,events=12"
# The disconnect client's streams: long (about 6 s) so that "closed after 2 events" is always
# mid-stream, even when a starved client thread reads its 2 events late.
LONG_SPEC = "pace_ms=15,events=400"
RESET_SPEC = "reset_after=3"
FLAKY_SPEC = "status=503"

MSGS = '"messages":[{"role":"user","content":"hi"}]'


def chat_body(model, stream=False, usage=False):
    s = '"stream":true,' if stream else ""
    if usage:
        s += '"stream_options":{"include_usage":true},'
    return '{"model":"%s",%s%s}' % (model, s, MSGS)


# wrk mix: (weight, method, path, body or None)
WRK_MIX = [
    (33, "POST", "/v1/chat/completions", chat_body("mock-small")),
    (5, "POST", "/v1/chat/completions", chat_body("mock/mock-small")),
    (27, "POST", "/v1/chat/completions", chat_body("chat")),
    (5, "POST", "/v1/chat/completions", chat_body("slow-model")),
    (10, "POST", "/v1/chat/completions", chat_body("mock-small", stream=True)),
    (3, "POST", "/v1/chat/completions", chat_body("mock-small", stream=True, usage=True)),
    (5, "POST", "/v1/chat/completions", chat_body("chat", stream=True)),
    (5, "POST", "/v1/embeddings", '{"model":"mock-embed","input":"hello soak"}'),
    (4, "POST", "/v1/completions", '{"model":"mock-small","prompt":"hi"}'),
    (3, "GET", "/v1/models", None),
]

POLICY_B = """-- soak policy variant B: the stock routing through a policy file of its own
local router = require("moongate.router")
local M, config = {}, nil
function M.init(cfg) config = cfg end
function M.route(req) return router.route(req, config) end
return M
"""


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class HarnessError(Exception):
    """The harness itself could not do its job."""


# --------------------------------------------------------------------------- processes

def http_get(url, timeout=5.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --------------------------------------------------------------------------- pacing

class Pacer:
    """Spreads the side drivers over the wrk run: by `elapsed` a driver may have started
    quota * elapsed / T of its work; once wrk is done (or T passed) the rest at full speed."""

    def __init__(self, t_est):
        self.t0 = time.monotonic()
        self.t_est = max(1.0, t_est)
        self.free = threading.Event()

    def target(self, quota):
        if self.free.is_set():
            return quota
        frac = (time.monotonic() - self.t0) / self.t_est
        return quota if frac >= 1 else int(math.ceil(quota * frac))


# --------------------------------------------------------------------------- the soak

class Soak:
    def __init__(self, a):
        self.a = a
        self.procs = Procs(log)
        self.stop_ev = threading.Event()        # deadline or abort: drivers stop early
        self.run_dir = tempfile.mkdtemp(prefix="moongate-soak-")
        self.cfg_path = os.path.join(self.run_dir, "moongate.lua")
        self.policy_b = os.path.join(self.run_dir, "policy_b.lua")
        self.log_path = os.path.join(self.run_dir, "access.log")
        self.gw = None
        self.mock = None
        self.gw_port = None
        self.mock_port = None
        self.hups = []                  # (unix ts, variant) of every SIGHUP sent
        self.hup_errors = []
        self.rss = []                   # (mono, gw KiB, mock KiB)
        self.deaths = []                # "gateway exited with ..." seen while running
        self.results = collections.OrderedDict()   # driver -> dict
        self.warm = collections.OrderedDict()
        self.reasons = []
        self.notes = []

    # ------------------------------------------------------------- config / start
    def write_config(self, variant):
        m = f"http://127.0.0.1:{self.mock_port}"
        wf, wm = (1, 3) if variant == "A" else (3, 1)
        policy = f"  policy = {lua_str(self.policy_b)},\n" if variant == "B" else ""
        text = f"""-- generated by soak/soak.py, variant {variant}
local m = {lua_str(m)}
return {{
  listen = "127.0.0.1:{self.gw_port}",
  workers = 2,
  log = {lua_str(self.log_path)},
  providers = {{
    mock = {{ base_url = m .. "/v1", api_key = "soak", models = {{ "mock-small", "mock-large", "mock-embed" }} }},
    flaky = {{ base_url = m .. "/f/{FLAKY_SPEC}/v1", api_key = "soak", models = {{ "flaky-model" }},
              retries = 1, backoff = {{ base = 0.001, cap = 0.001 }} }},
    resetting = {{ base_url = m .. "/f/{RESET_SPEC}/v1", api_key = "soak", models = {{ "reset-model" }}, retries = 0 }},
    slow = {{ base_url = m .. "/f/{SLOW_SPEC}/v1", api_key = "soak", models = {{ "slow-model" }} }},
    slowlong = {{ base_url = m .. "/f/{LONG_SPEC}/v1", api_key = "soak", models = {{ "slowlong-model" }} }},
  }},
  aliases = {{
    chat = {{ {{ provider = "flaky", model = "flaky-model", weight = {wf} }},
             {{ provider = "mock", model = "mock-large", weight = {wm} }} }},
    auto = {{ "mock/mock-small" }},
  }},
{policy}}}
"""
        tmp = self.cfg_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.cfg_path)

    def start(self):
        a = self.a
        for b in (a.moongate_bin, a.mock_bin, a.sseload_bin, a.wrk_bin):
            if not (os.access(b, os.X_OK) or shutil.which(b)):
                raise HarnessError(f"missing {b} (`make soak` builds it)")
        with open(self.policy_b, "w") as f:
            f.write(POLICY_B)
        # mock
        merr = open(os.path.join(self.run_dir, "mock.err"), "w")
        self.mock = self.procs.start("mock", [a.mock_bin, "-p", "0"], stdout=subprocess.PIPE,
                                     stderr=merr, text=True)
        line = self.mock.stdout.readline().strip()
        if not line.startswith("port="):
            raise HarnessError(f"mock did not start: {line!r}")
        self.mock_port = int(line[5:])
        self.gw_port = free_port()
        # both variants must pass `moongate -t`
        for v in ("B", "A"):
            self.write_config(v)
            chk = subprocess.run([a.moongate_bin, "-t", "-c", self.cfg_path], capture_output=True,
                                 text=True, cwd=ROOT, timeout=30)
            if chk.returncode != 0:
                raise HarnessError(f"moongate -t on variant {v}: {chk.stdout}{chk.stderr}")
        self.variant = "A"
        gerr = open(os.path.join(self.run_dir, "gateway.err"), "w")
        self.gw = self.procs.start("gateway", [a.moongate_bin, "-c", self.cfg_path], stdout=gerr,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
        if not wait_port(self.gw_port, self.gw, 10):
            raise HarnessError("gateway did not start (see gateway.err)")
        log(f"run dir {self.run_dir}; mock :{self.mock_port} (pid {self.mock.pid}), "
            f"gateway :{self.gw_port} (pid {self.gw.pid})")

    def health(self):
        try:
            st, body = http_get(f"http://127.0.0.1:{self.gw_port}/health")
            return json.loads(body) if st == 200 else None
        except (OSError, ValueError):
            return None

    def alive(self, where):
        for name, p in (("gateway", self.gw), ("mock", self.mock)):
            if p.poll() is not None:
                msg = f"{name} exited (code {p.returncode}) during {where}"
                if not any(d.startswith(f"{name} exited") for d in self.deaths):
                    self.deaths.append(msg)
                    log(msg)
                self.stop_ev.set()
                return False
        return True

    # ------------------------------------------------------------- background threads
    def hup_loop(self, stop):
        nxt = time.monotonic() + 1.0
        while not stop.wait(max(0.0, nxt - time.monotonic())):
            nxt += 1.0
            if self.gw.poll() is not None:
                return
            self.variant = "B" if self.variant == "A" else "A"
            try:
                self.write_config(self.variant)
                os.kill(self.gw.pid, signal.SIGHUP)
                self.hups.append((time.time(), self.variant))
            except OSError as e:
                self.hup_errors.append(str(e))

    def rss_loop(self, stop):
        while True:
            self.rss.append((time.monotonic(), rss_kib(self.gw.pid), rss_kib(self.mock.pid)))
            self.alive("the run")
            if stop.wait(1.0):
                return

    def idle_rss(self, label):
        """Idle RSS in the same state at start and end: a fresh VM of config variant A
        (one reload, its generation awaited), then SETTLE_S of idle."""
        h = self.health() or {}
        g = h.get("generation")
        self.variant = "A"
        self.write_config("A")
        os.kill(self.gw.pid, signal.SIGHUP)
        self.hups.append((time.time(), "A"))
        t_end = time.monotonic() + 5
        while g is not None and time.monotonic() < t_end:
            if (self.health() or {}).get("generation", g) > g:
                break
            time.sleep(0.05)
        time.sleep(SETTLE_S)
        vals = []
        for _ in range(3):
            vals.append(rss_kib(self.gw.pid) or 0)
            time.sleep(0.5)
        v = sorted(vals)[1]
        fds = fd_count(self.gw.pid)
        log(f"idle RSS {label}: {v / 1024:.1f} MiB (samples {', '.join(f'{x / 1024:.1f}' for x in vals)}), "
            f"{fds} open fds")
        return v, fds

    # ------------------------------------------------------------- wrk
    def wrk_script(self, path):
        rng = random.Random(7)
        seq = []
        for i, (w, method, p, body) in enumerate(WRK_MIX):
            seq.extend([i] * w)
        rng.shuffle(seq)
        lines = ["-- generated by soak/soak.py: cycles a shuffled mix, stops the thread at its quota",
                 "local hdr = { [\"Content-Type\"] = \"application/json\" }", "local kinds = {"]
        for w, method, p, body in WRK_MIX:
            if body is None:
                lines.append(f"  wrk.format({lua_str(method)}, {lua_str(p)}, {{}}, nil),")
            else:
                lines.append(f"  wrk.format({lua_str(method)}, {lua_str(p)}, hdr, {lua_str(body)}),")
        lines.append("}")
        lines.append("local seq = { " + ", ".join(str(i + 1) for i in seq) + " }")
        lines.append(r'''
local n, nthreads = #seq, 0
local pos = 0
quota = tonumber(os.getenv("SOAK_WRK_QUOTA") or "0")
got = 0
statuses = {}
local mark = os.getenv("SOAK_WRK_MARK") or "/tmp/soak-wrk"
local threads = {}

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  thread:set("offset", nthreads * 37)
  table.insert(threads, thread)
end

function init(args)
  pos = offset or 0
end

function request()
  pos = pos + 1
  if pos > n then pos = 1 end
  return kinds[seq[pos]]
end

function response(status, headers, body)
  got = got + 1
  if status ~= 200 then
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
  end
  if got == quota then
    local f = io.open(mark .. "-" .. tostring(tid), "w")
    if f then f:write("done") f:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total, st = 0, {}
  for _, t in ipairs(threads) do
    total = total + (t:get("got") or 0)
    for k, v in pairs(t:get("statuses") or {}) do st[k] = (st[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format('SOAKJSON {"got":%d,"requests":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},"non200":{%s},' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    total, summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    table.concat(parts, ","), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
''')
        with open(path, "w") as f:
            f.write("\n".join(lines))

    def run_wrk(self, total, tag, pacer=None):
        script = os.path.join(self.run_dir, "mix.lua")
        if not os.path.exists(script):
            self.wrk_script(script)
        per = int(math.ceil(total / WRK_THREADS))
        mark = os.path.join(self.run_dir, f"wrk-{tag}")
        env = dict(os.environ, SOAK_WRK_QUOTA=str(per), SOAK_WRK_MARK=mark)
        out_path = os.path.join(self.run_dir, f"wrk-{tag}.out")
        with open(out_path, "w") as out:
            p = self.procs.start(f"wrk-{tag}", [self.a.wrk_bin, "-t", str(WRK_THREADS), "-c", str(WRK_CONNS),
                                              "-d", "3600s", "--timeout", "5s", "-s", script,
                                              f"http://127.0.0.1:{self.gw_port}/"],
                                 stdout=out, stderr=subprocess.STDOUT, env=env)
            t0 = time.monotonic()
            stopped_early = False
            while p.poll() is None:
                done = sum(os.path.exists(f"{mark}-{i}") for i in range(1, WRK_THREADS + 1))
                if done == WRK_THREADS:
                    break
                if self.stop_ev.is_set():
                    stopped_early = True
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - t0
            if pacer:
                pacer.free.set()
            if p.poll() is None:
                os.kill(p.pid, signal.SIGINT)       # wrk prints its summary and done() on SIGINT
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.procs.stop(p, signal.SIGKILL)
            self.procs.forget(p)
        with open(out_path) as f:
            text = f.read()
        r = None
        for line in text.splitlines():
            if line.startswith("SOAKJSON "):
                r = json.loads(line[9:])
        if r is None:
            raise HarnessError(f"wrk {tag}: no summary in {out_path}:\n{text[-2000:]}")
        r["elapsed_s"] = elapsed
        r["issued_quota"] = per * WRK_THREADS
        r["stopped_early"] = stopped_early
        return r

    # ------------------------------------------------------------- sseload
    def sse_driver(self, kind, quota, pacer, res):
        model = {"fast": "mock-small", "slow": "slow-model", "reset": "reset-model"}[kind]
        body = chat_body(model, stream=True)
        conc = SSE_CONC[kind]
        batch = max(conc * 4, min(2000, quota // 40 or 1))
        done = 0
        agg = res.setdefault("sse", {"streams": 0, "ok": 0, "failed": 0, "runs": 0,
                                     "fail_reasons": collections.Counter(), "errors": []})
        while done < quota and not self.stop_ev.is_set():
            n = min(batch, quota - done)
            if pacer and pacer.target(quota) < done + n and not pacer.free.is_set():
                time.sleep(0.1)
                continue
            argv = [self.a.sseload_bin, "-u", f"http://127.0.0.1:{self.gw_port}/v1/chat/completions",
                    "-c", str(min(conc, n)), "-n", str(n), "-b", body, "-t", "30"]
            p = self.procs.start(f"sseload-{kind}", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            try:
                out, err = p.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                self.procs.stop(p, signal.SIGKILL)
                out, err = p.communicate()
                agg["errors"].append("sseload batch timed out")
            self.procs.forget(p)
            try:
                r = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                agg["errors"].append(f"sseload {kind}: exit {p.returncode}: {err.strip()[-300:]}")
                self.stop_ev.set()
                return
            agg["runs"] += 1
            agg["streams"] += r["streams"]
            agg["ok"] += r["ok"]
            agg["failed"] += r["failed"]
            agg["fail_reasons"].update({k: v for k, v in r["fail_reasons"].items() if v})
            done += n
            if r["streams"] != n:
                agg["errors"].append(f"sseload {kind}: {r['streams']} of {n} streams ended")

    # ------------------------------------------------------------- python clients
    def stream_request(self, model):
        body = chat_body(model, stream=True).encode()
        return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{self.gw_port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n").encode() + body

    def one_disconnect(self, req):
        """A slow stream closed after 2 SSE events: 'ok' or a failure cause."""
        s = socket.create_connection(("127.0.0.1", self.gw_port), timeout=10)
        try:
            s.sendall(req)
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    return "eof_before_2_events"
                buf += d
                h = buf.find(b"\r\n\r\n")
                if h < 0:
                    continue
                if not buf.startswith(b"HTTP/1.1 200"):
                    return "status_" + buf[9:12].decode("ascii", "replace")
                if buf.count(b"\n\n", h + 4) >= 2:
                    # the whole stream already here: the close would not be mid-stream
                    return "completed_before_close" if b"[DONE]" in buf else "ok"
        finally:
            s.close()

    def one_resetcheck(self, req):
        """A resetting stream read to its end: 'ok' when it ends with upstream_reset, no [DONE]."""
        s = socket.create_connection(("127.0.0.1", self.gw_port), timeout=15)
        try:
            s.sendall(req)
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                if buf.endswith(b"\r\n0\r\n\r\n"):
                    break
        finally:
            s.close()
        if not buf.startswith(b"HTTP/1.1 200"):
            return "status_" + buf[9:12].decode("ascii", "replace") if buf else "no_response"
        if b"[DONE]" in buf:
            return "done_despite_reset"
        if b'"code":"upstream_reset"' not in buf:
            return "no_reset_error_event"
        if buf.count(b'"delta":{"content":"') != 3:
            return "wrong_event_count"
        return "ok"

    def py_driver(self, kind, quota, pacer, res):
        req = self.stream_request("slowlong-model" if kind == "disconnect" else "reset-model")
        fn = self.one_disconnect if kind == "disconnect" else self.one_resetcheck
        lock = threading.Lock()
        state = {"issued": 0}
        out = res.setdefault("py", {"streams": 0, "ok": 0, "causes": collections.Counter()})

        def worker():
            while not self.stop_ev.is_set():
                with lock:
                    if state["issued"] >= quota:
                        return
                    if pacer and not pacer.free.is_set() and state["issued"] >= pacer.target(quota):
                        go = False
                    else:
                        state["issued"] += 1
                        go = True
                if not go:
                    time.sleep(0.05)
                    continue
                try:
                    r = fn(req)
                except socket.timeout:
                    r = "timeout"
                except OSError as e:
                    r = f"socket_error:{type(e).__name__}"
                with lock:
                    out["streams"] += 1
                    if r == "ok":
                        out["ok"] += 1
                    else:
                        out["causes"][r] += 1

        ts = [threading.Thread(target=worker, daemon=True) for _ in range(PY_THREADS[kind])]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    # ------------------------------------------------------------- one phase
    def phase(self, tag, sizes, t_est):
        """Runs every driver at once; returns {driver: result}."""
        pacer = Pacer(t_est)
        res = collections.OrderedDict((k, {"quota": v}) for k, v in sizes.items())
        ths = []
        for k in ("fast", "slow", "reset"):
            if sizes.get(k):
                ths.append(threading.Thread(target=self.sse_driver, args=(k, sizes[k], pacer, res[k]), daemon=True))
        for k in ("disconnect", "resetcheck"):
            if sizes.get(k):
                ths.append(threading.Thread(target=self.py_driver, args=(k, sizes[k], pacer, res[k]), daemon=True))
        t0 = time.monotonic()
        for t in ths:
            t.start()
        res["wrk"].update(self.run_wrk(sizes["wrk"], tag, pacer))
        for t in ths:
            while t.is_alive():
                t.join(0.5)
                if time.monotonic() > self.deadline:
                    self.stop_ev.set()
        res["_elapsed"] = time.monotonic() - t0
        return res

    # ------------------------------------------------------------- access log
    def parse_log(self, warm_off):
        """Stream-parses the log: counts access lines by (status, abort, provider) per segment."""
        seg = {"warmup": collections.Counter(), "soak": collections.Counter()}
        attempts = {"A": collections.Counter(), "B": collections.Counter()}
        events = collections.Counter()
        bad_lines = 0
        hups = self.hups
        hi = 0
        with open(self.log_path, "rb") as f:
            off = 0
            for raw in f:
                where = "warmup" if off < warm_off else "soak"
                off += len(raw)
                try:
                    o = json.loads(raw)
                except ValueError:
                    bad_lines += 1
                    continue
                if o.get("type") == "access":
                    seg[where][(o.get("status"), o.get("abort"), o.get("provider"), o.get("route"))] += 1
                    if o.get("model") == "mock-large" and o.get("status") == 200 and where == "soak":
                        ts = o.get("ts", 0)
                        while hi < len(hups) and hups[hi][0] <= ts:
                            hi += 1
                        if hi == 0:
                            continue
                        # skip lines within 50 ms after a switch (the swap happens then)
                        if ts - hups[hi - 1][0] < 0.05:
                            continue
                        attempts[hups[hi - 1][1]][o.get("attempts")] += 1
                else:
                    msg = o.get("msg", "")
                    if msg.startswith("reload ok"):
                        key = "reload ok"
                    elif msg.startswith("reload failed"):
                        key = "reload failed: " + msg[:160]
                    elif "failed after first byte" in msg and "resetting/reset-model" in msg:
                        key = "warn: resetting/reset-model failed after first byte"
                    else:
                        key = f"{o.get('level')}: {msg[:160]}"
                    events[key] += 1
        return seg, attempts, events, bad_lines

    # ------------------------------------------------------------- main
    def run(self):
        a = self.a
        N = a.requests
        sizes = {k: max(1, int(N * v)) for k, v in SHARES.items()}
        sizes["wrk"] = N - sum(sizes.values())
        sizes["wrk"] -= sizes["wrk"] % WRK_THREADS
        total_planned = sum(sizes.values())
        t_start = time.monotonic()
        stop_bg = threading.Event()
        try:
            self.start()
        except BaseException:
            self.procs.stop_all()
            raise
        # warm-up: every driver at the soak's concurrency, a few reloads
        wsizes = dict(WARMUP)
        log("warm-up: " + ", ".join(f"{k} {v}" for k, v in wsizes.items()) + ", SIGHUP every second")
        self.deadline = time.monotonic() + 120
        bg = [threading.Thread(target=self.rss_loop, args=(stop_bg,), daemon=True),
              threading.Thread(target=self.hup_loop, args=(stop_bg,), daemon=True)]
        for t in bg:
            t.start()
        try:
            self.warm = self.phase("warmup", wsizes, WARMUP_EST_S)
            if self.stop_ev.is_set():
                raise HarnessError("warm-up did not complete: " + "; ".join(self.deaths or ["deadline"]))
            w = self.warm["wrk"]
            rate = w["got"] / max(w["elapsed_s"], 0.001)
            log(f"warm-up done: wrk {rate:,.0f} req/s, {self.warm['_elapsed']:.1f} s")
            stop_bg.set()
            for t in bg:
                t.join()
            hups_warm = len(self.hups)
            self.rss_start, self.fds_start = self.idle_rss("start (after warm-up)")
            h0 = self.health()
            gen0 = h0.get("generation") if h0 else None
            warm_off = os.path.getsize(self.log_path)
            rss_idx0 = len(self.rss)

            # the soak
            t_est = sizes["wrk"] / max(rate * 0.75, 1.0)
            log(f"soak: {total_planned:,} requests (" + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
                + f"), estimated {t_est:.0f} s, bound {a.max_seconds:.0f} s")
            self.deadline = time.monotonic() + a.max_seconds
            self.hups_soak_from = len(self.hups)
            stop_bg = threading.Event()
            bg = [threading.Thread(target=self.rss_loop, args=(stop_bg,), daemon=True),
                  threading.Thread(target=self.hup_loop, args=(stop_bg,), daemon=True)]
            for t in bg:
                t.start()
            watchdog = threading.Thread(target=self.watchdog, args=(stop_bg,), daemon=True)
            watchdog.start()
            ts0 = time.monotonic()
            cpu0 = cpu_seconds(self.gw.pid)
            self.soak = self.phase("soak", sizes, t_est)
            self.soak_s = time.monotonic() - ts0
            cpu1 = cpu_seconds(self.gw.pid)
            self.cpu = (cpu1 - cpu0) if (cpu0 is not None and cpu1 is not None) else None
            stop_bg.set()
            for t in bg:
                t.join()
            self.hups_soak = len(self.hups) - self.hups_soak_from
            log(f"soak load done in {self.soak_s:.1f} s; {self.hups_soak} SIGHUP sent")
            self.rss_load = [r for r in self.rss[rss_idx0:] if r[1]]
            alive = self.alive("the soak")
            time.sleep(1.5)     # let the last reload land before reading generation
            h1 = self.health() if alive else None
            gen1 = h1.get("generation") if h1 else None
            self.rss_end, self.fds_end = self.idle_rss("end") if alive else (None, None)
            if alive and not self.alive("the end"):
                self.rss_end = None
            # drain: SIGTERM, must exit 0
            t_term = time.monotonic()
            rc = self.procs.stop(self.gw, signal.SIGTERM, grace=40) if alive else None
            self.term = (rc, time.monotonic() - t_term)
            self.procs.stop(self.mock)
            log(f"gateway exit code {rc} after SIGTERM ({self.term[1]:.2f} s); parsing {self.log_path} "
                f"({os.path.getsize(self.log_path) / 1e6:.0f} MB)")
            tp = time.monotonic()
            seg, attempts, events, bad_lines = self.parse_log(warm_off)
            log(f"log parsed in {time.monotonic() - tp:.1f} s")
            self.report(sizes, total_planned, gen0, gen1, h1, hups_warm, seg, attempts, events, bad_lines,
                        time.monotonic() - t_start)
        finally:
            stop_bg.set()
            self.stop_ev.set()
            self.procs.stop_all()

    def watchdog(self, stop):
        while not stop.wait(0.5):
            if time.monotonic() > self.deadline and not self.stop_ev.is_set():
                log(f"time bound of {self.a.max_seconds:.0f} s reached: stopping the drivers")
                self.reasons.append(f"the soak did not finish within {self.a.max_seconds:.0f} s")
                self.stop_ev.set()

    # ------------------------------------------------------------- report
    def report(self, sizes, total_planned, gen0, gen1, h1, hups_warm, seg, attempts, events, bad_lines, wall):
        R = self.reasons
        S = self.soak
        print()
        print("=" * 100)
        print("moongate soak report")
        print("=" * 100)
        try:
            rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                                 text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            rev = "?"
        st = os.stat(self.a.moongate_bin)
        print(f"gateway {self.a.moongate_bin} (built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime))}),"
              f" tree {rev}; nproc {os.cpu_count()}; load average at end {os.getloadavg()[0]:.2f}\n")

        def table(head, rows):
            w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
            fmt = " | ".join("{:<%d}" % n if i == 0 else "{:>%d}" % n for i, n in enumerate(w))
            print(fmt.format(*head))
            print("-+-".join("-" * n for n in w))
            for r in rows:
                print(fmt.format(*r))
            print()

        # client side
        rows = []
        unexpected_client = collections.Counter()
        injected_client = collections.Counter()
        done_total = 0
        w = S["wrk"]
        wrk_unexp = {**{f"socket_{k}": v for k, v in w["errors"].items() if v and k != "status"},
                     **{f"http_{k}": v for k, v in w["non200"].items()}}
        unexpected_client.update({f"wrk {k}": v for k, v in wrk_unexp.items()})
        done_total += w["got"]
        rows.append(["wrk (non-stream + keep-alive streams)", f"{sizes['wrk']:,}", f"{w['got']:,}",
                     f"{w['got'] - sum(w['non200'].values()):,}", "-",
                     ", ".join(f"{k} {v}" for k, v in wrk_unexp.items()) or "0"])
        for k, label in (("fast", "sseload fast streams (mock-small)"), ("slow", "sseload slow streams (paced)"),
                         ("reset", "sseload resetting streams")):
            r = S[k].get("sse", {"streams": 0, "ok": 0, "failed": 0, "fail_reasons": {}, "errors": []})
            done_total += r["streams"]
            reasons = collections.Counter(r["fail_reasons"])
            if k == "reset":
                inj = reasons.pop("no_done", 0)
                injected_client["upstream_reset (client: error event, no [DONE])"] += inj
                if r["ok"]:
                    reasons["ok_despite_reset"] += r["ok"]
                injs = f"no_done {inj:,}"
            else:
                injs = "-"
            for e in r["errors"]:
                reasons[e] += 1
            unexpected_client.update({f"sseload {k} {c}": v for c, v in reasons.items()})
            rows.append([label, f"{S[k]['quota']:,}", f"{r['streams']:,}", f"{r['ok']:,}", injs,
                         ", ".join(f"{c} {v}" for c, v in reasons.items()) or "0"])
        for k, label, inj_name in (("disconnect", "python: close after 2 events (slowlong)", "client_closed"),
                                   ("resetcheck", "python: resetting stream, checked", "upstream_reset")):
            r = S[k].get("py", {"streams": 0, "ok": 0, "causes": {}})
            done_total += r["streams"]
            injected_client[inj_name + (" (client closed mid-stream)" if k == "disconnect" else
                                        " (client: error event checked)")] += r["ok"]
            unexpected_client.update({f"python {k} {c}": v for c, v in r["causes"].items()})
            rows.append([label, f"{S[k]['quota']:,}", f"{r['streams']:,}", "-", f"{r['ok']:,}",
                         ", ".join(f"{c} {v}" for c, v in r["causes"].items()) or "0"])
        rows.append(["total", f"{total_planned:,}", f"{done_total:,}", "", "", f"{sum(unexpected_client.values()):,}"])
        print(f"Client side (soak phase; warm-up excluded): {done_total:,} requests in {self.soak_s:.1f} s = "
              f"{done_total / self.soak_s:,.0f} req/s (wrk alone {w['got'] / w['elapsed_s']:,.0f} req/s, "
              f"p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms, max {w['max_ms']:.1f} ms)")
        table(["driver", "planned", "done", "ok", "injected", "unexpected"], rows)

        # access log
        soak_log = seg["soak"]
        n_access = sum(soak_log.values())
        rows = []
        log_injected = collections.Counter()
        log_unexpected = collections.Counter()
        other_closed = 0
        harness_closed_cap = WRK_CONNS
        for (status, abort, prov, route), v in sorted(soak_log.items(), key=lambda kv: -kv[1]):
            if abort is None and status == 200:
                cls = "ok"
            elif abort == "upstream_reset" and prov == "resetting":
                cls = "injected: reset"
                log_injected["upstream_reset"] += v
            elif abort == "client_closed" and prov == "slowlong":
                cls = "injected: client disconnect"
                log_injected["client_closed (slowlong)"] += v
            elif abort == "client_closed":
                cls = "client_closed (checked below)"
                other_closed += v
            else:
                cls = "UNEXPECTED"
                log_unexpected[f"status {status} abort {abort} provider {prov}"] += v
            rows.append([str(status), str(abort), str(prov), str(route), f"{v:,}", cls])
        # client_closed outside `slow`: only wrk's in-flight requests when it stopped may be that
        if other_closed > harness_closed_cap:
            log_unexpected["client_closed outside the disconnect client"] += other_closed
        elif other_closed:
            log_injected["client_closed at wrk's stop"] += other_closed
        print(f"Gateway access log (soak phase): {n_access:,} access lines"
              + (f", {bad_lines} unparsable lines" if bad_lines else ""))
        table(["status", "abort", "provider", "route", "lines", "class"], rows)
        warm_bad = {k: v for k, v in seg["warmup"].items() if not (k[0] == 200 and k[1] in (None, "upstream_reset", "client_closed"))}
        print(f"Warm-up: {sum(seg['warmup'].values()):,} access lines, unexpected: "
              + (", ".join(f"{k}: {v}" for k, v in warm_bad.items()) or "0"))
        if warm_bad:
            log_unexpected.update({f"warm-up status {k[0]} abort {k[1]} provider {k[2]}": v for k, v in warm_bad.items()})
        print()
        print("Gateway events (whole run):")
        for k, v in sorted(events.items(), key=lambda kv: -kv[1]):
            print(f"  {v:>9,}  {k}")
            if k.startswith("reload failed") or k.startswith("error:") or (
                    k.startswith("warn:") and "resetting/reset-model" not in k):
                log_unexpected[f"log event {k[:100]}"] += v
        print()

        # reconciliation client <-> log
        cl_resets = S["reset"].get("sse", {}).get("fail_reasons", {}).get("no_done", 0) + \
            S["resetcheck"].get("py", {}).get("ok", 0)
        cl_disc = S["disconnect"].get("py", {}).get("ok", 0)
        recon = [["upstream_reset streams", f"{cl_resets:,}", f"{log_injected['upstream_reset']:,}"],
                 ["client disconnects (slowlong)", f"{cl_disc:,}", f"{log_injected['client_closed (slowlong)']:,}"],
                 ["requests", f"{done_total:,}", f"{n_access:,} (wrk in flight at its stop: +0..{WRK_CONNS})"]]
        print("Reconciliation (client side vs access log):")
        table(["what", "client", "access log"], recon)
        if cl_resets != log_injected["upstream_reset"]:
            log_unexpected["reset count mismatch client vs log"] += abs(cl_resets - log_injected["upstream_reset"])
        if cl_disc != log_injected["client_closed (slowlong)"]:
            log_unexpected["disconnect count mismatch client vs log"] += abs(cl_disc - log_injected["client_closed (slowlong)"])
        if not (done_total <= n_access <= done_total + WRK_CONNS):
            log_unexpected["access line count mismatch"] += abs(n_access - done_total)

        # reloads
        sent = self.hups_soak
        gen_delta = (gen1 - gen0) if (gen0 is not None and gen1 is not None) else None
        print(f"Reloads: SIGHUP sent {len(self.hups)} in all ({hups_warm} in warm-up, {sent} in the soak, "
              f"one before each idle RSS sample); "
              f"generation {gen0} -> {gen1} (+{gen_delta}) during the soak; "
              f"reload ok lines {events.get('reload ok', 0)}; last_reload_error "
              f"{(h1 or {}).get('last_reload_error')!r}")
        for v in ("A", "B"):
            c = attempts[v]
            n = sum(c.values())
            multi = n - c.get(1, 0)
            print(f"  config {v} (flaky:mock weights {'1:3' if v == 'A' else '3:1'}): alias `chat` answered by "
                  f"mock-large {n:,} times, flaky tried first {multi / n * 100 if n else 0:.1f}% "
                  f"(attempts: {dict(sorted(c.items()))})")
        print()

        # RSS
        rs, re_ = self.rss_start, self.rss_end
        growth = (re_ - rs) / rs * 100 if (rs and re_) else None
        load = [r[1] for r in self.rss_load]
        mock_load = [r[2] for r in self.rss_load if r[2]]

        def med(x):
            x = sorted(x)
            return x[len(x) // 2] if x else 0
        k = max(1, min(10, len(load) // 5))
        first, last = med(load[:k]), med(load[-k:])
        print("Gateway RSS (MiB):")
        rrows = [["idle after warm-up (start)", f"{rs / 1024:.2f}"],
                 ["idle after the soak (end)", f"{re_ / 1024:.2f}" if re_ else "n/a"],
                 ["growth end vs start", f"{growth:+.2f}%" if growth is not None else "n/a"],
                 ["under load: median of first/last samples",
                  f"{first / 1024:.2f} / {last / 1024:.2f} ({(last - first) / first * 100 if first else 0:+.2f}%)"],
                 ["under load: min / max", f"{min(load) / 1024:.2f} / {max(load) / 1024:.2f}" if load else "n/a"],
                 ["samples (1/s)", str(len(load))],
                 ["mock RSS under load min / max", f"{min(mock_load) / 1024:.2f} / {max(mock_load) / 1024:.2f}" if mock_load else "n/a"]]
        table(["RSS", "value"], rrows)
        # a compact series (about 12 points)
        if load:
            step = max(1, len(load) // 12)
            print("  series: " + " ".join(f"{load[i] / 1024:.1f}" for i in range(0, len(load), step)) + "\n")

        # file descriptors, CPU, the gateway's own stdout/stderr
        fs, fe = self.fds_start, self.fds_end
        print(f"Gateway open fds idle: start {fs}, end {fe}"
              + (f" ({fe - fs:+d}; idle upstream pools may hold up to 2 x 64)" if fs is not None and fe is not None else ""))
        if self.cpu is not None:
            print(f"Gateway CPU during the soak: {self.cpu:.1f} s ({self.cpu / self.soak_s * 100:.0f}% of one core, "
                  f"{self.cpu / max(done_total, 1) * 1e6:.1f} us per request)")
        err_lines = []
        try:
            with open(os.path.join(self.run_dir, "gateway.err"), errors="replace") as f:
                err_lines = [ln.rstrip("\n") for ln in f if ln.strip()]
        except OSError:
            pass
        san = [ln for ln in err_lines if any(k in ln for k in ("Sanitizer", "runtime error:", "Segmentation",
                                                                 "Aborted", "core dumped", "double free"))]
        print(f"Gateway stdout/stderr: {len(err_lines)} lines" + (":" if err_lines else ""))
        for ln in err_lines[:15]:
            print(f"  {ln[:200]}")
        if san:
            log_unexpected["sanitizer/crash lines on the gateway's stderr"] += len(san)
        if fs is not None and fe is not None and fe - fs > 2 * 64 + 8:
            log_unexpected[f"open fds grew from {fs} to {fe}"] += 1
        print()

        # summary
        inj_total = sum(log_injected.values())
        print(f"Duration: soak {self.soak_s:.1f} s, whole run {wall:.1f} s (warm-up {self.warm['_elapsed']:.1f} s); "
              f"gateway SIGTERM -> exit {self.term[0]} in {self.term[1]:.2f} s")
        print(f"Failures by cause: injected (access log) "
              + (", ".join(f"{k} {v:,}" for k, v in log_injected.items()) or "0")
              + f" = {inj_total:,}; injected (client) "
              + (", ".join(f"{k} {v:,}" for k, v in injected_client.items()) or "0"))
        print("Unexpected (client): " + (", ".join(f"{k} {v:,}" for k, v in unexpected_client.items()) or "0"))
        print("Unexpected (access log): " + (", ".join(f"{k} {v:,}" for k, v in log_unexpected.items()) or "0"))
        print()

        # verdict
        R.extend(self.deaths)
        if growth is None:
            R.append("no end RSS (gateway not alive)")
        elif self.a.rss_target > 0 and growth >= self.a.rss_target:
            R.append(f"RSS grew {growth:.2f}% (target < {self.a.rss_target}%)")
        if unexpected_client:
            R.append(f"{sum(unexpected_client.values()):,} unexpected client-side failures")
        if log_unexpected:
            R.append(f"{sum(log_unexpected.values()):,} unexpected in the access log/events")
        if done_total < total_planned:
            R.append(f"only {done_total:,} of {total_planned:,} requests done")
        if self.hup_errors:
            R.append(f"SIGHUP errors: {self.hup_errors[:3]}")
        if gen_delta != sent:
            R.append(f"reloads applied {gen_delta} != SIGHUP sent {sent}")
        if (h1 or {}).get("last_reload_error"):
            R.append(f"last_reload_error {h1['last_reload_error']!r}")
        if self.term[0] != 0:
            R.append(f"gateway exit code {self.term[0]} on SIGTERM")
        for v in ("A", "B"):
            if not sum(attempts[v].values()):
                R.append(f"no alias requests seen under config {v}")
        if sum(attempts["A"].values()) and sum(attempts["B"].values()):
            fa = 1 - attempts["A"].get(1, 0) / sum(attempts["A"].values())
            fb = 1 - attempts["B"].get(1, 0) / sum(attempts["B"].values())
            if not fb > fa + 0.2:
                R.append(f"alias weights did not follow the reloads (flaky first {fa:.2f} under A, {fb:.2f} under B)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1_000_000, help="requests in the soak (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="50,000 requests")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="time bound of the soak phase (default 600, --quick 180)")
    p.add_argument("--rss-target", type=float, default=RSS_TARGET_PCT,
                   help="max RSS growth in %% (default 5; 0: report only, e.g. for a sanitizer build)")
    p.add_argument("--keep", action="store_true", help="keep the run dir (config, logs) at the end")
    p.add_argument("--moongate-bin", default=os.path.join(ROOT, "build", "rel", "moongate"))
    p.add_argument("--mock-bin", default=os.path.join(ROOT, "build", "rel", "moongate-mock"))
    p.add_argument("--sseload-bin", default=os.path.join(ROOT, "build", "rel", "sseload"))
    p.add_argument("--wrk-bin", default=shutil.which("wrk") or "wrk")
    a = p.parse_args()
    if a.quick:
        a.requests = 50_000
    if a.max_seconds is None:
        a.max_seconds = 180.0 if a.quick else 600.0
    if a.requests < 10_000:
        p.error("--requests must be at least 10,000")
    soak = Soak(a)
    ok = False
    try:
        soak.run()
        ok = not soak.reasons
    except HarnessError as e:
        soak.reasons.append(f"harness: {e}")
    except KeyboardInterrupt:
        soak.reasons.append("interrupted")
    finally:
        if a.keep or soak.reasons:
            print(f"run dir kept: {soak.run_dir}")
        else:
            shutil.rmtree(soak.run_dir, ignore_errors=True)
    if not ok:
        print("FAILED: " + "; ".join(soak.reasons))
        print("soak: 0 passed, 1 failed")
        return 1
    print("soak: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
