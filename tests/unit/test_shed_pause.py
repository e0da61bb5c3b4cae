"""The I/O thread's pause after shedding (Engine._shed_pause): only in retry
storms, a multiple of the time spent shedding, capped, and reset every iteration."""

from __future__ import annotations

import time
from types import SimpleNamespace

from rover_mt.engine import Engine


def state(count: int, shedding_for: float) -> SimpleNamespace:
    return SimpleNamespace(_shed_count=count, _shed_since=time.monotonic() - shedding_for,
                           SHED_STORM=Engine.SHED_STORM, SHED_YIELD_MAX=Engine.SHED_YIELD_MAX,
                           SHED_YIELD_RATIO=Engine.SHED_YIELD_RATIO)


def test_nothing_shed_means_no_pause():
    s = SimpleNamespace(_shed_count=0, _shed_since=0.0, SHED_STORM=Engine.SHED_STORM,
                        SHED_YIELD_MAX=Engine.SHED_YIELD_MAX, SHED_YIELD_RATIO=Engine.SHED_YIELD_RATIO)
    assert Engine._shed_pause(s) == 0.0


def test_a_few_sheds_per_iteration_do_not_pause_but_reset():
    s = state(Engine.SHED_STORM - 1, 0.004)
    assert Engine._shed_pause(s) == 0.0
    assert s._shed_count == 0 and s._shed_since == 0.0


def test_a_storm_pauses_a_multiple_of_the_shedding_time_capped():
    s = state(Engine.SHED_STORM, 0.001)
    pause = Engine._shed_pause(s)
    ratio = Engine.SHED_YIELD_RATIO
    assert ratio > 1
    assert ratio * 0.001 <= pause < ratio * 0.00125
    assert s._shed_count == 0 and s._shed_since == 0.0
    assert Engine._shed_pause(state(10 * Engine.SHED_STORM, 1.0)) == Engine.SHED_YIELD_MAX
