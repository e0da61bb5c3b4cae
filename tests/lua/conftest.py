"""Fixtures for the Lua API tests: an App (no sockets) over a Lua source."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rover_mt import App
from tests.helpers import write_app


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """make_app(lua_source, **settings) -> a started App, closed after the test."""
    apps: list[App] = []

    def make(source: str, **settings: object) -> App:
        path = write_app(tmp_path, source)
        settings.setdefault("workers", 2)
        settings.setdefault("docs", False)
        settings.setdefault("log_level", "nope")
        app = App.load(path, **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()
