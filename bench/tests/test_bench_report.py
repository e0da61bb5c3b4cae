"""Rounds are summarized into median [min-max], targets are judged, and the page renders."""

import pytest
import report
import targets
from servers import rover_mt_command


def _run(server, workload, conns, rps, round_=1):
    return {"server": server, "workload": workload, "connections": conns, "round": round_, "rps": rps,
            "latency_p50_ms": 1.0, "latency_p99_ms": 2.0 * round_, "non_2xx": 0, "requests": 1000,
            "socket_errors": {"connect": 0, "read": round_, "write": 0, "timeout": 0}, "rss_kib": 1000 * round_}


RUNS = [_run("rover-mt", "W3", 50, rps, i + 1) for i, rps in enumerate([300, 100, 200])] + \
       [_run("uvicorn-httptools", "W3", 50, rps, i + 1) for i, rps in enumerate([100, 150, 200])]


def test_summary_counts_only_successful_answers():
    run = dict(_run("rover-mt", "W4", 200, 1000), ok_rps=400.0)
    cell = report.summarize([run])["W4"]["200"]["rover-mt"]
    assert cell["rps"]["median"] == 400.0
    assert cell["all_answers_rps"] == 1000


def test_summary_takes_median_min_max():
    cell = report.summarize(RUNS)["W3"]["50"]["rover-mt"]
    assert cell["rps"] == {"median": 200, "min": 100, "max": 300}
    assert cell["p99_ms"] == 4.0
    assert cell["errors"] == 1 + 2 + 3
    assert cell["rss_kib_max"] == 3000
    assert cell["rounds"] == 3


def test_targets_use_ratio_of_medians():
    rows = targets.evaluate(report.summarize(RUNS))
    w3 = [r for r in rows if r["workload"] == "W3"]
    assert len(w3) == 1
    assert w3[0]["ratio"] == pytest.approx(200 / 150)
    assert w3[0]["met"] is True
    slower = report.summarize([_run("rover-mt", "W3", 50, 100), _run("uvicorn-httptools", "W3", 50, 100)])
    assert [r["met"] for r in targets.evaluate(slower) if r["workload"] == "W3"] == [False]
    assert all(r["met"] is None for r in rows if r["workload"] == "W1")


def _results():
    summary = report.summarize(RUNS)
    return {
        "started": "2026-01-01T00:00:00+00:00", "elapsed_s": 60.0,
        "load_average_start": [0.5, 0.25, 0.125], "load_average_end": [3.0, 2.0, 1.0],
        "mode": {"quick": True, "rounds": 3, "duration_s": 2, "connections": [50]},
        "machine": {"cores": 2, "cpu_model": "x", "memory_gib": 1, "os": "linux", "python": "3.11",
                    "python_implementation": "CPython", "python_packages": {"lupa": "2.8"},
                    "debian_packages": {"wrk": "4"}, "lua_engines": {"lua54": "Lua 5.4", "luajit21": "LuaJIT"}},
        "workloads": {"W3": "POST /users"},
        "servers": {"rover-mt": {"description": "r", "status": "ok", "rss_start_kib": 2048},
                    "uvicorn-httptools": {"description": "u", "status": "ok"}},
        "summary": summary, "targets": targets.evaluate(summary),
        "overload": {"skipped": "rover-mt did not start"},
    }


def test_markdown():
    text = report.render_markdown(_results())
    assert "| rover-mt | **200** [100-300] | 1.00 / 4.00 | 6 | 2.9 |" in text
    assert "| W3 | 50 | rover-mt / uvicorn-httptools | 1.33 | >= 1.2 | yes |" in text
    assert "Quick mode" in text and "rover-mt did not start" in text
    assert "at the start: 0.50, 0.25, 0.12; at the end: 3.00, 2.00, 1.00" in text


def test_docs_with_plots(tmp_path):
    pytest.importorskip("matplotlib")
    page = report.write_docs(_results(), tmp_path)
    assert "![W3](img/bench_w3.png)" in page.read_text()
    png = tmp_path / "img" / "bench_w3.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rover_command_flags():
    argv = rover_mt_command(1234, {"workers": 1, "queue_bound": 8, "docs": True})
    assert argv[argv.index("--port") + 1] == "1234"
    assert argv[argv.index("--queue-bound") + 1] == "8"
    assert "--no-access-log" in argv and "--docs" in argv
    assert argv[argv.index("--log-level") + 1] == "nope"
