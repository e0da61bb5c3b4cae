"""The bookkeeping behind direct execution (worker/inline.py), without sockets or
Lua: when a handler qualifies to run on the I/O thread, and when it loses that."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from rover_mt.worker.inline import (
    BATCH,
    BATCH_CPU_BUDGET,
    CLIP_RATIO,
    IDLE_RATIO,
    KEEP_RATIO,
    MAX_BODY,
    MAX_DEMOTIONS,
    WARMUP,
    InlineRunner,
)
from rover_mt.worker.runner import GC_EXCUSE

THRESHOLD = 50e-6
FAST, SLOW_AVG = 10e-6, 80e-6


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warn(self, msg: str, **fields: Any) -> None:
        self.lines.append(msg)


class _NoLua(InlineRunner):
    """The bookkeeping alone: a call costs what the test says (no runtime to time)."""

    cost = 0.0

    def measure_call_cost(self, gen: Any) -> float:
        return self.cost


def _runner(cost: float = 0.0) -> InlineRunner:
    r = _NoLua(SimpleNamespace(), THRESHOLD, Log())
    r.cost = cost
    gen = SimpleNamespace(id=7, bindings=[object(), object()], never_inline=frozenset())  # ids 1, 2
    r.install(gen, (None, None))
    return r


@pytest.fixture
def runner() -> InlineRunner:
    return _runner()


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


def test_the_cost_of_a_call_is_left_out_of_a_handlers_time():
    # A call of a handler that does nothing costs 40 µs here (a slow machine):
    # a run of 80 µs is 40 µs of the handler's own, under the 50 µs threshold.
    r = _runner(cost=40e-6)
    assert r.call_cost == 40e-6
    for _ in range(WARMUP):
        r.observe(7, 1, SLOW_AVG)
    assert r.runs_inline(7, 1, None)
    # In a batch the call's cost is shared: 8 requests at 80 µs each are 75 µs
    # of the handler's own per request, over it.
    for _ in range(4 * WARMUP):
        r.observe(7, 2, SLOW_AVG, 8)
    assert not r.runs_inline(7, 2, None)
    # ... and 2 requests at 45 µs each are 25 µs each: under it.
    for _ in range(4 * WARMUP):
        r.observe(7, 2, 45e-6, 2)
    assert r.runs_inline(7, 2, None)


def test_runs_cheaper_than_the_measured_call_count_as_zero():
    # Runs measured under the call's cost (noise) count as 0, not less: a
    # negative average would keep a handler inline long after it turned slow.
    r = _runner(cost=100e-6)
    for _ in range(4 * WARMUP):
        r.observe(7, 1, 10e-6)
    assert r.runs_inline(7, 1, None)
    # From an average of 0, runs clipped at CLIP_RATIO x threshold pass the
    # KEEP_RATIO limit after exactly this many runs (moving average, weight 1/8).
    expected, avg = 0, 0.0
    while avg <= KEEP_RATIO * THRESHOLD:
        avg += (CLIP_RATIO * THRESHOLD - avg) * 0.125
        expected += 1
    runs = 0
    while r.runs_inline(7, 1, None):
        r.observe(7, 1, 100e-6 + 10 * THRESHOLD)
        runs += 1
        assert runs <= expected
    assert runs == expected


def test_batches_are_sized_by_the_handlers_own_time(runner):
    for _ in range(4 * WARMUP):
        runner.observe(7, 1, FAST)
    assert runner.batch_limit(1) == int(BATCH_CPU_BUDGET / FAST)
    for _ in range(4 * WARMUP):
        runner.observe(7, 2, 1e-6)
    assert runner.batch_limit(2) == BATCH


def test_a_handler_as_cheap_as_the_call_gets_full_batches():
    # Its own time is 0 from the first run: once sized batches of 1.
    r = _runner(cost=100e-6)
    for _ in range(4 * WARMUP):
        r.observe(7, 1, 10e-6)
    assert r.batch_limit(1) == BATCH
    # One run over the call's cost, then thousands under it: the average decays
    # through subnormal floats, and the budget divided by one overflowed
    # (OverflowError in the I/O loop, dropping the requests held for the batch).
    r.observe(7, 2, 100e-6 + FAST)
    for _ in range(8000):
        r.observe(7, 2, 10e-6)
    assert 0.0 < r._avg[2] < 1e-300
    assert r.batch_limit(2) == BATCH


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


class _Probed(InlineRunner):
    """execute_batch() replaced: every call answers `status` and is timed as `seconds`."""

    status = 200
    seconds: float | None = 7e-6

    def execute_batch(self, reqs: list[Any]) -> Any:  # type: ignore[override]
        assert [r.hid for r in reqs] == [0]  # the built-in handler that does nothing
        return [(self.status, b"", 0, None, None)], self.seconds


@pytest.mark.parametrize("status, seconds, cost", [
    (200, 7e-6, 7e-6),
    (200, None, 0.0),  # every call overlapped a GC collection: nothing measured
    (500, 7e-6, 0.0),  # the runtime failed the call: runs are judged as measured
])
def test_the_cost_of_a_call_is_measured_on_install(status, seconds, cost):
    r = _Probed(SimpleNamespace(), THRESHOLD, Log())
    r.status, r.seconds = status, seconds
    r.install(SimpleNamespace(id=3, bindings=[object()], never_inline=frozenset()), (None, None))
    assert r.call_cost == cost


def test_a_handler_over_the_threshold_runs_inline_only_when_idle():
    r = _runner(cost=10e-6)
    # Runs as measured: the call's 10 µs plus the handler's own time.
    for _ in range(WARMUP):
        r.observe(7, 1, 10e-6 + 5 * THRESHOLD)  # over the threshold, under IDLE_RATIO x it
        r.observe(7, 2, 10e-6 + 2 * IDLE_RATIO * THRESHOLD)  # over both
    assert not r.runs_inline(7, 1, None) and r.runs_inline(7, 1, None, idle=True)
    assert not r.runs_inline(7, 2, None) and not r.runs_inline(7, 2, None, idle=True)
    # The same limits as inline runs: bodies, generations, demotions.
    assert not r.runs_inline(7, 1, b"x" * (MAX_BODY + 1), idle=True)
    assert not r.runs_inline(8, 1, None, idle=True)
    r._judge(req(1), 1.0, 1)  # a run of a second on the I/O thread
    assert not r.runs_inline(7, 1, None, idle=True)


def test_a_handler_needs_its_warmup_runs_to_run_inline_when_idle():
    r = _runner()
    for i in range(WARMUP - 1):
        r.observe(7, 1, 5 * THRESHOLD)
        assert not r.runs_inline(7, 1, None, idle=True), i
    r.observe(7, 1, 5 * THRESHOLD)
    assert r.runs_inline(7, 1, None, idle=True)
