"""The timing loop of bench/run.py: what it runs, in which order, and the pause
that lets a warm-up's leftover requests drain before the first timed run."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import pytest
import run
from wrkrun import WrkResult


class _Server:
    """What _time_all reads of a RunningServer."""

    def __init__(self, name: str, workloads: tuple[str, ...]) -> None:
        self.spec = SimpleNamespace(name=name, workloads=workloads)
        self.port = 1
        self.pid = 1
        self.process = SimpleNamespace(poll=lambda: None, returncode=None)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []

    def fake_wrk(url: str, conns: int, duration: float, script: Any = None) -> WrkResult:
        seen.append(("wrk", url, conns, duration))
        return WrkResult(requests=100, seconds=duration, rps=1000.0, latency_p50_ms=1.0,
                         latency_p90_ms=1.5, latency_p99_ms=2.0, non_2xx=0)

    monkeypatch.setattr(run, "run_wrk", fake_wrk)
    monkeypatch.setattr(run.time, "sleep", lambda s: seen.append(("sleep", s)))
    monkeypatch.setattr(run, "tree_memory", lambda pid: SimpleNamespace(rss_kib=1, pss_kib=1))
    return seen


def _args(rounds: int, warmup: float) -> argparse.Namespace:
    return argparse.Namespace(only=["W1"], rounds=rounds, connections=[50], warmup=warmup, duration=3.0)


def test_a_warm_up_is_followed_by_the_settle_pause_then_the_timed_run(calls, tmp_path):
    running = {"a": _Server("a", ("W1",)), "b": _Server("b", ("W4",))}
    info = {"a": {"status": "ok"}, "b": {"status": "ok"}}
    runs = run._time_all(_args(rounds=2, warmup=2.0), running, tmp_path, info)
    url = "http://127.0.0.1:1/hello"
    assert calls == [
        ("wrk", url, 50, 2.0),  # warm-up, first round only
        ("sleep", run.SETTLE_AFTER_WARMUP_S),
        ("wrk", url, 50, 3.0),
        ("wrk", url, 50, 3.0),  # round 2: no warm-up, no pause
    ]
    assert [(r["round"], r["server"]) for r in runs] == [(1, "a"), (2, "a")]  # b has no W1


def test_no_warm_up_no_pause(calls, tmp_path):
    run._time_all(_args(rounds=1, warmup=0.0), {"a": _Server("a", ("W1",))}, tmp_path, {"a": {}})
    assert [c[0] for c in calls] == ["wrk"]
