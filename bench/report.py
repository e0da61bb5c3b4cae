"""Turn a results JSON (from run.py) into docs/performance.md and docs/img/*.png.

    python bench/report.py bench/results/<file>.json     # regenerate the docs from a saved run
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parent.parent
DOCS_DIR = REPO_DIR / "docs"


def _ok_rps(run: dict[str, Any]) -> float:
    if "ok_rps" in run:
        return run["ok_rps"]
    # Result files written before ok_rps was recorded.
    return run["rps"] * (run["requests"] - run["non_2xx"]) / run["requests"] if run.get("requests") else 0.0


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Median [min, max] per workload, connection count and server over the rounds."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["workload"], str(run["connections"]), run["server"]), []).append(run)
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for (workload, conns, server), items in grouped.items():
        # Only successful answers count: a server that sheds with fast 503s
        # must not look faster for it.
        rps = [_ok_rps(r) for r in items]
        summary.setdefault(workload, {}).setdefault(conns, {})[server] = {
            "rps": {"median": statistics.median(rps), "min": min(rps), "max": max(rps)},
            "all_answers_rps": statistics.median(r["rps"] for r in items),
            "p50_ms": statistics.median(r["latency_p50_ms"] for r in items),
            "p99_ms": statistics.median(r["latency_p99_ms"] for r in items),
            "errors": sum(r["non_2xx"] + sum(r["socket_errors"].values()) for r in items),
            "rss_kib_max": max(r["rss_kib"] for r in items),
            "rounds": len(items),
        }
    return summary


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"`{k} = {v}`" for k, v in settings.items())


def _server_order(results: dict[str, Any]) -> list[str]:
    return list(results["servers"])


def _results_section(results: dict[str, Any], img_dir_name: str) -> list[str]:
    lines = ["## Throughput and latency", ""]
    order = _server_order(results)
    for workload, by_conn in sorted(results["summary"].items()):
        conns = sorted(by_conn, key=int)
        lines += [f"### {workload}: {results['workloads'][workload]}", "",
                  f"![{workload}]({img_dir_name}/bench_{workload.lower()}.png)", ""]
        header = "| server | " + " | ".join(f"req/s, {c} conns | p50 / p99 ms" for c in conns) + " | errors | RSS MiB |"
        lines += [header, "|---" * (2 * len(conns) + 3) + "|"]
        for server in order:
            cells, errors, rss = [], 0, 0
            if not any(server in by_conn[c] for c in conns):
                continue
            for c in conns:
                s = by_conn[c].get(server)
                if s is None:
                    cells += ["-", "-"]
                    continue
                r = s["rps"]
                cells += [f"**{_num(r['median'])}** [{_num(r['min'])}-{_num(r['max'])}]",
                          f"{_num(s['p50_ms'], 2)} / {_num(s['p99_ms'], 2)}"]
                errors += s["errors"]
                rss = max(rss, s["rss_kib_max"])
            lines.append(f"| {server} | " + " | ".join(cells) + f" | {errors} | {_mib(rss)} |")
        lines.append("")
    return lines


def _targets_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "",
             "Ratios of median requests/s, measured side by side in this run.", "",
             "| workload | conns | servers | ratio | required | met |", "|---|---|---|---|---|---|"]
    for row in results["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[row["met"]]
        lines.append(f"| {row['workload']} | {row['connections']} | {row['numerator']} / {row['denominator']} | "
                     f"{_num(row['ratio'], 2) if row['ratio'] is not None else '-'} | "
                     f">= {row['required']} | {met} |")
    return lines + [""]


def _overload_section(results: dict[str, Any]) -> list[str]:
    data = results.get("overload")
    lines = ["## W5: overload", ""]
    if not data or "skipped" in data:
        return lines + [f"Not measured: {data.get('skipped') if data else 'not selected'}.", ""]
    met = data["met"]
    probe = data["probe"]
    lines += [
        f"rover-mt with {_settings_text(data['settings'])}, W4 from {data['connections']} connections, "
        f"paced to about {data['offered_rps_target']:,.0f} req/s (4 x capacity).", "",
        "| measure | value |", "|---|---|",
        f"| capacity (W4, no shedding) | {data['capacity_rps']:,.0f} req/s |",
        f"| service time (workers / capacity) | {data['service_time_ms']:.2f} ms |",
        f"| answered | {data['answered_rps']:,.0f} req/s |",
        f"| 200 / 503 / other | {data['ok']} / {data['shed_503']} / {data['other_status']} |",
        f"| socket errors | {data['socket_errors']} |",
        f"| probe (steady state): p50 / p99 of 200s | {probe['p50_ok_ms']:.1f} / {probe['p99_ok_ms']:.1f} ms "
        f"({probe['ok']} of {probe['requests']} probe requests) |",
        f"| p99 bound 2 x (queue_bound / workers + 1) x service time | {data['p99_bound_ms']:.1f} ms |",
        f"| RSS before / after | {_mib(data['rss_before_kib'])} / {_mib(data['rss_after_kib'])} MiB |",
        f"| RSS growth over the second half | {_mib(data['rss_growth_second_half_kib'])} MiB |",
        f"| still answers afterwards | {data['still_answers']} |", "",
        f"Met: no errors other than 503: **{met['only_fast_503s']}**; p99 within bound: "
        f"**{met['p99_ok_within_bound']}**; RSS flat: **{met['rss_flat']}**.", ""]
    return lines


def _footprint_section(results: dict[str, Any]) -> list[str]:
    data = results.get("footprint")
    lines = ["## Idle footprint", ""]
    if not data or "skipped" in data:
        return lines + [f"Not measured: {data.get('skipped') if data else 'not selected'}.", ""]
    lines += [f"rover-mt with {_settings_text(data['settings'])}.", "",
              "| state | RSS MiB | per connection KiB | connections still open |", "|---|---|---|---|",
              f"| just started | {_mib(data['rss_at_start_kib'])} | - | - |",
              f"| idle after one request | {_mib(data['rss_idle_kib'])} | - | - |"]
    for p in data["points"]:
        lines.append(f"| {p['connections']} idle keep-alive connections | {_mib(p['rss_kib'])} | "
                     f"{p['per_connection_kib']:.1f} | {p['open']} |")
    met = data["met"]
    return lines + ["", f"Met: idle RSS <= 60 MiB: **{met['idle_rss_within_60_mib']}**; "
                        f"<= 10 KiB per idle connection: **{met['per_connection_within_10_kib']}**.", ""]


def _machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["python_packages"].items())
    debian = ", ".join(f"{k} {v}" for k, v in m["debian_packages"].items())
    return ["## Machine", "",
            f"- {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, {m['os']}",
            f"- Python {m['python']} ({m['python_implementation']}); Lua engines: "
            f"{m['lua_engines']['lua54']}, {m['lua_engines']['luajit21']}",
            f"- Python packages: {versions}",
            f"- Debian packages: {debian}", ""]


def _servers_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Servers", "", "| server | what | RSS at start MiB | status |", "|---|---|---|---|"]
    for name, s in results["servers"].items():
        lines.append(f"| {name} | {s['description']} | {_mib(s.get('rss_start_kib'))} | {s['status']} |")
    return lines + [""]


_METHOD = """## How it is measured

- Every server runs the same Lua handler logic: `bench/handlers.lua` through lupa (Lua 5.4)
  for the Python peers, through the nginx Lua module (LuaJIT) for nginx, and
  `bench/apps/rover_app.lua` for rover-mt.  So only the serving machinery differs.
- W3's validation is `rover.guard` in rover-mt; the peers run a hand-written Lua function
  with the same fields, rules, defaults and error shape (`H.validate_user`).
- JSON: the lupa peers encode the response inside Lua with a small pure-Lua encoder (one
  string crosses to Python) and decode request bodies with orjson; nginx uses cjson.
- uvicorn and granian run the bare ASGI app `bench/peers/asgi_app.py` on the standard
  asyncio loop (uvloop is not installed for anyone); nginx's `keepalive_requests` is
  raised so it does not close connections every 1,000 requests.
- Each server is started once, bound to 127.0.0.1, and every workload's answer is
  checked (status, Content-Type, parsed JSON; W3 also checks that an invalid body gets
  400) before anything is timed.
- Requests/s count successful answers only (wrk's figure less its non-2xx/3xx answers),
  so fast 503s never raise a server's number; the "errors" column shows them.
- Load: `wrk -t1 -cN -dDs --latency`.  Servers are measured in alternation (A B C A B C
  ...) for each workload and connection count; each cell is the median over the
  rounds with [min-max].  The first round of each point starts with a short warm-up.
- RSS is summed over the server's process tree (nginx master + workers, granian
  supervisor + worker), the largest seen after a timed run.
"""


ANALYSIS = Path(__file__).resolve().parent / "analysis.md"


def _analysis_section() -> list[str]:
    """The hand-written reading of the numbers (bench/analysis.md), kept across runs."""
    if not ANALYSIS.exists():
        return []
    return ANALYSIS.read_text(encoding="utf-8").rstrip("\n").splitlines() + [""]


def render_markdown(results: dict[str, Any], img_dir_name: str = "img") -> str:
    """The whole docs/performance.md page."""
    mode = results["mode"]
    lines = ["# Performance", "",
             "<!-- Generated by bench/run.py (bench/report.py); do not edit by hand. -->", "",
             f"Run of {results['started']} ({results['elapsed_s'] / 60:.1f} min): "
             f"{mode['rounds']} round(s) x {mode['duration_s']} s per point, "
             f"connections {', '.join(map(str, mode['connections']))}.", ""]
    if "load_average_start" in results:
        start, end = results["load_average_start"], results["load_average_end"]
        lines += [f"Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in start)}; "
                  f"at the end: {', '.join(f'{x:.2f}' for x in end)}.  Above about 2 on this 2-core "
                  "machine, other work was competing with the benchmark.", ""]
    if mode["quick"]:
        lines += ["> **Quick mode**: one short round, for checking the pipeline. These numbers are "
                  "noisy and are not the project's results; run `bench/.venv/bin/python bench/run.py` "
                  "for those.", ""]
    skipped = [n for n, s in results["servers"].items() if s["status"] != "ok"]
    if skipped:
        lines += [f"> Not measured in this run: {', '.join(skipped)} (see Servers).", ""]
    lines += [f"Raw numbers: `{results.get('results_file', '')}`.  Reproduce: "
              "`bash bench/setup.sh && bench/.venv/bin/python bench/run.py` (see `bench/README.md`).", ""]
    lines += _targets_section(results)
    lines += _analysis_section()
    lines += _results_section(results, img_dir_name)
    lines += _overload_section(results)
    lines += _footprint_section(results)
    lines += _servers_section(results)
    lines += _machine_section(results)
    lines += _METHOD.splitlines()
    return "\n".join(lines) + "\n"


def write_plots(results: dict[str, Any], img_dir: Path) -> list[Path]:
    """One PNG per workload: median req/s with min-max bars, and median p99 latency."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    img_dir.mkdir(parents=True, exist_ok=True)
    written = []
    order = _server_order(results)
    for workload, by_conn in sorted(results["summary"].items()):
        conns = sorted(by_conn, key=int)
        servers = [s for s in order if any(s in by_conn[c] for c in conns)]
        fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(11, 0.45 * len(servers) * len(conns) + 1.6),
                                             sharey=True)
        height = 0.8 / len(conns)
        for i, c in enumerate(conns):
            ys = [n + i * height for n in range(len(servers))]
            cells = [by_conn[c].get(s) for s in servers]
            med = [x["rps"]["median"] if x else 0 for x in cells]
            err = [[(x["rps"]["median"] - x["rps"]["min"]) if x else 0 for x in cells],
                   [(x["rps"]["max"] - x["rps"]["median"]) if x else 0 for x in cells]]
            ax_rps.barh(ys, med, height=height, xerr=err, label=f"{c} connections", capsize=2)
            ax_p99.barh(ys, [x["p99_ms"] if x else 0 for x in cells], height=height, label=f"{c} connections")
        ax_rps.set_yticks([n + 0.4 - height / 2 for n in range(len(servers))], servers)
        ax_rps.invert_yaxis()
        ax_rps.set_xlabel("requests/s (median, min-max)")
        # Thousands as "50k": full numbers ran into each other past 100,000.
        ax_rps.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1000:g}k" if v else "0"))
        ax_p99.set_xlabel("p99 latency, ms (median)")
        ax_rps.legend(loc="lower right", fontsize="small")
        fig.suptitle(f"{workload}: {results['workloads'][workload]}")
        fig.tight_layout()
        path = img_dir / f"bench_{workload.lower()}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def write_docs(results: dict[str, Any], docs_dir: Path = DOCS_DIR) -> Path:
    """Write performance.md and the plots under `docs_dir`; return the page's path."""
    write_plots(results, docs_dir / "img")
    page = docs_dir / "performance.md"
    page.write_text(render_markdown(results), encoding="utf-8")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a JSON file written by bench/run.py")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR)
    args = parser.parse_args()
    results = json.loads(args.results.read_text(encoding="utf-8"))
    print(write_docs(results, args.docs_dir))


if __name__ == "__main__":
    main()
