#!/usr/bin/python3
"""moongate benchmark harness (python3 stdlib only; bench/run.sh builds and installs first).

Measures, in one run, on loopback, against one mock provider (build/rel/moongate-mock):
  direct    the mock itself (the floor)
  moongate  ./moongate -c bench/moongate.lua (2 workers, stock policy, access log to a file)
  nginx     proxy_pass with keep-alive upstreams and no buffering (bench/nginx.conf.in, 2 workers)
  portkey   @portkey-ai/gateway pinned in bench/portkey (node, bound to 127.0.0.1 by start.mjs)

Lanes (targets interleaved inside each round, the order rotated every round; medians of
the rounds, each round's figure shown in brackets):
  1  non-stream throughput: wrk, 64 connections, req/s with p50/p99 latency
  2  added latency at concurrency 1: wrk -c1, p50/p99 through the target minus direct
  3  streaming fidelity: sseload over a paced upstream (64 events 20 ms apart) at
     1/64/512/4096 concurrent streams: added TTFT p99, gap error p99, stalled, failed
  4  memory: gateway RSS idle, per open stream at 4096 streams, after vs idle
  5  reload: SIGHUP every second during a lane-1 load: failed requests
  6  translation (moongate only): the same paced stream from an OpenAI upstream (passthrough,
     model mock-paced) and from the mock's Anthropic Messages endpoint translated event by event
     for the OpenAI client (model mock-paced-ant), interleaved: gateway CPU (every thread's run
     time from /proc/PID/task/*/schedstat, before/after) per event delivered, their ratio, and
     TTFT p99 / gap error p99 / stalled / failed for both (informational, no target); the
     gateway's idle CPU rate (its 5 ms watchdog), measured just before, is subtracted

`--lanes 1,6` runs only the lanes listed (3 and 4 run together; 6 alone starts only the mock and
moongate); a run of some lanes only is partial: like --smoke it writes into its run directory only.

Full mode (all lanes) prepends the run to bench/RESULTS.md and writes bench/chart.svg; --smoke runs
every lane briefly (1 round, small concurrency), writes into a temp dir only, and ends
with `bench smoke: 1 passed, 0 failed` when the harness ran all lanes. A missed
performance target is printed (PASS/FAIL lines), never a harness failure.
"""

import argparse
import datetime
import json
import math
import os
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc import Procs, free_port, wait_port  # noqa: E402  (bench/proc.py, shared with soak/soak.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TARGETS = ("direct", "moongate", "nginx", "portkey")
GATEWAYS = ("moongate", "nginx", "portkey")
LABEL = {"direct": "direct (floor)", "moongate": "moongate", "nginx": "nginx", "portkey": "portkey"}
COLOR = {"direct": "#9e9e9e", "moongate": "#1f6fb4", "nginx": "#2e9a4f", "portkey": "#e07b1a"}

PLAIN_BODY = json.dumps({"model": "mock-small", "messages": [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello."}]}, separators=(",", ":"))


def stream_body(model):
    return json.dumps({"model": model, "stream": True, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello."}]}, separators=(",", ":"))


STREAM_BODY = stream_body("mock-paced")
XLATE_MODELS = (("pass", "mock-paced"), ("xlate", "mock-paced-ant"))   # lane 6, passthrough first
ALL_LANES = (1, 2, 3, 4, 5, 6)
INFO = "info"          # a verdict that is a figure to read, not a target
MOCK_TEXT = "Hello from the mock provider"

PORTKEY_CAP = 512          # Portkey's lane-3 concurrency cap (beyond: skipped)


class HarnessError(Exception):
    """The harness itself could not do its job (as opposed to a missed target)."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- processes

def http(url, body=None, headers=None, timeout=10.0, method=None):
    req = urllib.request.Request(url, data=body.encode() if isinstance(body, str) else body,
                                 headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def tree_pids(pid):
    """pid and its descendants (nginx: master + workers)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pid=None, pids=None):
    """VmRSS summed over pid and its descendants (or over pids), KiB."""
    total = 0
    for p in (pids if pids is not None else tree_pids(pid)):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def cpu_ns(pid):
    """CPU time used so far by pid and its descendants, ns: the sum of its threads' run time
    in /proc/P/task/*/schedstat (ns resolution; live threads only, and moongate's threads live
    as long as the process), or utime+stime of /proc/P/stat (clock ticks) without schedstat."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for p in tree_pids(pid):
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        got = False
        try:
            part = 0
            for tid in tasks:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    part += int(f.read().split()[0])
            total += part
            got = True
        except (OSError, ValueError, IndexError):
            got = False
        if not got:
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read()
                fields = st[st.rindex(")") + 2:].split()
                total += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // tick
            except (OSError, ValueError):
                continue
    return total


# --------------------------------------------------------------------------- targets

class Target:
    def __init__(self, name):
        self.name = name
        self.proc = None
        self.port = None
        self.plain_url = None
        self.stream_url = None
        self.plain_headers = [("Content-Type", "application/json")]
        self.stream_headers = [("Content-Type", "application/json")]
        self.skipped = None      # reason, when the target could not run
        self.version = ""

    @property
    def pid(self):
        return self.proc.pid if self.proc else None


class Bench:
    def __init__(self, args):
        self.a = args
        self.procs = Procs(log)
        self.out = args.out
        self.targets = {}
        self.mock_port = None
        self.mock_proc = None
        self.notes = []
        self.broken = []           # harness problems (each one fails a smoke run)
        self.results = {"rounds": [], "mem_idle_kib": {}}

    # ----------------------------------------------------------------- start-up
    def start_mock(self):
        errf = open(os.path.join(self.out, "mock.err"), "w")
        p = self.procs.start("mock", [self.a.mock_bin, "-p", "0"], stdout=subprocess.PIPE, stderr=errf)
        line, buf = b"", b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"\n" not in buf:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 256)
                if not chunk:
                    break
                buf += chunk
        line = buf.split(b"\n")[0].decode()
        m = re.fullmatch(r"port=(\d+)", line.strip())
        if not m:
            raise HarnessError(f"the mock did not print port=N (got {line!r})")
        self.mock_port = int(m.group(1))
        self.mock_proc = p
        t = Target("direct")
        t.proc, t.port = p, self.mock_port
        base = f"http://127.0.0.1:{self.mock_port}"
        t.plain_url = f"{base}/v1/chat/completions"
        t.stream_url = f"{base}/f/{self.a.paced_spec}/v1/chat/completions"
        self.targets["direct"] = t
        log(f"mock provider on 127.0.0.1:{self.mock_port}")

    def start_moongate(self):
        t = Target("moongate")
        t.port = free_port()
        env = dict(os.environ, BENCH_LISTEN=f"127.0.0.1:{t.port}", BENCH_MOCK_PORT=str(self.mock_port),
                   BENCH_LOG=os.path.join(self.out, "moongate.log"), BENCH_PACED_SPEC=self.a.paced_spec,
                   BENCH_WORKERS="2")
        cfg = os.path.join(HERE, "moongate.lua")
        chk = subprocess.run([self.a.moongate_bin, "-t", "-c", cfg], env=env, capture_output=True, text=True)
        if chk.returncode != 0:
            raise HarnessError(f"moongate -t failed: {chk.stdout}{chk.stderr}")
        errf = open(os.path.join(self.out, "moongate.err"), "w")
        t.proc = self.procs.start("moongate", [self.a.moongate_bin, "-c", cfg], env=env, cwd=ROOT,
                                  stdout=errf, stderr=errf)
        if not wait_port(t.port, t.proc, 10):
            raise HarnessError("moongate did not start (see moongate.err)")
        base = f"http://127.0.0.1:{t.port}"
        t.plain_url = t.stream_url = f"{base}/v1/chat/completions"
        t.version = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                   capture_output=True, text=True).stdout.strip()
        self.targets["moongate"] = t
        log(f"moongate on 127.0.0.1:{t.port} (pid {t.pid})")

    def start_nginx(self):
        t = Target("nginx")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            raise HarnessError("nginx is not installed (bench/run.sh installs nginx-light)")
        t.port = free_port()
        rundir = os.path.join(self.out, "nginx")
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(rundir, "nginx-tmp", d), exist_ok=True)
        os.chmod(self.out, 0o755)
        os.chmod(rundir, 0o755)
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read()
        for k, v in (("@RUNDIR@", rundir), ("@PORT@", str(t.port)), ("@MOCK_PORT@", str(self.mock_port)),
                     ("@PACED_SPEC@", self.a.paced_spec),
                     ("@NOFILE@", str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]))):
            conf = conf.replace(k, v)
        cpath = os.path.join(rundir, "nginx.conf")
        with open(cpath, "w") as f:
            f.write(conf)
        errlog = os.path.join(rundir, "nginx-error.log")
        errf = open(os.path.join(rundir, "nginx.out"), "w")
        t.proc = self.procs.start("nginx", [nginx, "-p", rundir, "-e", errlog, "-c", cpath],
                                  stdout=errf, stderr=errf)
        if not wait_port(t.port, t.proc, 10):
            raise HarnessError(f"nginx did not start (see {errlog})")
        base = f"http://127.0.0.1:{t.port}"
        t.plain_url = f"{base}/v1/chat/completions"
        t.stream_url = f"{base}/paced/v1/chat/completions"
        v = subprocess.run([nginx, "-v"], capture_output=True, text=True)
        t.version = (v.stderr or v.stdout).strip().replace("nginx version: ", "")
        self.targets["nginx"] = t
        log(f"nginx on 127.0.0.1:{t.port} (pid {t.pid})")

    def start_portkey(self):
        t = Target("portkey")
        pdir = os.path.join(HERE, "portkey")
        pkg = os.path.join(pdir, "node_modules", "@portkey-ai", "gateway", "package.json")
        node = shutil.which("node")
        if self.a.skip_portkey:
            t.skipped = "skipped (--skip-portkey)"
        elif not node:
            t.skipped = "skipped: node is not installed"
        elif not os.path.exists(pkg):
            t.skipped = "skipped: bench/portkey/node_modules missing (npm install failed or was not run)"
        if t.skipped:
            self.targets["portkey"] = t
            log(f"portkey {t.skipped}")
            return
        with open(pkg) as f:
            t.version = "@portkey-ai/gateway " + json.load(f).get("version", "?")
        t.port = free_port()
        env = dict(os.environ, NODE_ENV="production")
        errf = open(os.path.join(self.out, "portkey.log"), "w")
        t.proc = self.procs.start("portkey", [node, "start.mjs", f"--port={t.port}", "--headless"],
                                  cwd=pdir, env=env, stdout=errf, stderr=errf)
        if not wait_port(t.port, t.proc, 30):
            t.skipped = "skipped: Portkey did not start within 30 s (see portkey.log)"
            Procs.stop(t.proc)
            self.targets["portkey"] = t
            log(f"portkey {t.skipped}")
            return
        # Loopback only: check what it bound.
        ss = subprocess.run(["ss", "-Hltn", f"sport = :{t.port}"], capture_output=True, text=True).stdout
        local = [ln.split()[3] for ln in ss.splitlines() if len(ln.split()) >= 4]
        if any(not (x.startswith("127.") or x.startswith("[::1]")) for x in local):
            raise HarnessError(f"Portkey listens beyond loopback: {' '.join(local)}")
        base = f"http://127.0.0.1:{t.port}"
        t.plain_url = t.stream_url = f"{base}/v1/chat/completions"
        auth = [("Authorization", "Bearer sk-bench"), ("x-portkey-provider", "openai")]
        t.plain_headers = t.plain_headers + auth + [
            ("x-portkey-custom-host", f"http://127.0.0.1:{self.mock_port}/v1")]
        t.stream_headers = t.stream_headers + auth + [
            ("x-portkey-custom-host", f"http://127.0.0.1:{self.mock_port}/f/{self.a.paced_spec}/v1")]
        self.targets["portkey"] = t
        log(f"portkey ({t.version}) on 127.0.0.1:{t.port} (pid {t.pid})")

    def preflight(self):
        """One plain and one streamed request through every target: the bench measures
        real answers, not fast errors."""
        for name, t in list(self.targets.items()):
            if t.skipped:
                continue
            st, body = http(t.plain_url, PLAIN_BODY, t.plain_headers, timeout=15)
            ok = st == 200 and MOCK_TEXT in body
            st2, body2 = http(t.stream_url, STREAM_BODY, t.stream_headers, timeout=30)
            ok2 = st2 == 200 and "data: [DONE]" in body2 and body2.count("data: ") >= self.a.paced_events + 2
            if ok and ok2:
                continue
            why = f"{name} preflight failed: plain {st} {body[:200]!r}; stream {st2} {body2[:200]!r}"
            if name == "portkey":
                t.skipped = "skipped: " + why
                Procs.stop(t.proc)
                log(why)
            else:
                raise HarnessError(why)
        t = self.targets.get("moongate")
        if 6 in self.a.lanes and t and not t.skipped:
            # lane 6: the Anthropic upstream, translated for this OpenAI client
            st, body = http(t.stream_url, stream_body("mock-paced-ant"), t.stream_headers, timeout=30)
            if not (st == 200 and body.rstrip().endswith("data: [DONE]")
                    and body.count("data: ") >= self.a.paced_events + 2 and '"error"' not in body
                    and '"content":"Hello ' in body):
                raise HarnessError(f"moongate translated (mock-paced-ant) preflight failed: {st} {body[:300]!r}")

    def active_names(self):
        return [n for n in self.a.targets if n in self.targets and not self.targets[n].skipped]

    # ----------------------------------------------------------------- load tools
    def wrk_script(self, t):
        path = os.path.join(self.out, f"wrk-{t.name}.lua")
        if not os.path.exists(path):
            lines = ['wrk.method = "POST"', f"wrk.body = {lua_str(PLAIN_BODY)}"]
            for k, v in t.plain_headers:
                lines.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
        return path

    def wrk(self, t, conns, threads, duration, tag, during=None):
        argv = [self.a.wrk_bin, "-t", str(threads), "-c", str(conns), "-d", f"{duration}s", "--latency",
                "--timeout", "5s", "-s", self.wrk_script(t), t.plain_url]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            extra = during(p) if during else None
            out, _ = p.communicate(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            Procs.stop(p)
            raise HarnessError(f"wrk {tag} on {t.name} did not finish")
        except BaseException:
            Procs.stop(p)
            raise
        if extra is not None:
            extra.join()
        with open(os.path.join(self.out, "wrk.log"), "a") as f:
            f.write(f"==== {tag} {t.name} c={conns}\n{out}\n")
        r = parse_wrk(out)
        if r is None:
            raise HarnessError(f"wrk {tag} on {t.name}: unparsable output:\n{out}")
        return r

    def sseload(self, t, conc, total, hold=None, body=STREAM_BODY, tag=""):
        argv = [self.a.sseload_bin, "-u", t.stream_url, "-c", str(conc), "-n", str(total), "-b", body,
                "-p", str(self.a.paced_ms), "-t", str(self.a.sse_timeout)]
        for k, v in t.stream_headers:
            argv += ["-H", f"{k}: {v}"]
        if hold:
            argv += ["-k", hold]
        # stderr (progress, warnings) to a file: nothing drains a pipe while lane 4 samples RSS.
        errf = open(os.path.join(self.out, "sseload.err"), "a")
        errf.write(f"==== {t.name}{tag} c={conc}\n")
        errf.flush()
        try:
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, text=True,
                                    start_new_session=True)
        finally:
            errf.close()

    def finish_sseload(self, p, t, conc, tag=""):
        try:
            out, _ = p.communicate(timeout=self.a.sse_timeout + 30)
        except subprocess.TimeoutExpired:
            Procs.stop(p)
            raise HarnessError(f"sseload on {t.name} c={conc} did not finish")
        except BaseException:
            Procs.stop(p)
            raise
        with open(os.path.join(self.out, "sseload.log"), "a") as f:
            f.write(f"==== {t.name}{tag} c={conc} rc={p.returncode}\n{out}\n")
        obj = None
        for line in reversed(out.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                    break
                except ValueError:
                    pass
        if obj is None:
            try:
                obj = json.loads(out)
            except ValueError:
                raise HarnessError(f"sseload on {t.name} c={conc}: no JSON result (rc {p.returncode}), "
                                   f"see sseload.err:\n{out[-2000:]}")
        for k in ("streams", "ok", "failed", "events", "ttfe_ms", "gap_err_ms", "stalled"):
            if k not in obj:
                raise HarnessError(f"sseload on {t.name} c={conc}: result lacks {k!r}: {obj}")
        return obj

    def mock_active(self):
        try:
            st, body = http(f"http://127.0.0.1:{self.mock_port}/_mock/stats", timeout=5)
            return json.loads(body).get("active") if st == 200 else None
        except (OSError, ValueError):
            return None

    def settle(self, timeout=15.0):
        """Wait until the mock has no unfinished reply (the previous load is over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.mock_active() == 0:
                return True
            time.sleep(0.1)
        self.notes.append(f"the mock still had active replies {timeout:.0f} s after a run")
        return False

    def quiesce(self, timeout=5.0, window=0.2, max_share=0.05):
        """Wait until the mock and every target's process tree each use less than max_share of a
        core over a window: what the previous load left behind (nginx's old workers after the
        reload lane, a backlog Portkey still works through, 4,096 connections closing after a
        lane-3 burst) must not land on the next target's figures. Lane 2 at c=1 showed it:
        whichever target came first after lane 5 read a p99 of ~1 ms, in every round. Gives up
        after timeout (noted in the results)."""
        pids = [t.pid for t in self.targets.values() if t.proc is not None and not t.skipped and t.pid]
        deadline = time.monotonic() + timeout
        while True:
            c0 = [cpu_ns(p) for p in pids]
            time.sleep(window)
            busy = [(cpu_ns(p) - c) / (window * 1e9) for p, c in zip(pids, c0)]
            if max(busy) < max_share:
                return True
            if time.monotonic() > deadline:
                self.notes.append(f"processes still busy {timeout:.0f} s after a load: {', '.join(f'{b:.2f}' for b in busy)} cores")
                return False

    def health_generation(self, t):
        try:
            st, body = http(f"http://127.0.0.1:{t.port}/health", timeout=5)
            return json.loads(body).get("generation") if st == 200 else None
        except (OSError, ValueError):
            return None

    # ----------------------------------------------------------------- lanes
    def lane1(self, order, R):
        for n in order:
            t = self.targets[n]
            self.quiesce()
            c0 = cpu_ns(t.pid)
            w = self.wrk(t, 64, 2, self.a.duration1, "lane1")
            # CPU of the target's process tree (the mock's for `direct`) per request served
            w["cpu_us_per_req"] = (cpu_ns(t.pid) - c0) / 1e3 / w["requests"] if w.get("requests") else None
            R["lane1"][n] = w
            log(f"  lane 1 {n:9s} {w['rps']:10.0f} req/s  p50 {w['p50']:.3f} ms  p99 {w['p99']:.3f} ms"
                f"  failed {w['failed']}  CPU {fmt_num(w['cpu_us_per_req'], 2)} us/request")

    def lane5(self, order, R):
        for n in order:
            if n not in ("moongate", "nginx"):
                continue
            t = self.targets[n]
            self.quiesce()
            g0 = self.health_generation(t) if n == "moongate" else None
            sent = [0]

            def during(p, t=t):
                def run():
                    time.sleep(0.5)
                    while p.poll() is None:
                        try:
                            os.kill(t.pid, signal.SIGHUP)
                            sent[0] += 1
                        except ProcessLookupError:
                            return
                        for _ in range(10):
                            if p.poll() is not None:
                                return
                            time.sleep(0.1)
                th = threading.Thread(target=run, daemon=True)
                th.start()
                return th

            w = self.wrk(t, 64, 2, self.a.duration5, "lane5", during=during)
            time.sleep(0.3)
            g1 = self.health_generation(t) if n == "moongate" else None
            w["sighup"] = sent[0]
            w["reloads"] = (g1 - g0) if (g0 is not None and g1 is not None) else None
            if t.proc.poll() is not None:
                raise HarnessError(f"{n} exited during the reload lane")
            R["lane5"][n] = w
            log(f"  lane 5 {n:9s} {sent[0]} SIGHUP, reloads {w['reloads']}, failed {w['failed']}, "
                f"{w['rps']:.0f} req/s")

    def lane2(self, order, R):
        for n in order:
            t = self.targets[n]
            self.quiesce()
            w = self.wrk(t, 1, 1, self.a.duration2, "lane2")
            R["lane2"][n] = w
            log(f"  lane 2 {n:9s} p50 {w['p50']:.3f} ms  p99 {w['p99']:.3f} ms  failed {w['failed']}")

    def lane3(self, order, R):
        for conc in self.a.conc:
            total = self.a.streams[conc]
            for n in order:
                t = self.targets[n]
                if n == "portkey" and conc > PORTKEY_CAP:
                    R["lane3"].setdefault(conc, {})[n] = "skipped"
                    continue
                self.settle()
                self.quiesce()   # the previous target's burst (4,096 connections closing) ends first
                mem = None
                c0 = cpu_ns(t.pid)
                if conc == self.a.mem_conc and n != "direct":
                    mem = self.lane4_run(t, conc, total, R)
                    res = mem.pop("_sse")
                else:
                    res = self.finish_sseload(self.sseload(t, conc, total), t, conc)
                # CPU of the target's process tree (the mock's for `direct`) per delivered
                # event, gross: the window is the sseload run (plus lane 4's RSS waits).
                res["cpu_us_per_event"] = ((cpu_ns(t.pid) - c0) / 1e3 / res["events"]
                                           if res["events"] else None)
                R["lane3"].setdefault(conc, {})[n] = res
                if mem is not None:
                    R["lane4"][n] = mem
                log(f"  lane 3 {n:9s} c={conc:<5d} ok {res['ok']}/{res['streams']}  ttfe p99 "
                    f"{res['ttfe_ms']['p99']:.2f} ms  gap err p99 {res['gap_err_ms']['p99']:.2f} ms  "
                    f"stalled {res['stalled']}  failed {res['failed']}  "
                    f"CPU {fmt_num(res['cpu_us_per_event'], 2)} us/event"
                    + (f"  {res.get('fail_reasons')}" if res['failed'] else ""))
                if mem is not None:
                    log(f"  lane 4 {n:9s} idle {mem['idle_kib'] / 1024:.1f} MiB  before {mem['before_kib'] / 1024:.1f}"
                        f" MiB  open {mem['open_kib'] / 1024:.1f}"
                        f" MiB ({mem['open_streams']} streams open)  {fmt_num(mem['per_stream_kib'], 2)} KiB/stream"
                        f"  after {mem['after_kib'] / 1024:.1f} MiB")
        self.settle()

    def lane4_run(self, t, conc, total, R):
        """The lane-3 run at the memory concurrency, with RSS sampled: before, when every
        stream of the first wave has its first event (sseload's hold file says `open`), the
        peak, and after the streams end. `idle` is the RSS before the target's first such run
        (warmed by the lanes before it), the same baseline in every round: a gateway that keeps
        what a burst took, or grows from round to round, shows it in every figure."""
        time.sleep(0.3)
        before = statistics.median(rss_kib(t.pid) for _ in range(3))
        idle = self.results["mem_idle_kib"].setdefault(t.name, before)
        hold = os.path.join(self.out, f"hold-{t.name}")
        if os.path.exists(hold):
            os.unlink(hold)
        pids = tree_pids(t.pid)     # nginx: master + workers; fixed during the run
        p = self.sseload(t, conc, total, hold=hold)
        peak, at_open, open_n = idle, None, None
        try:
            while p.poll() is None:
                peak = max(peak, rss_kib(pids=pids))
                if at_open is None:
                    try:
                        with open(hold) as f:
                            state = f.read().strip()
                    except OSError:
                        state = ""
                    if state.startswith("open") or state.startswith("done"):
                        at_open = rss_kib(pids=pids)
                        open_n = self.mock_active()
                        peak = max(peak, at_open)
                time.sleep(0.05)
        except BaseException:
            Procs.stop(p)
            raise
        res = self.finish_sseload(p, t, conc)
        self.settle()
        time.sleep(self.a.after_wait)
        after = statistics.median(rss_kib(t.pid) for _ in range(3))
        if at_open is None:
            at_open = peak
            self.notes.append(f"lane 4 {t.name}: sseload never wrote `open`; the peak RSS was used")
        streams = open_n if open_n else conc
        streams = min(streams, conc)
        return {"_sse": res, "idle_kib": idle, "before_kib": before, "open_kib": at_open, "peak_kib": peak,
                "after_kib": after,
                "open_streams": open_n, "per_stream_kib": (at_open - idle) / streams if streams else None,
                "after_vs_idle": (after - idle) / idle if idle else None}

    def lane6(self, rnd, R):
        """moongate only: passthrough and translated runs of the same paced stream, back to back
        (the order swapped every round). Gateway CPU = every thread's run time after minus
        before, net of the idle rate (moongate's main thread wakes every 5 ms for its watchdog
        whether streams run or not) measured just before; the window spans the whole run and
        ends once the mock has no open reply and the gateway had 0.2 s for its last writes and
        log lines."""
        t = self.targets["moongate"]
        conc, total = self.a.xl_conc, self.a.xl_streams
        kinds = list(XLATE_MODELS)
        if rnd % 2:
            kinds.reverse()
        self.settle()
        time.sleep(0.2)
        i0, iw0 = cpu_ns(t.pid), time.monotonic()
        time.sleep(self.a.xl_idle_s)
        i1, iw1 = cpu_ns(t.pid), time.monotonic()
        idle_rate = (i1 - i0) / (iw1 - iw0)          # ns of CPU per s, idle
        R["lane6"]["idle_cpu_ms_per_s"] = idle_rate / 1e6
        for kind, model in kinds:
            self.settle()
            time.sleep(0.2)
            c0, w0 = cpu_ns(t.pid), time.monotonic()
            tag = f" lane6 {kind} ({model})"
            res = self.finish_sseload(self.sseload(t, conc, total, body=stream_body(model), tag=tag),
                                      t, conc, tag=tag)
            self.settle()
            time.sleep(0.2)
            c1, w1 = cpu_ns(t.pid), time.monotonic()
            net = (c1 - c0) - idle_rate * (w1 - w0)
            res["model"] = model
            res["cpu_gross_ms"] = (c1 - c0) / 1e6
            res["cpu_ms"] = net / 1e6
            res["window_s"] = w1 - w0
            res["cpu_us_per_event"] = net / 1e3 / res["events"] if res["events"] else None
            res["cpu_us_per_stream"] = net / 1e3 / res["streams"] if res["streams"] else None
            R["lane6"][kind] = res
            log(f"  lane 6 {kind:5s} {model:15s} ok {res['ok']}/{res['streams']}  {res['events']} events  "
                f"gateway CPU {res['cpu_ms']:.0f} ms net ({res['cpu_gross_ms']:.0f} gross) = "
                f"{fmt_num(res['cpu_us_per_event'], 2)} us/event  "
                f"ttfe p99 {res['ttfe_ms']['p99']:.2f} ms  gap err p99 {res['gap_err_ms']['p99']:.2f} ms  "
                f"stalled {res['stalled']}  failed {res['failed']}"
                + (f"  {res.get('fail_reasons')}" if res['failed'] else ""))
        r = ratio(R["lane6"]["xlate"]["cpu_us_per_event"], R["lane6"]["pass"]["cpu_us_per_event"])
        log(f"  lane 6 CPU per event translated/passthrough {fmt_ratio(r)} (idle rate subtracted: "
            f"{idle_rate / 1e6:.1f} ms/s)")

    # ----------------------------------------------------------------- the run
    def run(self):
        a = self.a
        self.start_mock()
        if "moongate" in a.targets:
            self.start_moongate()
        if "nginx" in a.targets:
            self.start_nginx()
        if "portkey" in a.targets:
            self.start_portkey()
        self.preflight()
        sse_ok = os.access(a.sseload_bin, os.X_OK)
        sse_lanes = [x for x in (3, 4, 6) if x in a.lanes]
        if not sse_ok and sse_lanes:
            self.broken.append(f"{a.sseload_bin} is missing: lanes {sse_lanes} did not run")
            log(f"{a.sseload_bin} missing: lanes {sse_lanes} skipped")
        names = self.active_names()
        self.results["startup_rss_kib"] = {n: rss_kib(self.targets[n].pid) for n in names if n != "direct"}
        if a.warmup > 0:
            log(f"warm-up: {a.warmup} s of lane-1 load per target")
            for n in names:
                self.wrk(self.targets[n], 64, 2, a.warmup, "warmup")
        for rnd in range(a.rounds):
            k = rnd % len(names)
            order = names[k:] + names[:k]
            log(f"round {rnd + 1}/{a.rounds}: order {' '.join(order)}")
            R = {"lane1": {}, "lane2": {}, "lane3": {}, "lane4": {}, "lane5": {}, "lane6": {}}
            self.results["rounds"].append(R)
            if 1 in a.lanes:
                self.lane1(order, R)
            if 5 in a.lanes:
                self.lane5(order, R)
            if 2 in a.lanes:
                self.lane2(order, R)
            if sse_ok and (3 in a.lanes or 4 in a.lanes):
                self.lane3(order, R)
            if sse_ok and 6 in a.lanes and "moongate" in names:
                self.lane6(rnd, R)
            for n in names:
                if self.targets[n].proc.poll() is not None:
                    raise HarnessError(f"{n} exited during round {rnd + 1}")


# --------------------------------------------------------------------------- parsing

def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        return None
    r = {"rps": float(m.group(1))}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else None
    for pct, val, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M):
        r["p" + pct] = float(val) * UNIT_MS[unit]
    if "p50" not in r or "p99" not in r:
        return None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["failed"] = r["socket_errors"] + r["non2xx"]
    return r


# --------------------------------------------------------------------------- figures

def med(vals):
    v = [x for x in vals if isinstance(x, (int, float))]
    return statistics.median(v) if v else None


def fmt_num(v, nd=2):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if nd == 0:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def fmt_signed(v, nd=2):
    if isinstance(v, (int, float)):
        return f"{v:+.{nd}f}"
    return fmt_num(v, nd)


def cell(vals, nd=2, suffix="", signed=False):
    """median [round 1, round 2, ...]"""
    if all(isinstance(v, str) for v in vals) and vals:
        return vals[0]
    f = fmt_signed if signed else fmt_num
    m = med(vals)
    s = f(m, nd) + suffix
    if len(vals) > 1:
        s += " [" + " ".join(f(v, nd) for v in vals) + "]"
    return s


def fmt_ratio(r, nd=2):
    return "n/a" if r is None else f"{r:.{nd}f}x"


class Figures:
    """Per-round figures and medians out of the raw results."""

    def __init__(self, bench):
        self.b = bench
        self.rounds = bench.results["rounds"]
        self.names = bench.active_names()
        self.conc = bench.a.conc

    def per_round(self, fn):
        out = []
        for R in self.rounds:
            try:
                out.append(fn(R))
            except (KeyError, TypeError):
                out.append(None)
        return out

    def l1(self, n, k):
        return self.per_round(lambda R: R["lane1"][n][k])

    def l2(self, n, k):
        return self.per_round(lambda R: R["lane2"][n][k])

    def l2_added(self, n, k):
        return self.per_round(lambda R: R["lane2"][n][k] - R["lane2"]["direct"][k])

    def l3(self, c, n, fn):
        def f(R):
            x = R["lane3"][c][n]
            return x if isinstance(x, str) else fn(x)
        return self.per_round(f)

    def l3_added_ttft(self, c, n):
        def f(R):
            x = R["lane3"][c][n]
            if isinstance(x, str):
                return x
            return x["ttfe_ms"]["p99"] - R["lane3"][c]["direct"]["ttfe_ms"]["p99"]
        return self.per_round(f)

    def l4(self, n, k):
        return self.per_round(lambda R: R["lane4"][n][k])

    def l5(self, n, k):
        return self.per_round(lambda R: R["lane5"][n][k])

    def l6(self, kind, fn):
        return self.per_round(lambda R: fn(R["lane6"][kind]))

    def l6_ratio(self, fn):
        return self.per_round(lambda R: ratio(fn(R["lane6"]["xlate"]), fn(R["lane6"]["pass"])))

    def l6_added(self, fn):
        return self.per_round(lambda R: fn(R["lane6"]["xlate"]) - fn(R["lane6"]["pass"]))


def build_table(F, bench):
    names = F.names
    all_names = [n for n in bench.a.targets if n in bench.targets]
    rows = []

    def section(title, cols):
        rows.append(["**" + title + "**"] + cols + [""] * (6 - len(cols)))

    def row(name, cells):
        rows.append([LABEL[name]] + cells + [""] * (6 - len(cells)))

    def skipped_row(name):
        row(name, [bench.targets[name].skipped or "skipped"])

    lanes = bench.a.lanes
    if 1 in lanes:
        section("1. non-stream, 64 conns", ["req/s", "p50 ms", "p99 ms", "failed requests", "CPU us/request"])
    for n in (all_names if 1 in lanes else []):
        if n not in names:
            skipped_row(n)
            continue
        row(n, [cell(F.l1(n, "rps"), 0), cell(F.l1(n, "p50"), 3), cell(F.l1(n, "p99"), 3),
                cell(F.l1(n, "failed"), 0),
                cell(F.per_round(lambda R: R["lane1"][n].get("cpu_us_per_req")), 2)])

    if 2 in lanes:
        section("2. latency at c=1", ["added p50 ms", "added p99 ms", "p50 ms", "p99 ms"])
    for n in (all_names if 2 in lanes else []):
        if n not in names:
            skipped_row(n)
            continue
        added = (["—", "—"] if n == "direct" else [cell(F.l2_added(n, "p50"), 3, signed=True),
                                                         cell(F.l2_added(n, "p99"), 3, signed=True)])
        row(n, added + [cell(F.l2(n, "p50"), 3), cell(F.l2(n, "p99"), 3)])

    sse_ran = any(R["lane3"] for R in F.rounds)
    for c in (F.conc if 3 in lanes else []):
        total = bench.a.streams[c]
        section(f"3. streams: {c} at once, {total} in all",
                ["TTFT p99 ms", "added TTFT p99 ms", "gap error p99 ms", "stalled events", "failed streams",
                 "CPU us/event"])
        for n in all_names:
            if n not in names:
                skipped_row(n)
                continue
            if not sse_ran:
                row(n, ["not run: sseload missing"])
                continue
            if n == "portkey" and c > PORTKEY_CAP:
                row(n, [f"skipped (Portkey capped at {PORTKEY_CAP} streams)"])
                continue
            row(n, [cell(F.l3(c, n, lambda x: x["ttfe_ms"]["p99"]), 2),
                    "—" if n == "direct" else cell(F.l3_added_ttft(c, n), 2, signed=True),
                    cell(F.l3(c, n, lambda x: x["gap_err_ms"]["p99"]), 2),
                    cell(F.l3(c, n, lambda x: x["stalled"]), 0),
                    cell(F.l3(c, n, lambda x: x["failed"]), 0),
                    cell(F.l3(c, n, lambda x: x.get("cpu_us_per_event")), 2)])

    mc = bench.a.mem_conc
    if 4 in lanes:
        section(f"4. memory (RSS), {mc} streams", ["idle MiB (before 1st run)", f"at {mc} open MiB",
                                                         "KiB per open stream",
                                                         "after MiB", "after vs idle"])
    for n in (all_names if 4 in lanes else []):
        if n == "direct":
            continue
        if n not in names:
            skipped_row(n)
            continue
        if not sse_ran:
            row(n, ["not run: sseload missing"])
            continue
        if n == "portkey" and mc > PORTKEY_CAP:
            idle = [(v / 1024 if isinstance(v, (int, float)) else v)
                    for v in [bench.results.get("startup_rss_kib", {}).get(n)]]
            row(n, [cell(idle, 1) + " (at start)", f"skipped (Portkey capped at {PORTKEY_CAP} streams)"])
            continue
        mib = lambda k: [v / 1024 if v is not None else None for v in F.l4(n, k)]
        pct = [v * 100 if v is not None else None for v in F.l4(n, "after_vs_idle")]
        row(n, [cell(mib("idle_kib")[:1], 1), cell(mib("open_kib"), 1), cell(F.l4(n, "per_stream_kib"), 1),
                cell(mib("after_kib"), 1), cell(pct, 1, "%", signed=True)])

    if 5 in lanes:
        section("5. reload: SIGHUP/s, lane-1 load", ["failed requests", "reloads done",
                                                                      "SIGHUP sent", "req/s"])
    for n in (all_names if 5 in lanes else []):
        if n == "direct":
            continue
        if n == "portkey":
            row(n, ["n/a (no reload)"])
            continue
        if n not in names:
            skipped_row(n)
            continue
        row(n, [cell(F.l5(n, "failed"), 0), cell(F.l5(n, "reloads"), 0) if n == "moongate" else "n/a",
                cell(F.l5(n, "sighup"), 0), cell(F.l5(n, "rps"), 0)])

    if 6 in lanes:
        a = bench.a
        section(f"6. translation: {a.xl_conc} at once, {a.xl_streams} in all",
                ["gateway CPU us/event", "TTFT p99 ms", "gap error p99 ms", "stalled events", "failed streams"])
        l6_ran = any(R.get("lane6") for R in F.rounds)
        if "moongate" not in names:
            rows.append(["moongate"] + [bench.targets["moongate"].skipped if "moongate" in bench.targets
                                        else "not run: moongate not measured"] + [""] * 4)
        elif not l6_ran:
            rows.append(["moongate"] + ["not run: sseload missing"] + [""] * 4)
        else:
            for kind, label in (("pass", "moongate passthrough"), ("xlate", "moongate translated")):
                rows.append([label, cell(F.l6(kind, lambda x: x["cpu_us_per_event"]), 2),
                             cell(F.l6(kind, lambda x: x["ttfe_ms"]["p99"]), 2),
                             cell(F.l6(kind, lambda x: x["gap_err_ms"]["p99"]), 2),
                             cell(F.l6(kind, lambda x: x["stalled"]), 0),
                             cell(F.l6(kind, lambda x: x["failed"]), 0)])
            rows.append(["translated vs passthrough",
                         cell(F.l6_ratio(lambda x: x["cpu_us_per_event"]), 2, "x"),
                         cell(F.l6_added(lambda x: x["ttfe_ms"]["p99"]), 2, signed=True),
                         cell(F.l6_added(lambda x: x["gap_err_ms"]["p99"]), 2, signed=True), "", ""])
    return rows


def render_table(rows):
    header = ["lane / target", "", "", "", "", ""]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(6)]
    while widths and widths[-1] == 0:
        widths.pop()
    ncol = len(widths)

    def line(r):
        return "| " + " | ".join(r[i].ljust(widths[i]) for i in range(ncol)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def ratio(a, b):
    """a/b, or None when it would mean nothing (a missing figure, or one not positive:
    an added latency under the floor is noise)."""
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) or b <= 0 or a < 0:
        return None
    return a / b


def verdicts(F, bench):
    """(ratio lines, [(True | False | None (skipped) | INFO, text)]); only the lanes run"""
    names = F.names
    has = lambda n: n in names
    L = bench.a.lanes
    lines, checks = [], []
    rps = {n: med(F.l1(n, "rps")) for n in names}
    if has("moongate"):
        for n in (("direct", "nginx", "portkey") if 1 in L else ()):
            if has(n):
                r = ratio(rps["moongate"], rps[n])
                lines.append(f"throughput moongate/{n}: {fmt_ratio(r)}")
        cpu = {n: med(F.per_round(lambda R, n=n: R["lane1"][n].get("cpu_us_per_req"))) for n in names}
        for n in (("nginx", "portkey") if 1 in L else ()):
            if has(n) and cpu.get(n) and cpu.get("moongate"):
                lines.append(f"CPU per request (lane 1) moongate/{n}: {fmt_ratio(ratio(cpu['moongate'], cpu[n]))}"
                             f" ({cpu['moongate']:.1f} vs {cpu[n]:.1f} us; the mock: "
                             f"{fmt_num(cpu.get('direct'), 1)} us)")
        add = {n: med(F.l2_added(n, "p50")) for n in names if n != "direct"}
        add99 = {n: med(F.l2_added(n, "p99")) for n in names if n != "direct"}
        for n in (("nginx", "portkey") if 2 in L else ()):
            if has(n):
                lines.append(f"added latency at c=1 moongate/{n}: p50 {fmt_ratio(ratio(add['moongate'], add[n]))}"
                             f" ({fmt_signed(add['moongate'], 3)} vs {fmt_signed(add[n], 3)} ms), "
                             f"p99 {fmt_ratio(ratio(add99['moongate'], add99[n]))}"
                             f" ({fmt_signed(add99['moongate'], 3)} vs {fmt_signed(add99[n], 3)} ms)")
        if 3 in L and F.rounds and any(R["lane3"] for R in F.rounds):
            for c in F.conc:
                parts = []
                for n in ("nginx", "portkey"):
                    if has(n) and not (n == "portkey" and c > PORTKEY_CAP):
                        a_, b_ = med(F.l3_added_ttft(c, "moongate")), med(F.l3_added_ttft(c, n))
                        parts.append(f"moongate/{n} {fmt_ratio(ratio(a_, b_))}")
                if parts:
                    lines.append(f"added TTFT p99 at c={c}: " + ", ".join(parts))
        start = bench.results.get("startup_rss_kib", {})
        if start:
            lines.append("RSS at start: " + ", ".join(f"{n} {v / 1024:.1f} MiB" for n, v in start.items()))

        def target(ok, text):
            checks.append((ok, text))

        if 1 not in L:
            pass
        elif has("nginx"):
            r = ratio(rps["moongate"], rps["nginx"])
            target(r is not None and r >= 0.9, f"throughput >= 0.9x nginx: {fmt_ratio(r)}")
        else:
            target(None, "throughput >= 0.9x nginx: nginx not measured")
        if 1 not in L:
            pass
        elif has("portkey"):
            r = ratio(rps["moongate"], rps["portkey"])
            target(r is not None and r >= 20, f"throughput >= 20x Portkey: {fmt_ratio(r, 1)}")
        else:
            target(None, f"throughput >= 20x Portkey: {bench.targets.get('portkey').skipped if bench.targets.get('portkey') else 'not measured'}")
        if 2 in L and has("nginx"):
            a, b = add["moongate"], add["nginx"]
            r = ratio(a, b)
            if r is None:
                ok = a is not None and b is not None and a <= b
                target(ok, f"added p50 at c=1 <= 1.2x nginx's: moongate {fmt_signed(a, 3)} ms, nginx "
                           f"{fmt_signed(b, 3)} ms (nginx's added latency is not positive: no ratio)")
            else:
                target(r <= 1.2, f"added p50 at c=1 <= 1.2x nginx's: {fmt_ratio(r)} "
                                 f"({fmt_signed(a, 3)} ms vs {fmt_signed(b, 3)} ms)")
        sse_ran = any(R["lane3"] for R in F.rounds)
        if 3 not in L:
            pass
        elif sse_ran:
            top = max(F.conc)
            st = [v for v in F.l3(top, "moongate", lambda x: x["stalled"]) if v is not None]
            fl = [v for v in F.l3(top, "moongate", lambda x: x["failed"]) if v is not None]
            target(bool(st) and max(st) == 0 and max(fl) == 0,
                   f"streams at {top}: zero stalled, zero failed (every round): stalled {st}, failed {fl}")
            for c in F.conc:
                v = med(F.l3_added_ttft(c, "moongate"))
                target(v is not None and v < 1.0, f"added TTFT p99 < 1 ms at c={c}: {fmt_signed(v, 3)} ms")
            mc = bench.a.mem_conc
            ps = med(F.l4("moongate", "per_stream_kib"))
            target(ps is not None and ps < 32.0, f"memory < 32 KB per open stream at {mc}: {fmt_num(ps, 1)} KiB")
            av = med(F.l4("moongate", "after_vs_idle"))
            target(av is not None and av <= 0.10,
                   f"RSS after the streams within 10% of idle: {fmt_signed(None if av is None else av * 100, 1)}%")
        else:
            target(False, "streams / memory targets: not measured (sseload missing)")
        if 5 in L:
            fr = [v for v in F.l5("moongate", "failed") if v is not None]
            rl = [v for v in F.l5("moongate", "reloads") if v is not None]
            target(bool(fr) and max(fr) == 0 and bool(rl) and min(rl) > 0,
                   f"zero failed requests across reloads: failed {fr}, reloads {rl}")
        if 6 in L and any(R.get("lane6") for R in F.rounds):
            cpu = lambda x: x["cpu_us_per_event"]
            pe, xe = med(F.l6("pass", cpu)), med(F.l6("xlate", cpu))
            r = med(F.l6_ratio(cpu))
            d = med(F.l6_added(cpu))
            ps = med(F.l6("pass", lambda x: x["cpu_us_per_stream"]))
            xs = med(F.l6("xlate", lambda x: x["cpu_us_per_stream"]))
            ev = med(F.l6("xlate", lambda x: x["events"] / x["streams"]))
            idle = med(F.per_round(lambda R: R["lane6"]["idle_cpu_ms_per_s"]))
            lines.append(f"translation, gateway CPU per delivered event translated/passthrough: {fmt_ratio(r)} "
                         f"({fmt_num(xe, 2)} vs {fmt_num(pe, 2)} us/event, {fmt_signed(d, 2)} us; per stream of "
                         f"{fmt_num(ev, 0)} events {fmt_num(None if xs is None else xs / 1000, 2)} vs "
                         f"{fmt_num(None if ps is None else ps / 1000, 2)} ms; net of moongate's idle CPU, "
                         f"{fmt_num(idle, 1)} ms/s)")
            fl = {k: [v for v in F.l6(k, lambda x: x["failed"]) if v is not None] for k in ("pass", "xlate")}
            st = {k: [v for v in F.l6(k, lambda x: x["stalled"]) if v is not None] for k in ("pass", "xlate")}
            tt = med(F.l6_added(lambda x: x["ttfe_ms"]["p99"]))
            target(INFO, f"translation (no target): gateway CPU per event translated/passthrough {fmt_ratio(r)} "
                         f"({fmt_num(xe, 2)} vs {fmt_num(pe, 2)} us); TTFT p99 {fmt_signed(tt, 2)} ms; "
                         f"failed {fl['xlate']} vs {fl['pass']}, stalled {st['xlate']} vs {st['pass']}")
        elif 6 in L:
            target(INFO, "translation (no target): not measured")
    return lines, checks


def mark(ok):
    return "INFO" if ok is INFO else ("SKIP" if ok is None else ("PASS" if ok else "FAIL"))


# --------------------------------------------------------------------------- chart

def svg_chart(F, bench):
    names = F.names
    W, H = 1080, 452
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">',
             f'<rect width="{W}" height="{H}" fill="#ffffff"/>']
    esc = lambda s: str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def text(x, y, s, anchor="middle", size=11, weight="normal", fill="#222", rotate=None):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
                     f'font-weight="{weight}" fill="{fill}"{tr}>{esc(s)}</text>')

    def panel(x0, title, ylabel, groups, series, values, log_scale, fmtv, xlabel=None):
        """groups: x labels; series: target names; values[(g, s)] -> float | str | None"""
        pw, top, bottom = (W - 80) / 3 - 20, 60, H - 82
        left = x0 + 50
        width = pw - 50
        text(x0 + pw / 2, 30, title, size=13, weight="bold")
        nums = [v for v in values.values() if isinstance(v, (int, float))]
        if log_scale:
            lo = 0.01
            hi = max([lo * 10] + [v for v in nums if v > 0])
            lmin, lmax = math.log10(lo), math.ceil(math.log10(hi) + 1e-9)
            ypos = lambda v: bottom - (math.log10(max(v, lo)) - lmin) / (lmax - lmin) * (bottom - top)
            ticks = [10 ** e for e in range(int(lmin), int(lmax) + 1)]
        else:
            hi = max(nums) if nums else 1.0
            step = nice_step(hi / 5) if hi > 0 else 1.0
            hi = step * math.ceil(hi / step) if hi > 0 else 1.0
            ypos = lambda v: bottom - max(v, 0) / hi * (bottom - top)
            ticks = [step * i for i in range(int(round(hi / step)) + 1)]
        for tv in ticks:
            y = ypos(tv)
            parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{left + width:.1f}" y2="{y:.1f}" '
                         f'stroke="#e4e4e4"/>')
            text(left - 4, y + 4, fmt_tick(tv), anchor="end", size=10, fill="#555")
        parts.append(f'<line x1="{left:.1f}" y1="{bottom}" x2="{left + width:.1f}" y2="{bottom}" stroke="#888"/>')
        text(x0 + 10, (top + bottom) / 2, ylabel, size=10, fill="#555", rotate=-90)
        if xlabel:
            text(left + width / 2, bottom + 32, xlabel, size=10, fill="#555")
        gw = width / max(len(groups), 1)
        bw = min(34.0, (gw - 10) / max(len(series), 1))
        vsize = 9 if bw >= 20 else 8
        for gi, g in enumerate(groups):
            gx = left + gi * gw + (gw - bw * len(series)) / 2
            text(left + gi * gw + gw / 2, bottom + 16, g, size=11)
            for si, s in enumerate(series):
                v = values.get((g, s))
                x = gx + si * bw
                if isinstance(v, (int, float)):
                    y = ypos(v)
                    parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" '
                                 f'height="{max(bottom - y, 0.5):.1f}" fill="{COLOR[s]}"/>')
                    text(x + bw / 2, y - 4, fmtv(v), size=vsize, fill="#333")
                elif isinstance(v, str):
                    text(x + bw / 2, bottom - 6, v, size=9, fill="#999", rotate=-90, anchor="start")

    # lane 1
    vals1 = {("", n): med(F.l1(n, "rps")) for n in names}
    panel(30, "1. non-stream throughput (req/s, 64 conns)", "requests/s", [""], names, vals1, False,
          lambda v: f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}")
    sse_ran = any(R["lane3"] for R in F.rounds)
    groups = [str(c) for c in F.conc]
    gws = [n for n in names if n != "direct"]
    vals3, vals3g = {}, {}
    if sse_ran:
        for c in F.conc:
            for n in names:
                if n == "portkey" and c > PORTKEY_CAP:
                    vals3[(str(c), n)] = vals3g[(str(c), n)] = "skipped"
                    continue
                if n != "direct":
                    vals3[(str(c), n)] = med(F.l3_added_ttft(c, n))
                vals3g[(str(c), n)] = med(F.l3(c, n, lambda x: x["gap_err_ms"]["p99"]))
    pw = (W - 80) / 3
    short = lambda v: f"{v:.2f}" if v < 1 else (f"{v:.1f}" if v < 10 else (f"{v:.0f}" if v < 1000
                                                                          else f"{v / 1000:.1f}k"))
    panel(30 + pw + 10, "3. added TTFT p99 (ms)", "ms, log scale", groups, gws, vals3, True, short,
          xlabel="concurrent streams")
    panel(30 + 2 * (pw + 10), "3. event gap error p99 (ms)", "ms, log scale", groups, names, vals3g, True,
          short, xlabel="concurrent streams")
    # legend
    lx = 60
    for n in names:
        parts.append(f'<rect x="{lx}" y="{H - 36}" width="12" height="12" fill="{COLOR[n]}"/>')
        text(lx + 16, H - 26, LABEL[n], anchor="start", size=11)
        lx += 30 + 8 * len(LABEL[n])
    text(W - 20, H - 8, f"{bench.head}; medians; streams of "
                         f"{bench.a.paced_events} events {bench.a.paced_ms} ms apart; under 0.01 ms drawn at 0.01",
         anchor="end", size=10, fill="#666")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def nice_step(x):
    if x <= 0:
        return 1.0
    e = math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** e >= x:
            return m * 10 ** e
    return 10 ** (e + 1)


def fmt_tick(v):
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


# --------------------------------------------------------------------------- report

def git_info():
    def g(*a):
        return subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True).stdout.strip()
    commit = g("rev-parse", "--short", "HEAD") or "unknown"
    dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--"], capture_output=True).returncode
    return commit + ("+dirty" if dirty else "")


def report(bench, elapsed, complete=True):
    a = bench.a
    F = Figures(bench)
    rows = build_table(F, bench)
    table = render_table(rows)
    ratio_lines, checks = verdicts(F, bench)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"{stamp} · commit {git_info()} · nproc {os.cpu_count()} · {a.rounds} round(s)"
            f"{' · SMOKE' if a.smoke else ''}{' · lanes ' + ','.join(map(str, a.lanes)) if a.partial else ''}")
    vers = [f"{n}: {bench.targets[n].version}" for n in ("moongate", "nginx", "portkey")
            if n in bench.targets and bench.targets[n].version]
    wv = subprocess.run([a.wrk_bin, "-v"], capture_output=True, text=True)
    wv = (wv.stdout + wv.stderr).strip().splitlines()
    nv = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() if shutil.which("node") else ""
    vers.append(f"wrk: {wv[0].split(' [')[0] if wv else '?'}")
    if nv:
        vers.append(f"node: {nv}")
    setup = (f"loopback only; one mock provider for all; wrk {a.duration1} s (lane 1, 2 threads, 64 conns), "
             f"{a.duration2} s (lane 2, 1 conn), {a.duration5} s (lane 5); sseload streams of "
             f"{a.paced_events} events {a.paced_ms} ms apart (lane 6: moongate only, {a.xl_conc} at once, "
             f"{a.xl_streams} in all, passthrough and translated interleaved, gateway CPU from its threads' "
             f"schedstat run time); load average at start {bench.loadavg}; "
             f"run took {elapsed:.0f} s")
    print()
    print(f"## {head}")
    print()
    print(table)
    print()
    print("Ratios (medians):")
    for ln in ratio_lines:
        print(f"  {ln}")
    print()
    for ok, text in checks:
        print(f"{mark(ok)} {text}")
    for n in bench.notes:
        print(f"note: {n}")
    print()
    bench.head = head
    chart = svg_chart(F, bench)
    md = [f"## {head}", "", f"Setup: {setup}.  ", "Versions: " + "; ".join(vers) + ".", "",
          "Each cell: median of the rounds, then each round's figure in brackets. Added figures are the "
          "target's minus the direct (floor) figure of the same round.", "", table, "",
          "Ratios (medians):", ""] + [f"- {ln}" for ln in ratio_lines] + ["", "Targets:", ""]
    md += [f"- {mark(ok)} {t}" for ok, t in checks]
    if bench.notes:
        md += ["", "Notes:", ""] + [f"- {n}" for n in bench.notes]
    md += ["", "Chart (lane 1 and lane 3 of the newest run): [chart.svg](chart.svg)", ""]
    section = "\n".join(md) + "\n"
    results_path = a.results
    chart_path = a.chart
    if a.smoke or not complete or a.partial:     # smoke, broken and some-lanes runs never touch the tree
        results_path = os.path.join(a.out, "RESULTS.md")
        chart_path = os.path.join(a.out, "chart.svg")
    with open(chart_path, "w") as f:
        f.write(chart)
    if chart_path != os.path.join(a.out, "chart.svg"):
        shutil.copyfile(chart_path, os.path.join(a.out, "chart.svg"))
    prepend_results(results_path, section)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"head": head, "results": bench.results, "notes": bench.notes}, f, indent=1, default=str)
    print(f"results: {results_path}; chart: {chart_path}; raw figures and logs: {a.out}")
    return checks


RESULTS_HEADER = """# moongate bench results

Written by `bench/run.sh` (bench/bench.py), newest run first. Loopback only, one machine:
the load generators (wrk, sseload), the mock provider and the target share the cores, so
compare rows of the same run, not runs of different machines. Targets: `direct` is the mock
itself (the floor), `moongate` runs bench/moongate.lua (stock policy, access log to a file),
`nginx` is proxy_pass with keep-alive upstreams and no buffering (bench/nginx.conf.in),
`portkey` is the pinned @portkey-ai/gateway (bench/portkey).

"""


def prepend_results(path, section):
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    i = old.find("\n## ")
    older = old[i + 1:] if i >= 0 else ""
    with open(path + ".tmp", "w") as f:
        f.write(RESULTS_HEADER + section + ("\n" + older if older else ""))
    os.replace(path + ".tmp", path)


# --------------------------------------------------------------------------- main

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_args(argv):
    p = argparse.ArgumentParser(description="moongate side by side with the mock, nginx and Portkey")
    p.add_argument("--smoke", action="store_true", help="a few seconds per lane, small concurrency, 1 round")
    p.add_argument("--rounds", type=int)
    p.add_argument("--targets", default=",".join(TARGETS), help="comma list out of " + ",".join(TARGETS))
    p.add_argument("--skip-portkey", action="store_true")
    p.add_argument("--out", help="run directory (default bench/out/TIMESTAMP, a temp dir with --smoke)")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--chart", default=os.path.join(HERE, "chart.svg"))
    p.add_argument("--moongate-bin", default=os.path.join(ROOT, "build", "rel", "moongate"))
    p.add_argument("--mock-bin", default=os.path.join(ROOT, "build", "rel", "moongate-mock"))
    p.add_argument("--sseload-bin", default=os.path.join(ROOT, "build", "rel", "sseload"))
    p.add_argument("--wrk-bin", default=shutil.which("wrk") or "wrk")
    p.add_argument("--keep", action="store_true", help="keep the smoke run's directory")
    p.add_argument("--lanes", default=",".join(map(str, ALL_LANES)),
                   help="comma list of lanes to run (default all; 3 and 4 run together; a run of some "
                        "lanes only writes into its run directory, never bench/RESULTS.md)")
    a = p.parse_args(argv)
    a.targets = [t for t in a.targets.split(",") if t]
    for t in a.targets:
        if t not in TARGETS:
            p.error(f"unknown target {t}")
    try:
        a.lanes = sorted({int(x) for x in a.lanes.split(",") if x.strip()})
    except ValueError:
        p.error(f"--lanes: a comma list out of {ALL_LANES}")
    if not a.lanes or any(x not in ALL_LANES for x in a.lanes):
        p.error(f"--lanes: a comma list out of {ALL_LANES}")
    if 3 in a.lanes or 4 in a.lanes:        # one run measures both
        a.lanes = sorted(set(a.lanes) | {3, 4})
    a.partial = tuple(a.lanes) != ALL_LANES
    if a.lanes == [6]:                      # lane 6 measures moongate alone
        a.targets = [t for t in a.targets if t in ("direct", "moongate")]
    if "direct" not in a.targets:
        a.targets.insert(0, "direct")   # the floor every added figure needs
    if a.smoke:
        a.rounds = a.rounds or 1
        a.duration1, a.duration2, a.duration5, a.warmup = 1, 1, 3, 0
        a.paced_ms, a.paced_events = 10, 16
        a.conc = [1, 32]
        a.streams = {1: 2, 32: 32}
        a.sse_timeout = 20
        a.after_wait = 0.5
        a.xl_conc, a.xl_streams, a.xl_idle_s = 16, 32, 0.5
    else:
        a.rounds = a.rounds or 3
        a.duration1, a.duration2, a.duration5, a.warmup = 5, 5, 5, 2
        a.paced_ms, a.paced_events = 20, 64
        a.conc = [1, 64, 512, 4096]
        a.streams = {1: 4, 64: 128, 512: 512, 4096: 4096}
        a.sse_timeout = 60
        a.after_wait = 1.0
        a.xl_conc, a.xl_streams, a.xl_idle_s = 256, 512, 1.0
    a.mem_conc = max(a.conc)
    a.paced_spec = f"pace_ms={a.paced_ms},events={a.paced_events}"
    return a


def main(argv):
    a = parse_args(argv)
    t0 = time.monotonic()
    tmp_out = False
    if not a.out:
        if a.smoke:
            a.out = tempfile.mkdtemp(prefix="moongate-bench-smoke-")
            tmp_out = True
        else:
            a.out = os.path.join(HERE, "out", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(a.out, exist_ok=True)
    nofile = raise_nofile()
    for b in (a.moongate_bin, a.mock_bin):
        if not os.access(b, os.X_OK):
            print(f"bench: {b} missing: run `make` first (bench/run.sh does)", file=sys.stderr)
            return finish(a, False, tmp_out)
    if not shutil.which(a.wrk_bin) and not os.access(a.wrk_bin, os.X_OK):
        print("bench: wrk missing (bench/run.sh installs it)", file=sys.stderr)
        return finish(a, False, tmp_out)
    if nofile < 2 * a.mem_conc + 1024:
        print(f"bench: open files limit {nofile} is too low for {a.mem_conc} streams", file=sys.stderr)
        return finish(a, False, tmp_out)
    bench = Bench(a)
    bench.loadavg = " ".join(open("/proc/loadavg").read().split()[:3])
    log(f"{'smoke' if a.smoke else 'full'} run, {a.rounds} round(s), lanes {','.join(map(str, a.lanes))}, "
        f"targets {','.join(a.targets)}, "
        f"out {a.out}, nofile {nofile}")

    def on_signal(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    ok = True
    try:
        bench.run()
    except HarnessError as e:
        log(f"HARNESS ERROR: {e}")
        ok = False
    except KeyboardInterrupt:
        log("interrupted")
        ok = False
    finally:
        bench.procs.stop_all()
        trim_log(os.path.join(a.out, "moongate.log"))
    if ok or bench.results["rounds"]:
        try:
            report(bench, time.monotonic() - t0, complete=ok)
        except Exception as e:  # a report that cannot be built is a harness failure
            import traceback
            traceback.print_exc()
            log(f"HARNESS ERROR while reporting: {e}")
            ok = False
    for b in bench.broken:
        log(f"HARNESS: {b}")
    ok = ok and not bench.broken
    log(f"done in {time.monotonic() - t0:.0f} s")
    return finish(a, ok, tmp_out)


def trim_log(path, keep=2000):
    """The access log of a full run is hundreds of MB: keep its line count and tail."""
    try:
        n, tail = 0, []
        with open(path, "rb") as f:
            for line in f:
                n += 1
                tail.append(line)
                if len(tail) > keep:
                    del tail[:keep // 2]
        with open(path, "wb") as f:
            f.write(f"(bench: {n} lines, the last {min(keep, len(tail))} kept)\n".encode())
            f.writelines(tail[-keep:])
    except OSError:
        pass


def finish(a, ok, tmp_out):
    if a.smoke:
        print(f"bench smoke: {1 if ok else 0} passed, {0 if ok else 1} failed")
        if tmp_out and ok and not a.keep:
            shutil.rmtree(a.out, ignore_errors=True)
        elif tmp_out:
            print(f"bench: smoke run directory kept: {a.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
