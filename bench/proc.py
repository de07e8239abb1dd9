"""bench/proc.py: child processes and ports for the load harnesses
(bench/bench.py and soak/soak.py): every child in its own process group,
stopped as a whole; loopback ports."""
import os
import signal
import socket
import subprocess
import threading
import time


class Procs:
    """Every child in its own process group; stop_all() ends them all (finally)."""

    def __init__(self, log=print):
        self.log = log
        self.items = []
        self.lock = threading.Lock()

    def start(self, name, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        with self.lock:
            self.items.append((name, p))
        return p

    def forget(self, p):
        with self.lock:
            self.items = [(n, q) for n, q in self.items if q is not p]

    @staticmethod
    def stop(p, sig=signal.SIGTERM, grace=5.0):
        if p.poll() is not None:
            return p.returncode
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
            return None

    def stop_all(self):
        with self.lock:
            items, self.items = self.items, []
        for name, p in reversed(items):
            try:
                self.stop(p)
            except Exception as e:  # keep going: every process must end
                self.log(f"could not stop {name} (pid {p.pid}): {e}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
