"""Slow-client attack on `rover-mt serve`, with legitimate load alongside.

    python bench/attack.py                       # full size (see --help)
    python bench/attack.py --slowloris 200 --slow-body 50 --slow-readers 50 --duration 20

Phases (each prints one JSON line; the last line is a summary):

1. ``baseline``: ``wrk -t1 -c50`` on ``GET /hello`` alone.
2. ``attack``: the same wrk run while slowloris (head bytes trickled), slow-body
   (body at 10 bytes/s) and slow-reader (pipelined big answers never read)
   connections run. Legitimate throughput must stay >= 80% of the baseline with no
   errors; every attacking connection must be closed by the server within its
   deadline (header_timeout, body_timeout, keepalive_timeout + send_timeout) + 1 s;
   the server's open descriptors must return to what they were before.
3. ``idle``: a canary's latency p99 alone, then while 5,000 keep-alive connections
   (one request each, then silent) are held open: must stay under 2x.

Without wrk, the legitimate load is a Python keep-alive client (slower, same checks).
The attacker here is importable (:class:`SlowClients`), and the test suite runs a
scaled-down version of phase 2 against an in-process server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent

ATTACK_APP = """
local api = rover.server {}
function api.hello.get(ctx) return { message = "Hello, World!" } end
function api.canary.get(ctx) return "ok" end
function api.echo.post(ctx) return #ctx:body():raw() end
local big = string.rep("x", 64 * 1024)
function api.big.get(ctx) return big end
return api
"""

TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8
SLOW_READER_PIPELINE = 8  # GET /big (64 KiB) requests each slow reader sends at once


def peer_closed(sock: socket.socket) -> bool:
    """Has the server closed this connection (FIN or RST)? Reads nothing: the TCP
    state says it, so slow readers stay slow."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except OSError:
        return True
    return info[0] in (TCP_CLOSE, TCP_CLOSE_WAIT)


@dataclass
class Attacker:
    kind: str
    sock: socket.socket
    deadline: float  # seconds from the first byte by which the server must close
    started: float = 0.0
    next_send: float = 0.0
    closed_after: float | None = None


@dataclass
class AttackReport:
    kind: str
    count: int
    closed: int
    late: int  # closed later than deadline + grace, or never
    max_over_deadline_s: float
    deadline_s: float

    def ok(self) -> bool:
        return self.closed == self.count and self.late == 0


@dataclass
class SlowClients:
    """Slowloris, slow-body and slow-reader connections, driven by one thread.

    `header_timeout`, `body_timeout`, `keepalive_timeout`, `send_timeout` are the
    server's settings; they give each kind its deadline.
    """

    port: int
    slowloris: int
    slow_body: int
    slow_readers: int
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    send_timeout: float = 30.0
    interval: float = 1.0  # seconds between trickled pieces
    grace: float = 1.0
    attackers: list[Attacker] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Open every connection (each sends its first bytes at once) and start trickling."""
        plan = ([("slowloris", self.header_timeout)] * self.slowloris
                + [("slow_body", self.body_timeout)] * self.slow_body
                + [("slow_reader", self.keepalive_timeout + self.send_timeout)] * self.slow_readers)
        random.Random(7).shuffle(plan)
        for kind, deadline in plan:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if kind == "slow_reader":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # keep kernel buffers small
            sock.settimeout(10)
            sock.connect(("127.0.0.1", self.port))
            sock.setblocking(False)
            a = Attacker(kind, sock, deadline)
            self._first_send(a)
            self.attackers.append(a)
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._thread.start()

    def _first_send(self, a: Attacker) -> None:
        a.started = time.monotonic()
        a.next_send = a.started + self.interval * random.random()
        if a.kind == "slowloris":
            data = b"GET /hello HTTP/1.1\r\n"
        elif a.kind == "slow_body":
            data = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
        else:
            data = b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" * SLOW_READER_PIPELINE
        self._send(a, data)

    def _send(self, a: Attacker, data: bytes) -> None:
        try:
            a.sock.send(data)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._mark_closed(a)

    def _mark_closed(self, a: Attacker) -> None:
        if a.closed_after is None:
            a.closed_after = time.monotonic() - a.started

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for a in self.attackers:
                if a.closed_after is not None:
                    continue
                if peer_closed(a.sock):
                    self._mark_closed(a)
                    continue
                if a.kind != "slow_reader" and now >= a.next_send:
                    a.next_send = now + self.interval
                    self._send(a, b"X-Slow: 1\r\n" if a.kind == "slowloris" else b"0123456789")
            self._stop.wait(0.05)

    def open_count(self) -> int:
        return sum(1 for a in self.attackers if a.closed_after is None)

    def wait_all_closed(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while self.open_count() and time.monotonic() < end:
            time.sleep(0.1)
        return self.open_count() == 0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for a in self.attackers:
            a.sock.close()

    def reports(self) -> list[AttackReport]:
        out = []
        for kind in ("slowloris", "slow_body", "slow_reader"):
            group = [a for a in self.attackers if a.kind == kind]
            if not group:
                continue
            over = [(a.closed_after if a.closed_after is not None else float("inf")) - a.deadline for a in group]
            out.append(AttackReport(
                kind, len(group), sum(1 for a in group if a.closed_after is not None),
                sum(1 for o in over if o > self.grace), round(max(over), 3), group[0].deadline))
        return out


# -- the full-size runner (server in a subprocess) ------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class ServerProcess:
    """`python -m rover_mt serve` on a free port, stopped with SIGTERM."""

    def __init__(self, app: Path, flags: list[str]) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "rover_mt", "serve", str(app), "--port", str(self.port),
                "--log-level", "warn", "--no-access-log", *flags]
        self.proc = subprocess.Popen(argv, cwd=REPO_DIR, stdin=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("rover-mt did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def legit_load(port: int, seconds: float, connections: int = 50) -> dict[str, float]:
    """wrk -t1 -c50 on /hello, or a Python keep-alive client without wrk."""
    url = f"http://127.0.0.1:{port}/hello"
    if shutil.which("wrk"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from wrkrun import run_wrk

        res = run_wrk(url, connections, seconds)
        return {"ok_rps": round(res.ok_rps, 1), "errors": res.errors, "p99_ms": res.latency_p99_ms}
    return _python_load(port, seconds, min(connections, 8))


def _python_load(port: int, seconds: float, threads: int) -> dict[str, float]:
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client() -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < end:
            try:
                conn.request("GET", "/hello")
                r = conn.getresponse()
                r.read()
                key = "ok" if r.status == 200 else "errors"
            except Exception:
                key = "errors"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                counts[key] += 1

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"ok_rps": round(counts["ok"] / seconds, 1), "errors": counts["errors"]}


def canary_p99(port: int, n: int = 2000) -> float:
    """p99 latency (ms) of sequential GET /hello on one keep-alive connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    req = b"GET /hello HTTP/1.1\r\nHost: canary\r\n\r\n"
    for _ in range(n):
        t0 = time.perf_counter()
        sock.sendall(req)
        buf = b""
        while b"}" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("canary connection closed")
            buf += chunk
        times.append(time.perf_counter() - t0)
        time.sleep(0.002)
    sock.close()
    times.sort()
    return round(times[int(len(times) * 0.99) - 1] * 1000, 3)


def open_idle(port: int, n: int) -> list[socket.socket]:
    """n keep-alive connections that each made one request and then went quiet."""
    socks = []
    req = b"GET /hello HTTP/1.1\r\nHost: idle\r\n\r\n"
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        socks.append(s)
    for s in socks:
        s.recv(4096)
    return socks


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slowloris", type=int, default=1000)
    p.add_argument("--slow-body", type=int, default=200)
    p.add_argument("--slow-readers", type=int, default=200)
    p.add_argument("--idle", type=int, default=5000, help="idle keep-alive connections in phase 3")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each wrk run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--send-timeout", type=float, default=30.0)
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    folder = Path(tempfile.mkdtemp(prefix="rover-attack-"))
    app = folder / "attack.lua"
    app.write_text(ATTACK_APP)
    ok = True
    summary: dict = {}
    srv = ServerProcess(app, ["--workers", str(args.workers), "--send-timeout", str(args.send_timeout)])
    try:
        time.sleep(0.5)
        base = legit_load(srv.port, args.duration)
        emit({"phase": "baseline", **base})
        fds_before = fd_count(srv.proc.pid)
        attack = SlowClients(srv.port, args.slowloris, args.slow_body, args.slow_readers,
                             send_timeout=args.send_timeout)
        attack.start()
        under = legit_load(srv.port, args.duration)
        longest = max(a.deadline for a in attack.attackers) if attack.attackers else 0
        attack.wait_all_closed(longest + attack.grace + 5)
        reports = attack.reports()
        attack.stop()
        time.sleep(1.0)
        fds_after = fd_count(srv.proc.pid)
        ratio = under["ok_rps"] / base["ok_rps"] if base["ok_rps"] else 0.0
        emit({"phase": "attack", **under, "ratio": round(ratio, 3),
              "attackers": [r.__dict__ for r in reports], "fds_before": fds_before, "fds_after": fds_after})
        ok &= ratio >= 0.8 and under["errors"] == 0 and all(r.ok() for r in reports) and fds_after <= fds_before
        summary.update(throughput_ratio=round(ratio, 3), legit_errors=under["errors"],
                       attackers_ok=all(r.ok() for r in reports), fds_back=fds_after <= fds_before)
    finally:
        srv.stop()

    if args.idle:
        srv = ServerProcess(app, ["--workers", str(args.workers), "--keepalive-timeout", "120",
                                  "--max-connections", str(args.idle + 100)])
        try:
            base_p99 = canary_p99(srv.port)
            socks = open_idle(srv.port, args.idle)
            loaded_p99 = canary_p99(srv.port)
            for s in socks:
                s.close()
            emit({"phase": "idle", "connections": args.idle, "p99_ms_alone": base_p99, "p99_ms_idle": loaded_p99,
                  "ratio": round(loaded_p99 / base_p99, 2)})
            ok &= loaded_p99 < 2 * base_p99
            summary.update(idle_p99_ratio=round(loaded_p99 / base_p99, 2))
        finally:
            srv.stop()
    shutil.rmtree(folder, ignore_errors=True)
    emit({"phase": "summary", "ok": bool(ok), **summary})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
