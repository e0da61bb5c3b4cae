"""Fixtures for the Lua library tests: every test runs on both engines."""

from __future__ import annotations

from typing import Callable

import pytest
from lua_harness import ENGINES, LuaHarness


@pytest.fixture(params=sorted(ENGINES))
def lua(request: pytest.FixtureRequest) -> LuaHarness:
    """A fresh harness per test, parametrized over both engines."""
    return LuaHarness(ENGINES[request.param])


@pytest.fixture
def make_harness() -> Callable[..., LuaHarness]:
    return LuaHarness
