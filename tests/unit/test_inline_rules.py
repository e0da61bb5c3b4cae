"""The bookkeeping behind direct execution (worker/inline.py), without sockets or
Lua: when a handler qualifies to run on the I/O thread, and when it loses that."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from rover_mt.worker.inline import CLIP_RATIO, KEEP_RATIO, MAX_BODY, MAX_DEMOTIONS, WARMUP, InlineRunner
from rover_mt.worker.runner import GC_EXCUSE

THRESHOLD = 50e-6
FAST, SLOW_AVG = 10e-6, 80e-6


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warn(self, msg: str, **fields: Any) -> None:
        self.lines.append(msg)


@pytest.fixture
def runner() -> InlineRunner:
    r = InlineRunner(SimpleNamespace(), THRESHOLD, Log())
    gen = SimpleNamespace(id=7, bindings=[object(), object()], never_inline=frozenset())  # ids 1, 2
    r.install(gen, (None, None))
    return r


def req(hid: int = 1) -> Any:
    return SimpleNamespace(hid=hid, route="/r", method="GET", generation=SimpleNamespace(id=7))


def test_qualifies_after_warmup_runs_under_the_threshold(runner):
    for i in range(WARMUP - 1):
        runner.observe(7, 1, FAST)
        assert not runner.runs_inline(7, 1, None), i
    runner.observe(7, 1, FAST)
    assert runner.runs_inline(7, 1, None)
    assert not runner.runs_inline(7, 2, None)  # per handler
    assert not runner.runs_inline(8, 1, None)  # per generation


def test_average_over_the_threshold_keeps_it_on_workers(runner):
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, SLOW_AVG)
    assert not runner.runs_inline(7, 1, None)
    # It qualifies once its average comes down.
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, FAST)
    assert runner.runs_inline(7, 1, None)


def test_an_inline_handler_near_the_threshold_stays_inline(runner):
    # Qualifying needs an average under the threshold; staying needs one under
    # KEEP_RATIO times it, so a handler hovering at the threshold does not flip.
    near = THRESHOLD * 1.1
    for _ in range(4 * WARMUP):
        runner.observe(7, 2, near)
    assert not runner.runs_inline(7, 2, None)  # never qualified: still on workers
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, FAST)
    assert runner.runs_inline(7, 1, None)
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, near)
    assert runner.runs_inline(7, 1, None)  # qualified before: stays
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, THRESHOLD * KEEP_RATIO * 1.2)
    assert not runner.runs_inline(7, 1, None)  # clearly slower: back to workers
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, near)
    assert not runner.runs_inline(7, 1, None)  # must get under the threshold again


def test_a_rare_long_run_does_not_move_a_fast_handler(runner):
    # One run in 16 takes 20 x the threshold (an interrupt storm, a GC step):
    # clipped in the deciding average, it cannot push a fast handler over.
    for i in range(8 * WARMUP):
        runner.observe(7, 1, THRESHOLD * 20 if i % 16 == 15 else FAST)
        if i >= 2 * WARMUP:
            assert runner.runs_inline(7, 1, None), i
    # The unclipped cost (which sizes batches) does see them.
    assert runner.average(7, 1) > THRESHOLD * CLIP_RATIO / 16
    # A handler slower than the threshold on every run never qualifies.
    for _ in range(8 * WARMUP):
        runner.observe(7, 2, THRESHOLD * 1.3)
    assert not runner.runs_inline(7, 2, None)


def test_big_bodies_never_run_inline(runner):
    for _ in range(WARMUP):
        runner.observe(7, 1, FAST)
    assert runner.runs_inline(7, 1, b"x" * MAX_BODY)
    assert not runner.runs_inline(7, 1, b"x" * (MAX_BODY + 1))


def test_other_generations_do_not_count(runner):
    for _ in range(2 * WARMUP):
        runner.observe(6, 1, FAST)
    assert not runner.runs_inline(7, 1, None)


def test_each_demotion_doubles_the_runs_needed_and_the_last_one_is_final(runner):
    for _ in range(WARMUP):
        runner.observe(7, 1, FAST)
    need = WARMUP
    for demotion in range(1, MAX_DEMOTIONS + 1):
        assert runner.runs_inline(7, 1, None), demotion
        runner._demote(req(), 0.005)
        assert not runner.runs_inline(7, 1, None)
        need *= 2
        for _ in range(need - 1):
            runner.observe(7, 1, FAST)
        assert not runner.runs_inline(7, 1, None), demotion
        runner.observe(7, 1, FAST)
        assert runner.runs_inline(7, 1, None), demotion
    # The (MAX_DEMOTIONS + 1)-th slow run is final.
    runner._demote(req(), 0.005)
    for _ in range(64 * WARMUP):
        runner.observe(7, 1, FAST)
    assert not runner.runs_inline(7, 1, None)
    assert "from now on" in runner.logger.lines[-1]
    assert len(runner.logger.lines) == MAX_DEMOTIONS + 1


def test_install_resets_the_record(runner):
    for _ in range(WARMUP):
        runner.observe(7, 1, FAST)
    gen = SimpleNamespace(id=8, bindings=[object(), object()], never_inline=frozenset({2}))
    runner.install(gen, (None, None))
    assert not runner.runs_inline(8, 1, None)
    assert runner.gen_id == 8
    # Handler 2 is declared rover.route { inline = false }: never, however fast.
    for _ in range(8 * WARMUP):
        runner.observe(8, 1, FAST)
        runner.observe(8, 2, FAST)
    assert runner.runs_inline(8, 1, None)
    assert not runner.runs_inline(8, 2, None)


class _Timed(InlineRunner):
    """execute() replaced: burns `cpu` seconds of CPU, collecting garbage first
    when `collect` is set."""

    cpu = 0.0
    collect = False

    def execute(self, req: Any) -> Any:  # type: ignore[override]
        if self.collect:
            import gc
            gc.collect(0)
        end = time.thread_time() + self.cpu
        while time.thread_time() < end:
            pass
        return "answer"


@pytest.mark.parametrize("cpu, collect, counted", [
    (0.002, False, True),
    (0.002, True, False),  # short and a collection ran: not the handler's cost
    (GC_EXCUSE + 0.02, True, True),  # far longer than any collection: counted anyway
])
def test_timed_runs_excuse_only_short_runs_during_a_collection(cpu, collect, counted):
    r = _Timed(SimpleNamespace(), THRESHOLD, Log())
    r.cpu, r.collect = cpu, collect
    answer, seconds = r.execute_timed(req())
    assert answer == "answer"
    assert (seconds is not None) is counted
    if counted:
        assert seconds >= cpu
