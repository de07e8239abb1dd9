"""Shared helpers for the fault-matrix specs (test_faults_upstream.py,
test_faults_client.py): leak checks on the gateway process, raw HTTP over
sockets, and tiny misbehaving upstream servers on loopback.

Leak check (`Leaks`): after a warm-up the gateway's open file descriptors are
classified from /proc/PID/fd and /proc/PID/net/tcp{,6}:
  other     pipes, eventfds, epoll, files, unix sockets       -> exactly back
  listen    listening TCP sockets                             -> exactly back
  client    TCP sockets on the gateway's own port (clients)   -> exactly back
  upstream  other TCP sockets: libcurl's connections out      -> see below
Idle keep-alive connections to upstreams are libcurl's connection cache
(runtime/upstream.c: CURLMOPT_MAXCONNECTS 4096 per worker, kept on purpose),
not leaks: after a case at most `upstream_slack` more of them than at the
baseline may stay open (default 2, one per worker; a case that ran N upstream
transfers at once may leave up to N idle in the cache). libcurl notices that a
cached connection was closed by its peer only when it next looks at the cache,
so such a connection may sit in CLOSE_WAIT meanwhile; it counts the same. RSS must come back within `rss_mb`
(skipped under ASan, whose quarantine keeps freed memory resident).
"""
import json
import os
import socket
import threading
import time

from conftest import HOST, MOONGATE_BIN, ChunkedDecoder, chat_body, mock_text, rss_kb, wait_for

ASAN = "/san/" in MOONGATE_BIN

# /proc/net/tcp state codes
TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
              "0B": "CLOSING"}


# --------------------------------------------------------------------------
# file descriptors and memory of the gateway process
# --------------------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _tcp_table(pid):
    """inode -> (local port, remote port, state name) for the process's netns."""
    out = {}
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f)
                for line in f:
                    p = line.split()
                    lport = int(p[1].rsplit(":", 1)[1], 16)
                    rport = int(p[2].rsplit(":", 1)[1], 16)
                    out[p[9]] = (lport, rport, TCP_STATES.get(p[3], p[3]))
        except OSError:
            pass
    return out


def fd_classes(pid, gw_port):
    """{"other": n, "listen": n, "client": n, "upstream": n, "upstream_states": {...}, "total": n,
    "detail": [...]}"""
    links = []
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            links.append(os.readlink(os.path.join(d, fd)))
        except OSError:
            pass
    tcp = _tcp_table(pid)
    res = {"other": 0, "listen": 0, "client": 0, "upstream": 0, "upstream_states": {}, "total": len(links),
           "detail": []}
    for l in links:
        if l.startswith("socket:["):
            ino = l[8:-1]
            t = tcp.get(ino)
            if t is not None:
                lport, rport, state = t
                if state == "LISTEN":
                    res["listen"] += 1
                elif lport == gw_port:
                    res["client"] += 1
                    res["detail"].append("client :%d<-%d %s" % (lport, rport, state))
                else:
                    res["upstream"] += 1
                    res["upstream_states"][state] = res["upstream_states"].get(state, 0) + 1
                    res["detail"].append("upstream ->%d %s" % (rport, state))
                continue
        res["other"] += 1
        res["detail"].append(l)
    return res


class RSSSampler:
    """Samples the peak RSS of a process in a background thread."""

    def __init__(self, pid, interval=0.01):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except (OSError, AssertionError):
                return
            time.sleep(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(2)


class Leaks:
    """Baseline of the gateway's fds and RSS, then `check()` after a case."""

    def __init__(self, gw, warm=12, body=None):
        self.gw = gw
        body = body or chat_body("mock-small")
        # warm up both workers (SO_REUSEPORT spreads connections), the Lua VMs,
        # the curl pools, the allocator arenas
        for _ in range(warm):
            r = gw.chat(body)
            assert r.status == 200, r
        for _ in range(2):
            c = gw.stream(dict(body, stream=True))
            c.read_all()
            c.close()
        time.sleep(0.1)
        self.fd0 = fd_classes(gw.pid, gw.port)
        self.rss0 = rss_kb(gw.pid)

    def fds_ok(self, upstream_slack=2):
        now = fd_classes(self.gw.pid, self.gw.port)
        b = self.fd0
        ok = (now["other"] == b["other"] and now["listen"] == b["listen"] and now["client"] == b["client"]
              and now["upstream"] <= b["upstream"] + upstream_slack)
        return ok, now

    def check(self, timeout=2.0, rss_mb=5.0, upstream_slack=2, what="after the case"):
        deadline = time.monotonic() + timeout
        while True:
            ok, now = self.fds_ok(upstream_slack)
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        problems = []
        if not ok:
            from collections import Counter
            detail = Counter(now["detail"]).most_common(12)
            problems.append("gateway fds not back to baseline %s within %.1fs:\n  baseline %s\n  now      %s\n"
                            "  now (most common) %s" % (what, timeout, _brief(self.fd0), _brief(now), detail))
        if not ASAN:
            grew = (rss_kb(self.gw.pid) - self.rss0) / 1024.0
            if grew > rss_mb:
                problems.append("gateway RSS +%.1f MB %s (baseline %d kB, limit +%.0f MB)" % (
                    grew, what, self.rss0, rss_mb))
        assert not problems, "\n".join(problems)
        return now


def _brief(c):
    return {k: c[k] for k in ("total", "other", "listen", "client", "upstream", "upstream_states")}


def assert_serves(gw, model="mock-small"):
    """The gateway still answers a normal request correctly."""
    r = gw.chat(chat_body(model), timeout=10)
    assert r.status == 200, "the gateway no longer serves a plain request: %r" % r
    assert r.json()["choices"][0]["message"]["content"] == mock_text(model), r
    return r


def wait_upstream_released(mock, before, cancelled=True, timeout=1.5):
    """The mock saw the gateway's request cancelled (client gone) and nothing
    is left running upstream (`active` back to what it was)."""
    if cancelled:
        wait_for(lambda: mock.stats()["cancelled"] > before["cancelled"], timeout,
                 what="the mock to see the upstream transfer cancelled (before %r, now %r)"
                 % (before, mock.stats()))
    wait_for(lambda: mock.stats()["active"] <= before["active"], timeout,
             what="the mock's active gauge back to %d (now %r)" % (before["active"], mock.stats()))


# --------------------------------------------------------------------------
# raw HTTP over a socket
# --------------------------------------------------------------------------

class RawResp:
    def __init__(self, status, headers, body, head):
        self.status = status
        self.header_list = headers
        self.headers = {}
        for k, v in headers:
            self.headers.setdefault(k.lower(), v)
        self.body = body
        self.head = head

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    # what assert_openai_error needs
    def __repr__(self):
        return "<RawResp %d %r %r>" % (self.status, self.head[:300], self.body[:300])


def parse_responses(raw):
    """Splits bytes received on one connection into complete responses.
    Returns (responses, leftover bytes)."""
    out = []
    while True:
        i = raw.find(b"\r\n\r\n")
        if i < 0:
            return out, raw
        head = raw[:i]
        rest = raw[i + 4:]
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if not parts[0].startswith("HTTP/1.") or len(parts) < 2:
            return out, raw
        status = int(parts[1])
        hdrs = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs.append((k.strip(), v.strip()))
        h = {k.lower(): v for k, v in hdrs}
        if status in (100, 101) or 100 <= status < 200:
            raw = rest
            continue
        if "chunked" in h.get("transfer-encoding", "").lower():
            d = ChunkedDecoder()
            try:
                body = d.feed(rest)
            except (AssertionError, ValueError):
                return out, raw
            if not d.finished:
                return out, raw
            out.append(RawResp(status, hdrs, body, head))
            raw = d.buf
        elif "content-length" in h:
            n = int(h["content-length"])
            if len(rest) < n:
                return out, raw
            out.append(RawResp(status, hdrs, rest[:n], head))
            raw = rest[n:]
        else:
            # close-delimited: everything that is left
            out.append(RawResp(status, hdrs, rest, head))
            return out, b""


def raw_conversation(port, data, timeout=5.0, want=None, send_delay=None):
    """Sends `data` (bytes, or a list of byte strings sent `send_delay` s apart),
    reads until the server closes (or `want` responses arrived and nothing more
    comes for a short while, or timeout). Returns (responses, closed, raw, elapsed)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    t0 = time.monotonic()
    closed = False
    buf = b""
    try:
        pieces = data if isinstance(data, list) else [data]
        for i, p in enumerate(pieces):
            if i and send_delay:
                time.sleep(send_delay)
            try:
                s.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                break
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            resps, _ = parse_responses(buf)
            s.settimeout(min(max(deadline - time.monotonic(), 0.01),
                             0.15 if (want is not None and len(resps) >= want) else timeout))
            try:
                d = s.recv(65536)
            except socket.timeout:
                if want is not None and len(resps) >= want:
                    break
                continue
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            buf += d
        resps, _ = parse_responses(buf)
        return resps, closed, buf, time.monotonic() - t0
    finally:
        s.close()


def http_head(method, path, headers=(), body=b"", version="HTTP/1.1", host=True, content_length=True):
    """A request as bytes; `headers` a list of (name, value) with value str or bytes."""
    out = [("%s %s %s\r\n" % (method, path, version)).encode("latin-1")]
    if host:
        out.append(b"Host: 127.0.0.1\r\n")
    for k, v in headers:
        if isinstance(v, str):
            v = v.encode("utf-8")
        out.append(k.encode("latin-1") + b": " + v + b"\r\n")
    if body and content_length:
        out.append(b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body))
    out.append(b"\r\n")
    return b"".join(out) + body


def chat_request(model="mock-small", headers=(), version="HTTP/1.1", host=True, path="/v1/chat/completions",
                 body=None, close=False):
    data = body if body is not None else json.dumps(chat_body(model)).encode()
    hs = list(headers)
    if close:
        hs.append(("Connection", "close"))
    return http_head("POST", path, hs, data, version=version, host=host)


def rst_close(sock):
    """Closes with an RST (SO_LINGER 0) instead of a FIN."""
    import struct
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


# --------------------------------------------------------------------------
# tiny misbehaving upstreams (python threads on loopback)
# --------------------------------------------------------------------------

def read_http_request(conn, timeout=5.0):
    """Reads one request (head + Content-Length body) from an upstream-side
    socket. Returns (head bytes, body bytes) or (None, None) on EOF."""
    conn.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = conn.recv(65536)
        if not d:
            return None, None
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(rest) < n:
        d = conn.recv(65536)
        if not d:
            break
        rest += d
    return head, rest[:n]


class RawUpstream:
    """A TCP server on loopback; `handler(conn, up)` runs in a thread per
    connection. Records accepted connections, bytes sent, and whether the peer
    (the gateway) went away while the handler was still sending."""

    def __init__(self, handler):
        self.handler = handler
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.peer_gone = 0          # handlers that saw EPIPE/ECONNRESET while sending
        self.handlers_done = 0
        self.sent = 0
        self.requests = []          # (head, body) seen
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.conns = []
        self.t = threading.Thread(target=self._accept_loop, daemon=True)
        self.t.start()

    @property
    def base_url(self):
        return "http://%s:%d/v1" % (HOST, self.port)

    def _accept_loop(self):
        self.lsock.settimeout(0.1)
        while not self.stop_ev.is_set():
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(conn, self)
        except (BrokenPipeError, ConnectionResetError):
            with self.lock:
                self.peer_gone += 1
        except (socket.timeout, OSError):
            pass
        finally:
            with self.lock:
                self.handlers_done += 1
            try:
                conn.close()
            except OSError:
                pass

    def send(self, conn, data):
        conn.sendall(data)
        with self.lock:
            self.sent += len(data)

    def record(self, head, body):
        with self.lock:
            self.requests.append((head, body))

    def close(self):
        self.stop_ev.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse_chunk_event(i, text, model="raw-model"):
    """One OpenAI chat.completion.chunk as an SSE event (bytes)."""
    doc = {"id": "chatcmpl-raw", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
