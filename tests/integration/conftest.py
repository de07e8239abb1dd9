"""Harness for moongate's integration specs.

Drives the real binaries on loopback only:
  MOONGATE_BIN  the gateway    (default build/rel/moongate)
  MOCK_BIN      the mock provider (default build/rel/moongate-mock)

Stdlib only (http.client, raw sockets). Every test is bounded in time by
socket timeouts plus a SIGALRM watchdog (see `_watchdog`).
"""
import http.client
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MOONGATE_BIN = os.path.abspath(os.path.join(REPO, os.environ.get("MOONGATE_BIN", "build/rel/moongate")))
MOCK_BIN = os.path.abspath(os.path.join(REPO, os.environ.get("MOCK_BIN", "build/rel/moongate-mock")))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
DEFAULT_TEST_TIMEOUT = 60.0
HOST = "127.0.0.1"


# --------------------------------------------------------------------------
# pytest plumbing
# --------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "limit(seconds): watchdog for one test (default 60 s)")


class TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _watchdog(request):
    """Abort a test that runs too long (pytest-timeout is not a dependency)."""
    m = request.node.get_closest_marker("limit")
    limit = float(m.args[0]) if m else DEFAULT_TEST_TIMEOUT
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise TestTimeout("test exceeded its %.0f s limit" % limit)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A loopback port nobody listens on (connection refused)."""
    return free_port()


def wait_for(pred, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def mock_text(model):
    """The mock's deterministic chat reply."""
    return "Hello from the mock provider, model %s." % model


def mock_words(model):
    return mock_text(model).split(" ")


def mock_stream_text(model, events=None):
    """What the content deltas of a mock stream concatenate to: one word per
    event, cycling through the sentence, words joined by single spaces."""
    words = mock_words(model)
    if events is None:
        events = len(words)
    return " ".join(words[i % len(words)] for i in range(events))


def sanitizer_findings(text):
    return [m for m in SANITIZER_MARKERS if m in text]


# --------------------------------------------------------------------------
# Lua generation
# --------------------------------------------------------------------------

class Lua(str):
    """A raw Lua expression, inserted verbatim by to_lua()."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LUA_KEYWORDS = set("and break do else elseif end false for function goto if in local nil not or "
                    "repeat return then true until while".split())


def lua_string(s):
    """A Lua quoted string; UTF-8 bytes pass through, control bytes as \\ddd."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif o < 32 or o == 127:
            out.append("\\%03d" % o)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def to_lua(v, indent=0):
    pad = "  " * (indent + 1)
    if isinstance(v, Lua):
        return str(v)
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return lua_string(v)
    if isinstance(v, dict):
        if not v:
            return "{}"
        parts = []
        for k, x in v.items():
            if isinstance(k, str) and _IDENT.match(k) and k not in _LUA_KEYWORDS:
                key = k
            else:
                key = "[%s]" % to_lua(k)
            parts.append("%s%s = %s" % (pad, key, to_lua(x, indent + 1)))
        return "{\n" + ",\n".join(parts) + "\n" + "  " * indent + "}"
    if isinstance(v, (list, tuple)):
        if not v:
            return "{}"
        return "{ " + ", ".join(to_lua(x, indent + 1) for x in v) + " }"
    raise TypeError("cannot express %r in Lua" % (v,))


def provider(base_url, models=("mock-small", "mock-large"), api_key="k", **extra):
    p = {"kind": "openai", "base_url": base_url, "api_key": api_key, "models": list(models)}
    p.update(extra)
    return p


# --------------------------------------------------------------------------
# HTTP client helpers (http.client)
# --------------------------------------------------------------------------

class Resp:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.header_list = headers            # [(name, value)] as received
        self.headers = {}                     # lower-case name -> first value
        for k, v in headers:
            self.headers.setdefault(k.lower(), v)
        self.body = body
        self.elapsed = elapsed

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def raw(self):
        """Headers and body as one text (for leak greps)."""
        head = "".join("%s: %s\r\n" % kv for kv in self.header_list)
        return head + "\r\n" + self.text

    def __repr__(self):
        return "<Resp %d %r>" % (self.status, self.body[:300])


def encode_body(body):
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def http_request(port, method, path, body=None, headers=None, timeout=10.0):
    data = encode_body(body)
    hdrs = {}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        return Resp(r.status, r.reason, r.getheaders(), payload, time.monotonic() - t0)
    finally:
        conn.close()


def assert_openai_error(resp, status=None):
    """The OpenAI error envelope: {"error":{"message","type","param","code"}}."""
    if status is not None:
        assert resp.status == status, resp
    ct = resp.header("content-type") or ""
    assert "application/json" in ct, "error reply is not JSON (content-type %r): %r" % (ct, resp)
    doc = resp.json()
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), doc
    err = doc["error"]
    assert isinstance(err.get("message"), str) and err["message"], doc
    assert "type" in err, doc
    return err


# --------------------------------------------------------------------------
# Chunked + SSE decoding over a raw socket
# --------------------------------------------------------------------------

def decode_chunked(raw):
    """Decodes a complete chunked body. Returns (payload, finished)."""
    d = ChunkedDecoder()
    out = d.feed(raw)
    return out, d.finished


class ChunkedDecoder:
    """Incremental chunked-transfer decoder (linear time: no re-copying)."""

    def __init__(self):
        self.buf = b""
        self.state = "size"     # size | data | crlf | trailer | done
        self.left = 0
        self.finished = False

    def feed(self, data):
        buf = self.buf + data if self.buf else data
        pos = 0
        n = len(buf)
        out = []
        while pos < n or self.state == "done":
            if self.state == "size":
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    break
                line = buf[pos:i].split(b";")[0].strip()
                pos = i + 2
                self.left = int(line, 16)
                self.state = "data" if self.left else "trailer"
            elif self.state == "data":
                take = min(self.left, n - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self.left -= take
                if self.left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if n - pos < 2:
                    break
                assert buf[pos:pos + 2] == b"\r\n", "bad chunk terminator %r" % buf[pos:pos + 10]
                pos += 2
                self.state = "size"
            elif self.state == "trailer":
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    break
                line = buf[pos:i]
                pos = i + 2
                if line == b"":
                    self.state = "done"
                    self.finished = True
            else:
                break
        self.buf = buf[pos:]
        return b"".join(out)


class Event:
    __slots__ = ("data", "event", "t", "_json")

    def __init__(self, data, event, t):
        self.data = data
        self.event = event
        self.t = t
        self._json = None

    @property
    def is_done(self):
        return self.data == "[DONE]"

    def json(self):
        if self.is_done:
            return None
        if self._json is None:
            self._json = json.loads(self.data)
        return self._json

    def __repr__(self):
        return "<Event %.3f %r>" % (self.t, self.data[:120])


class SSEParser:
    """Incremental SSE parser (LF, CRLF and CR line ends), linear time."""

    _EOL = re.compile(rb"\r\n|\n|\r")

    def __init__(self):
        self.pending = b""
        self.data = []
        self.event = ""
        self.comments = 0

    def flush(self, t):
        """The stream ended: a held-back CR is a line end after all."""
        return self.feed(b"", t, final=True)

    def feed(self, chunk, t, final=False):
        buf = self.pending + chunk
        hold = b""
        if buf.endswith(b"\r") and not final:   # maybe the first half of a CRLF
            buf, hold = buf[:-1], b"\r"
        lines = self._EOL.split(buf)
        self.pending = lines.pop() + hold
        events = []
        for line in lines:
            if not line:
                if self.data:
                    events.append(Event("\n".join(self.data), self.event, t))
                self.data = []
                self.event = ""
                continue
            if line[:1] == b":":
                self.comments += 1
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self.data.append(value.decode("utf-8"))
            elif name == b"event":
                self.event = value.decode("utf-8")
        return events


class SSEClient:
    """A streaming HTTP client over a raw socket that timestamps each SSE event
    with time.monotonic() at the moment its bytes were received."""

    def __init__(self, port, path="/v1/chat/completions", body=None, headers=None,
                 method="POST", timeout=10.0, rcvbuf=None):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.t_start = time.monotonic()
        self.sock.connect((HOST, port))
        data = encode_body(body) or b""
        hdrs = [("Host", "%s:%d" % (HOST, port)), ("Accept", "text/event-stream")]
        if body is not None:
            hdrs += [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        for k, v in (headers or {}).items():
            hdrs.append((k, v))
        req = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
        self.sock.sendall(req.encode("latin-1") + data)
        self.buf = b""
        self.status = None
        self.reason = None
        self.header_list = []
        self.headers = {}
        self.events = []
        self._body = bytearray()      # decoded (de-chunked) body bytes
        self.finished = False         # the reply ended properly (last chunk / length reached)
        self.eof = False              # the server closed the connection
        self._chunked = None
        self._length = None
        self._parser = SSEParser()
        self._read_head()

    # -- low level --
    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(min(remaining, self.timeout))
        try:
            d = self.sock.recv(262144)
        except ConnectionResetError:
            d = b""
        t = time.monotonic()
        if not d:
            self.eof = True
            if self.status == 200:
                self.events.extend(self._parser.flush(t))
        return d, t

    def _read_head(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            d, _ = self._recv(deadline)
            if not d:
                raise AssertionError("connection closed before response headers: %r" % self.buf)
            self.buf += d
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.header_list.append((k.strip(), v.strip()))
            self.headers.setdefault(k.strip().lower(), v.strip())
        self.t_head = time.monotonic()
        te = self.headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            self._chunked = ChunkedDecoder()
        elif "content-length" in self.headers:
            self._length = int(self.headers["content-length"])
        self.buf = b""
        if rest:
            self._feed(rest, self.t_head)
        if self._length == 0:
            self.finished = True

    def _feed(self, data, t):
        if self._chunked is not None:
            data = self._chunked.feed(data)
            if self._chunked.finished:
                self.finished = True
        elif self._length is not None:
            data = data[: self._length - len(self._body)]
            if len(self._body) + len(data) >= self._length:
                self.finished = True
        self._body += data
        evs = []
        if self.status == 200:
            if data:
                evs = self._parser.feed(data, t)
            if self.finished:
                evs += self._parser.flush(t)
            self.events.extend(evs)
        return evs

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def raw_body(self):
        return bytes(self._body)

    # -- reading --
    def next_event(self, timeout=None):
        """Returns the next event, or None when the reply ended."""
        idx = getattr(self, "_idx", 0)
        deadline = time.monotonic() + (timeout or self.timeout)
        while idx >= len(self.events):
            if self.finished or self.eof:
                return None
            d, t = self._recv(deadline)
            if d:
                self._feed(d, t)
        self._idx = idx + 1
        return self.events[idx]

    def read_all(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not (self.finished or self.eof):
            d, t = self._recv(deadline)
            if d:
                self._feed(d, t)
        return self.events

    def body_json(self):
        return json.loads(self.raw_body)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def raw(self):
        head = "".join("%s: %s\r\n" % kv for kv in self.header_list)
        return head + "\r\n" + self.raw_body.decode("utf-8", "replace")

    # -- helpers on the events --
    @property
    def data_events(self):
        return [e for e in self.events if not e.is_done]

    @property
    def saw_done(self):
        return any(e.is_done for e in self.events)

    def chunks(self):
        return [e.json() for e in self.data_events]


def content_events(events):
    """Events carrying delta content (non-empty)."""
    out = []
    for e in events:
        if e.is_done:
            continue
        j = e.json()
        for c in j.get("choices") or []:
            if (c.get("delta") or {}).get("content"):
                out.append(e)
                break
    return out


def stream_text(events):
    parts = []
    for e in events:
        if e.is_done:
            continue
        for c in e.json().get("choices") or []:
            s = (c.get("delta") or {}).get("content")
            if s:
                parts.append(s)
    return "".join(parts)


def stream_tool_calls(events):
    """Concatenates streamed tool-call deltas: {index: {"name":..., "arguments":...}}."""
    calls = {}
    for e in events:
        if e.is_done:
            continue
        for c in e.json().get("choices") or []:
            for tc in (c.get("delta") or {}).get("tool_calls") or []:
                slot = calls.setdefault(tc.get("index", 0), {"name": "", "arguments": "", "id": None})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["name"] += fn["name"]
                if fn.get("arguments"):
                    slot["arguments"] += fn["arguments"]
    return calls


def error_events(events):
    return [e for e in events if not e.is_done and isinstance(e.json(), dict) and "error" in e.json()]


def usage_events(events):
    return [e for e in events if not e.is_done and e.json().get("usage")]


# --------------------------------------------------------------------------
# The mock provider
# --------------------------------------------------------------------------

def _wait_for_binary(path, timeout=0.0):
    deadline = time.monotonic() + timeout
    while not os.access(path, os.X_OK):
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)
    return True


class Mock:
    _counter = itertools.count(1)

    def __init__(self, tmpdir):
        if not _wait_for_binary(MOCK_BIN, float(os.environ.get("MOONGATE_WAIT_BIN", "0"))):
            pytest.fail("mock binary %s is missing (build it: make)" % MOCK_BIN, pytrace=False)
        self.stderr_path = os.path.join(tmpdir, "mock.stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([MOCK_BIN, "-p", "0"], stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL, cwd=REPO)
        self.port = None
        deadline = time.monotonic() + 10
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                c = os.read(self.proc.stdout.fileno(), 1)
                if not c:
                    break
                line += c
                m = re.search(rb"port=(\d+)", line)
                if m and (c == b"\n"):
                    self.port = int(m.group(1))
                    break
            elif self.proc.poll() is not None:
                break
        if not self.port:
            self.proc.kill()
            pytest.fail("mock did not print port=N (stdout %r, stderr %r)" % (line, self.stderr_text()),
                        pytrace=False)
        # drain stdout in the background so the mock never blocks on it
        threading.Thread(target=self._drain, daemon=True).start()
        wait_for(self._alive, 10, what="mock /_mock/stats")
        # Does the mock ignore unknown fault keys (so tag=<test> can make specs unique)?
        probe = http_request(self.port, "POST", "/f/tag=probe/v1/chat/completions",
                             body={"model": "mock-small", "messages": [{"role": "user", "content": "x"}]},
                             timeout=5)
        self.accepts_tag = probe.status == 200
        self.tag_probe = probe

    def _drain(self):
        try:
            while self.proc.stdout.read(4096):
                pass
        except (OSError, ValueError):
            pass

    def _alive(self):
        try:
            return http_request(self.port, "GET", "/_mock/stats", timeout=1).status == 200
        except OSError:
            return False

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self, **spec):
        """Base URL (ending in /v1) with a fault spec; no spec: the plain /v1."""
        if not spec:
            return "http://%s:%d/v1" % (HOST, self.port)
        s = ",".join("%s=%s" % (k, v) for k, v in spec.items())
        return "http://%s:%d/f/%s/v1" % (HOST, self.port, s)

    def stats(self):
        r = http_request(self.port, "GET", "/_mock/stats", timeout=5)
        assert r.status == 200, r
        return r.json()

    def last(self):
        r = http_request(self.port, "GET", "/_mock/last", timeout=5)
        assert r.status == 200, r
        return r.json()

    def post(self, base_url, path, body, headers=None, timeout=10):
        """A request straight to the mock (bypassing the gateway)."""
        prefix = base_url.split("://", 1)[1].split("/", 1)[1]
        return http_request(self.port, "POST", "/" + prefix + path, body=body, headers=headers,
                            timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()


@pytest.fixture(scope="session")
def mock(tmp_path_factory):
    m = Mock(str(tmp_path_factory.mktemp("mock")))
    yield m
    m.stop()
    found = sanitizer_findings(m.stderr_text())
    if found:
        pytest.fail("mock provider reported %s:\n%s" % (found, m.stderr_text()[-4000:]), pytrace=False)


class Faults:
    """Unique fault URLs for one test: every spec gets tag=<test><n> so
    fail_first counters never collide between tests."""

    def __init__(self, mock, name):
        self.mock = mock
        self.name = re.sub(r"[^A-Za-z0-9]", "", name)[-40:]
        self.n = itertools.count(1)

    def url(self, **spec):
        spec = dict(spec)
        n = next(Mock._counter)
        if self.mock.accepts_tag:
            spec.setdefault("tag", "%s%d_%d" % (self.name, next(self.n), n))
        elif "first_byte_ms" not in spec:
            # the mock rejects unknown keys: make the spec unique with a tiny,
            # distinct first-byte delay instead (n ms)
            spec["first_byte_ms"] = n
        return self.mock.url(**spec)

    __call__ = url


@pytest.fixture
def faults(mock, request):
    return Faults(mock, request.node.name)


# --------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------

class Gateway:
    def __init__(self, tmpdir, config, policy=None, extra_env=None):
        self.dir = tmpdir
        os.makedirs(tmpdir, exist_ok=True)
        self.port = free_port()
        self.cfg_path = os.path.join(tmpdir, "moongate.lua")
        self.policy_path = os.path.join(tmpdir, "policy.lua")
        self.stderr_path = os.path.join(tmpdir, "gateway.stderr")
        self.stdout_path = os.path.join(tmpdir, "gateway.stdout")
        self.proc = None
        self.extra_env = extra_env or {}
        if policy is not None:
            self.write_policy(policy)
        self.write_config(config, policy is not None)

    # -- files --
    def write_policy(self, text):
        tmp = self.policy_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.policy_path)

    def write_config(self, config, with_policy=None):
        if with_policy is None:
            with_policy = os.path.exists(self.policy_path)
        if isinstance(config, dict):
            cfg = dict(config)
            cfg.setdefault("listen", "%s:%d" % (HOST, self.port))
            cfg.setdefault("workers", 2)
            cfg.setdefault("drain_timeout", 10)
            if with_policy:
                cfg.setdefault("policy", self.policy_path)
            text = "return " + to_lua(cfg) + "\n"
        else:
            text = (config.replace("@PORT@", str(self.port))
                          .replace("@POLICY@", self.policy_path))
        self.config_text = text
        tmp = self.cfg_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.cfg_path)

    # -- process --
    def start(self, timeout=10.0):
        if not os.access(MOONGATE_BIN, os.X_OK):
            pytest.fail("gateway binary %s is missing (build it: make)" % MOONGATE_BIN, pytrace=False)
        env = dict(os.environ)
        env.setdefault("MOONGATE_LUA_DIR", os.path.join(REPO, "lua"))
        env.update(self.extra_env)
        self.stderr_f = open(self.stderr_path, "ab")
        self.stdout_f = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen([MOONGATE_BIN, "-c", self.cfg_path], stdout=self.stdout_f,
                                     stderr=self.stderr_f, stdin=subprocess.DEVNULL, cwd=REPO, env=env)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail("gateway exited with %s during start-up; config:\n%s\nstderr:\n%s"
                            % (self.proc.returncode, self.config_text, self.stderr_text()[-4000:]),
                            pytrace=False)
            try:
                r = http_request(self.port, "GET", "/health", timeout=1)
                if r.status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                pytest.fail("gateway did not answer GET /health within %.0fs; stderr:\n%s"
                            % (timeout, self.stderr_text()[-4000:]), pytrace=False)
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def sigterm(self):
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=15.0):
        """SIGTERM and wait; SIGKILL if it hangs. Returns the exit status
        (negative: killed by that signal; None: had to be SIGKILLed)."""
        if self.proc is None:
            return 0
        try:
            if self.proc.poll() is None:
                self.sigterm()
                rc = self.wait_exit(timeout)
                if rc is None:
                    self.proc.kill()
                    self.proc.wait(5)
                    return None
            return self.proc.returncode
        finally:
            for f in (self.stderr_f, self.stdout_f):
                try:
                    f.close()
                except OSError:
                    pass

    # -- logs --
    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def logs(self):
        out = []
        for line in self.stderr_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def access_logs(self):
        return [l for l in self.logs() if l.get("type") == "access"]

    def events(self):
        return [l for l in self.logs() if l.get("type") == "event"]

    def access_for(self, request_id, timeout=3.0):
        def find():
            for l in self.access_logs():
                if l.get("id") == request_id:
                    return l
            return None
        return wait_for(find, timeout, what="access log line for %s" % request_id)

    def wait_log(self, pred, timeout=5.0, what="log line"):
        def find():
            for l in self.logs():
                if pred(l):
                    return l
            return None
        return wait_for(find, timeout, what=what)

    def health(self):
        r = http_request(self.port, "GET", "/health", timeout=5)
        assert r.status == 200, r
        return r.json()

    # -- requests --
    def request(self, method, path, body=None, headers=None, timeout=10.0):
        return http_request(self.port, method, path, body=body, headers=headers, timeout=timeout)

    def chat(self, body, headers=None, path="/v1/chat/completions", timeout=10.0):
        return self.request("POST", path, body=body, headers=headers, timeout=timeout)

    def stream(self, body, headers=None, path="/v1/chat/completions", timeout=10.0, rcvbuf=None):
        return SSEClient(self.port, path=path, body=body, headers=headers, timeout=timeout, rcvbuf=rcvbuf)


@pytest.fixture
def gateway(tmp_path, request):
    """gateway(config, policy=None, start=True) -> a running Gateway.

    config: a dict (turned into Lua; listen/workers/policy filled in) or Lua
    text where @PORT@ and @POLICY@ are substituted. At teardown every gateway is
    stopped and the test FAILS if it crashed, exited non-zero, hung on SIGTERM,
    or a sanitizer reported anything on stderr.
    """
    made = []
    request.node._moongate_gateways = made

    def make(config, policy=None, start=True, extra_env=None):
        gw = Gateway(str(tmp_path / ("gw%d" % len(made))), config, policy=policy, extra_env=extra_env)
        made.append(gw)
        if start:
            gw.start()
        return gw

    yield make

    # normally already done (and reported as a test failure) by pytest_runtest_call
    problems = check_gateways(made)
    if problems:
        pytest.fail(problems, pytrace=False)


def check_gateways(gateways):
    """Stops every gateway; returns a description of crashes, non-zero exits,
    hangs on SIGTERM or sanitizer reports ("" when all is well)."""
    for gw in gateways:
        if gw.proc is None or getattr(gw, "_checked", False):
            continue
        gw._checked = True
        problems = []
        already = gw.proc.poll()
        rc = gw.stop()
        text = gw.stderr_text()
        found = sanitizer_findings(text)
        if found:
            problems.append("gateway stderr has %s" % ", ".join(found))
        if rc is None:
            problems.append("gateway did not exit within 15 s of SIGTERM (killed)")
        elif rc != 0:
            problems.append("gateway exited with status %s%s" % (
                rc, " (before the test ended)" if already is not None else ""))
        if problems:
            problems.append("stderr tail:\n" + text[-6000:])
            return "\n".join(problems)
    return ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """After the test body: stop its gateways and FAIL the test (not just an
    error at teardown) if one crashed, exited non-zero or a sanitizer spoke."""
    outcome = yield
    made = getattr(item, "_moongate_gateways", None)
    if not made:
        return
    problems = check_gateways(made)
    if problems:
        if outcome.excinfo is not None:
            # keep the test's own failure; add the crash report to the output
            sys.stderr.write("\n[moongate harness] " + problems + "\n")
        else:
            pytest.fail(problems, pytrace=False)


def basic_config(mock, **extra):
    """One provider `mock` (mock-small, mock-large) on the plain mock."""
    cfg = {"providers": {"mock": provider(mock.url())}}
    cfg.update(extra)
    return cfg


def chat_body(model="mock-small", stream=False, content="Say hello", **extra):
    b = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        b["stream"] = True
    b.update(extra)
    return b
