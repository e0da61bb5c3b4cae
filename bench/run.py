"""Benchmark rover-mt against its peers on this machine (issue 9).

    bench/.venv/bin/python bench/run.py [--quick] [--rounds 3] [--duration 10]
                                        [--only W1,W2,W3,W4,W5,idle] [--servers a,b] [--keep-going]

Starts every selected server once (127.0.0.1, free port), checks its answer to
every workload, then times each workload and connection count with wrk,
servers in alternation, for several rounds.  Then W5 (overload) and the idle
footprint of rover-mt.  Writes bench/results/<timestamp>.json and regenerates
docs/performance.md and docs/img/bench_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import footprint
import machine_info
import overload
import report
import targets
from procmem import tree_memory
from servers import ALL_SERVERS, RunningServer, ServerSpec, ServerStartError
from workloads import WORKLOADS, ValidationError, validate
from wrkrun import WrkError, run_wrk

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
TIMED_WORKLOADS = ("W1", "W2", "W3", "W4")
EXTRA_PARTS = ("W5", "idle")


class BenchError(RuntimeError):
    """A problem that makes the run's numbers meaningless (reported, exit 1)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s per point, for development")
    parser.add_argument("--rounds", type=int, help="rounds per point (default 3; quick: 1)")
    parser.add_argument("--duration", type=float, help="seconds per point (default 10; quick: 2)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds before a point's first round (default 2)")
    parser.add_argument("--connections", default="50,200", help="comma-separated connection counts")
    parser.add_argument("--only", default=",".join(TIMED_WORKLOADS + EXTRA_PARTS),
                        help="parts to run: W1,W2,W3,W4,W5,idle")
    parser.add_argument("--servers", help="comma-separated server names (default: all)")
    parser.add_argument("--keep-going", action="store_true",
                        help="drop a server that fails to start or answers wrong, instead of stopping")
    parser.add_argument("--no-docs", action="store_true", help="write the JSON only, not docs/")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (2.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    args.connections = [int(c) for c in args.connections.split(",")]
    args.only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(args.only) - set(TIMED_WORKLOADS + EXTRA_PARTS)
    if unknown:
        parser.error(f"unknown parts in --only: {', '.join(sorted(unknown))}")
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _raise_open_file_limit() -> None:
    # 1,000 wrk connections and 5,000 idle sockets need more than the usual 1,024
    # descriptors, in this process and in the servers, which inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _select_servers(args: argparse.Namespace) -> list[ServerSpec]:
    wanted = set(args.servers.split(",")) if args.servers else None
    known = {s.name for s in ALL_SERVERS}
    if wanted and wanted - known:
        raise BenchError(f"unknown servers: {', '.join(sorted(wanted - known))}; known: {', '.join(sorted(known))}")
    return [s for s in ALL_SERVERS
            if (wanted is None or s.name in wanted) and set(s.workloads) & set(args.only)]


def _start_all(specs: list[ServerSpec], workloads: list[str], keep_going: bool,
               server_info: dict[str, dict[str, Any]]) -> dict[str, RunningServer]:
    """Start and validate every server; rover-mt entries that cannot start are skipped."""
    running: dict[str, RunningServer] = {}
    for spec in specs:
        info = server_info.setdefault(spec.name, {"description": spec.description, "status": "ok"})
        try:
            server = RunningServer(spec)
        except ServerStartError as exc:
            info["status"] = f"did not start: {str(exc).splitlines()[-1][:200]}"
            _log(f"{spec.name}: {info['status']}")
            if spec.is_rover or keep_going:
                continue
            raise BenchError(str(exc)) from exc
        info["command"] = server.command
        try:
            for name in spec.workloads:
                if name in workloads:
                    validate(server.port, WORKLOADS[name])
        except (ValidationError, OSError) as exc:
            server.close()
            info["status"] = f"wrong answer: {exc}"[:300]
            _log(f"{spec.name}: {info['status']}")
            if keep_going:
                continue
            raise BenchError(f"{spec.name} answers wrongly, refusing to time it: {exc}") from exc
        info["rss_start_kib"] = tree_memory(server.pid).rss_kib
        running[spec.name] = server
        _log(f"{spec.name}: up on port {server.port}, answers correctly")
    return running


#: Pause between a point's warm-up and its first timed run. wrk closes its
#: connections with requests still in flight; a server reads that as a
#: half-close and still answers what was queued. rover-mt with 1 worker had
#: about 199 W4 requests (0.22 s of work) left at 200 connections, and its first
#: timed run then found the queue nearly full: 23-41 503s in round 1 only.
SETTLE_AFTER_WARMUP_S = 1.0


def _time_all(args: argparse.Namespace, running: dict[str, RunningServer], scratch: Path,
              server_info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    runs = []
    workloads = [w for w in TIMED_WORKLOADS if w in args.only]
    scripts = {w: WORKLOADS[w].wrk_script(scratch) for w in workloads}
    for round_index in range(args.rounds):
        for name in workloads:
            workload = WORKLOADS[name]
            for conns in args.connections:
                for server_name, server in list(running.items()):
                    if name not in server.spec.workloads:
                        continue
                    url = f"http://127.0.0.1:{server.port}{workload.path}"
                    try:
                        if round_index == 0 and args.warmup > 0:
                            run_wrk(url, conns, args.warmup, scripts[name])
                            time.sleep(SETTLE_AFTER_WARMUP_S)
                        result = run_wrk(url, conns, args.duration, scripts[name])
                        if server.process.poll() is not None:
                            raise WrkError(f"exited with {server.process.returncode}:\n{server.log_tail()}")
                    except WrkError as exc:
                        # One server failing (a crash under load) must not lose the
                        # whole run: drop it from the remaining points and say why.
                        server_info[server_name]["status"] = f"failed under load ({name}, {conns} conns): {exc}"[:300]
                        _log(f"{server_name}: {server_info[server_name]['status']}")
                        running.pop(server_name).close()
                        continue
                    memory = tree_memory(server.pid)
                    runs.append({"round": round_index + 1, "workload": name, "connections": conns,
                                 "server": server_name, **result.as_dict(),
                                 "rss_kib": memory.rss_kib, "pss_kib": memory.pss_kib})
                    _log(f"round {round_index + 1} {name} c={conns} {server_name}: {result.rps:,.0f} req/s, "
                         f"p99 {result.latency_p99_ms:.2f} ms, errors {result.errors}")
    return runs


def _estimate_minutes(args: argparse.Namespace, specs: list[ServerSpec]) -> float:
    points = sum(len(set(s.workloads) & set(args.only) & set(TIMED_WORKLOADS)) for s in specs)
    settle = SETTLE_AFTER_WARMUP_S if args.warmup > 0 else 0.0
    timed = points * len(args.connections) * (args.rounds * (args.duration + 0.3) + args.warmup + settle)
    extra = (2.5 * args.duration + 5 if "W5" in args.only else 0) + (15 if "idle" in args.only else 0)
    return (timed + extra) / 60


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the whole benchmark and return the results (not yet written)."""
    _raise_open_file_limit()
    started = time.monotonic()
    specs = _select_servers(args)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": {"quick": args.quick, "rounds": args.rounds, "duration_s": args.duration,
                 "warmup_s": args.warmup, "connections": args.connections, "parts": args.only},
        "machine": machine_info.collect(),
        # Other work on the machine skews everything: keep the evidence.
        "load_average_start": os.getloadavg(),
        "workloads": {w.name: w.title for w in WORKLOADS.values()},
        "servers": {},
    }
    _log(f"{len(specs)} servers, about {_estimate_minutes(args, specs):.0f} min")
    timed_parts = [w for w in TIMED_WORKLOADS if w in args.only]
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch_name:
        scratch = Path(scratch_name)
        running: dict[str, RunningServer] = {}
        try:
            running = _start_all(specs, timed_parts, args.keep_going, results["servers"])
            results["runs"] = _time_all(args, running, scratch, results["servers"])
        finally:
            for server in running.values():
                server.close()
        rover_ok = results["servers"].get("rover-mt", {}).get("status", "ok") == "ok"
        if "W5" in args.only:
            results["overload"] = _optional_part("W5", rover_ok, lambda: overload.run_overload(args.duration, scratch))
        if "idle" in args.only:
            results["footprint"] = _optional_part("idle", rover_ok, footprint.measure_footprint)
    results["summary"] = report.summarize(results["runs"])
    results["targets"] = targets.evaluate(results["summary"])
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["load_average_end"] = os.getloadavg()
    return results


def _optional_part(name: str, rover_ok: bool, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if not rover_ok:
        return {"skipped": "rover-mt did not start"}
    _log(f"{name} ...")
    try:
        return measure()
    except (ServerStartError, ValidationError, WrkError, OSError) as exc:
        _log(f"{name} failed: {exc}")
        return {"skipped": f"failed: {str(exc)[:300]}"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
    except (BenchError, WrkError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{stamp}{'-quick' if args.quick else ''}.json"
    results["results_file"] = str(path.relative_to(BENCH_DIR.parent))
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    _log(f"results: {path}")
    if not args.no_docs:
        _log(f"docs: {report.write_docs(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
