"""Full-size runs of issue 5's checks (the tests run small versions of these).

    python bench/overload_faults.py [overload|faults|sigterm|reload ...] [--seconds 20]

overload: 1 worker, queue_bound 8, ~20 ms handler, 500 connections for 20 s,
          driven by h2load (nghttp2-client, HTTP/1.1), which logs every request's
          status and latency; a Python client would spend more CPU than the
          server and its own loop lag would be in every figure.
faults:   spin / coroutine / pcall / xpcall-handler loops (Lua 5.4) and a 10 s
          LuaJIT loop with handler_timeout 1 s; then 100 normal requests.
sigterm:  SIGTERM with 20 requests of ~1 s in flight.
reload:   wrk against the server while the app file changes 20 times (--reload).
Prints one JSON object per scenario.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.wire.test_overload import percentile, scrape, start_server  # noqa: E402

WORK = """
local api = rover.server {}
function api.work.get()
  local x = 0
  for i = 1, tonumber(N) do x = x + i % 7 end
  return { x = x }
end
return api
"""

FAULTS = """
local api = rover.server { lua = "%s" }
function api.ok.get() return "ok" end
function api.spin.get() while true do end end
function api.wrap.get() coroutine.wrap(function() while true do end end)() end
function api.pcall.get() while true do pcall(function() while true do end end) end end
function api.xpcall.get() xpcall(function() error("x") end, function() while true do end end) end
function api.jit.get()
  local stop = os.clock() + 10
  local x = 0
  while os.clock() < stop do x = x + 1 end
  return x
end
return api
"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def get(port: int, path: str, timeout: float = 30) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, time.monotonic() - t0


def app_file(folder: Path, text: str) -> Path:
    path = folder / "app.lua"
    path.write_text(text)
    return path


def h2load(port: int, path: str, connections: int, seconds: float, log: Path) -> dict[int, list[float]]:
    """Closed-loop load from `connections` HTTP/1.1 connections; latencies (s) by status."""
    subprocess.run(["h2load", "--h1", "-t", "1", "-c", str(connections), "-D", str(int(seconds)),
                    f"--log-file={log}", f"http://127.0.0.1:{port}{path}"],
                   check=True, capture_output=True, timeout=seconds + 60)
    by_status: dict[int, list[float]] = {}
    with log.open() as f:
        for line in f:
            _start, status, micros = line.split("\t")[:3]
            by_status.setdefault(int(status), []).append(int(micros) / 1e6)
    return by_status


def overload(folder: Path, seconds: float, connections: int) -> dict:
    # Calibrate ~20 ms of work on this machine.
    n = 1_000_000
    flags = ("--workers", "1", "--queue-bound", "8", "--backpressure", "shed", "--max-connections", "4000")
    path = app_file(folder, WORK.replace("tonumber(N)", str(n)))
    proc, port = start_server(path, *flags)
    try:
        t = min(get(port, "/work")[1] for _ in range(10))
        n = int(n * 0.020 / t)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    path = app_file(folder, WORK.replace("tonumber(N)", str(n)))
    proc, port = start_server(path, *flags)
    try:
        service = min(get(port, "/work")[1] for _ in range(20))
        h2load(port, "/work", connections, 3, folder / "warmup.tsv")
        rss_warm = rss_kb(proc.pid)
        res = h2load(port, "/work", connections, seconds, folder / "run.tsv")
        rss_end = rss_kb(proc.pid)
        m = scrape(port)
        ok, shed = res.get(200, []), res.get(503, [])
        return {
            "scenario": "overload", "client": "h2load", "connections": connections, "seconds": seconds,
            "service_ms": round(service * 1000, 1),
            "ok": len(ok), "shed": len(shed),
            "other": {str(k): len(v) for k, v in res.items() if k not in (200, 503)},
            "shed_p50_ms": round(percentile(shed, 0.5) * 1000, 2),
            "shed_p99_ms": round(percentile(shed, 0.99) * 1000, 2),
            "shed_max_ms": round(max(shed) * 1000, 2),
            "ok_p50_ms": round(percentile(ok, 0.5) * 1000, 1),
            "ok_p99_ms": round(percentile(ok, 0.99) * 1000, 1),
            "ok_max_ms": round(max(ok) * 1000, 1),
            "ok_p99_bound_ms": round(((8 + 1) * service + 0.050) * 1000, 1),
            "rss_warm_kb": rss_warm, "rss_end_kb": rss_end,
            "rss_change_pct": round(100 * (rss_end - rss_warm) / rss_warm, 1),
            "queue_depth": m["rover_queue_depth"], "inflight": m["rover_inflight_requests"],
            "dispatched": m["rover_dispatched_total"], "completed": m["rover_completed_total"],
            "shed_total": m["rover_shed_total"],
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def faults(folder: Path) -> dict:
    out: dict = {"scenario": "faults", "handler_timeout_s": 1}
    for engine, routes in (("lua54", ["/spin", "/wrap", "/pcall", "/xpcall"]), ("luajit", ["/jit"])):
        path = app_file(folder, FAULTS % engine)
        proc, port = start_server(path, "--workers", "2", "--handler-timeout", "1")
        try:
            for route in routes:
                status, secs = get(port, route)
                statuses = [get(port, "/ok")[0] for _ in range(100)]
                out[f"{engine}{route}"] = {"status": status, "seconds": round(secs, 3),
                                           "next_100_ok": statuses.count(200)}
            time.sleep(0.5)  # past the stuck grace, so a replacement is counted
            m = scrape(port)
            out[f"{engine}_worker_restarts"] = m["rover_worker_restarts_total"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return out


def sigterm(folder: Path) -> dict:
    n = 1_000_000
    path = app_file(folder, WORK.replace("tonumber(N)", "tonumber(ctx_n)").replace(
        "function api.work.get()", "function api.work.get(ctx)\n  local ctx_n = ctx:query().n"))
    proc, port = start_server(path, "--workers", "20", "--graceful-timeout", "30")
    t = get(port, f"/work?n={n}")[1]
    n = int(n * 1.0 / max(t, 1e-3))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(get(port, f"/work?n={n}")[0]))
               for _ in range(20)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    exit_s = time.monotonic() - t0
    for th in threads:
        th.join(60)
    try:
        get(port, "/work?n=1", timeout=2)
        refused = False
    except ConnectionRefusedError:
        refused = True
    return {"scenario": "sigterm", "in_flight": 20, "ok": results.count(200), "exit_code": code,
            "exit_seconds": round(exit_s, 2), "graceful_timeout_s": 30, "refused_after": refused}


def reload(folder: Path, seconds: float) -> dict:
    text = 'local api = rover.server {}\nfunction api.v.get() return { v = %d } end\nreturn api\n'
    path = app_file(folder, text % 0)
    proc, port = start_server(path, "--workers", "2", "--reload")
    try:
        wrk = subprocess.Popen(["wrk", "-t2", "-c32", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}/v"],
                               stdout=subprocess.PIPE, text=True)
        for v in range(1, 21):
            time.sleep(seconds / 22)
            path.write_text(text % v)
        wrk_out, _ = wrk.communicate(timeout=seconds + 30)
        time.sleep(1.5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v")
        last = json.loads(conn.getresponse().read())["v"]
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_out)
        errors = re.search(r"Socket errors: (.*)", wrk_out)
        reqs = re.search(r"(\d+) requests in", wrk_out)
        return {"scenario": "reload", "reloads": 20, "requests": int(reqs.group(1)) if reqs else None,
                "non_2xx": int(non2xx.group(1)) if non2xx else 0,
                "socket_errors": errors.group(1) if errors else "none", "version_after": last}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenarios", nargs="*", default=["overload", "faults", "sigterm", "reload"])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--connections", type=int, default=500)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.scenarios:
            if name == "overload":
                res = overload(folder, args.seconds, args.connections)
            elif name == "faults":
                res = faults(folder)
            elif name == "sigterm":
                res = sigterm(folder)
            else:
                res = reload(folder, args.seconds)
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
