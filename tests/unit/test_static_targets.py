"""AppGeneration.static_targets: the one-lookup route for a path without
parameters must give exactly what the built-in check, the router and `targets`
give (Engine.handle_request takes it first). Real Lua loading, no sockets."""

from __future__ import annotations

import pytest

from rover_mt import App
from rover_mt.generation import AppGeneration
from rover_mt.routing import ROUTE_METHODS, MatchKind
from rover_mt.worker.runtime import AppSource
from tests.helpers import write_app

APP = """
local api = rover.server {}
function api.hello.get(ctx) return { route = ctx.route } end
function api.hello.post(ctx) return { route = ctx.route, posted = true } end
function api.users.p_id.get(ctx) return { id = ctx:params().id } end
function api.users.me.get(ctx) return { me = true } end
api.files["p_*path"] = { get = function(ctx) return { path = ctx:params().path } end }
-- The built-in liveness path, routed by the app: the app's handler answers it.
function api.health.get(ctx) return { mine = true } end
function api.only_put.put(ctx) return { put = true } end
return api
"""

# Static paths, paths the fast table must not hold, and near misses.
PATHS = ["/hello", "/users/me", "/health", "/only_put", "/users/7", "/files/a/b",
         "/hello/", "/Hello", "/metrics", "/", "/nope", "/users", "/hello%20"]


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> AppGeneration:
    path = write_app(tmp_path_factory.mktemp("static"), APP)
    return AppGeneration.load(AppSource.read(path), engine="lua54")


def test_static_targets_are_the_routers_own_answers(gen: AppGeneration) -> None:
    expected = {}
    for method in sorted(ROUTE_METHODS | {"HEAD", "BREW"}):
        for path in PATHS:
            resolution, _entry, values = gen.router.resolve(method, path)
            if resolution[0] is MatchKind.FOUND and not values and path in gen.static_paths:
                expected[(method, path)] = gen.targets[(resolution[1], resolution[2])]
    assert gen.static_targets == expected
    # HEAD runs the GET handler; a method a path lacks has no entry (it is a 405).
    assert gen.static_targets[("HEAD", "/hello")] == gen.static_targets[("GET", "/hello")]
    assert ("DELETE", "/hello") not in gen.static_targets
    assert ("GET", "/only_put") not in gen.static_targets
    assert ("GET", "/users/7") not in gen.static_targets  # a parameter: the router's job


def test_answers_through_the_engine(tmp_path) -> None:
    with App.load(write_app(tmp_path, APP), workers=1, log_level="nope") as app:
        for _ in range(40):  # on a worker first, then inline once the handler qualifies
            assert app.handle("GET", "/hello").json() == {"route": "/hello"}
        assert app.handle("POST", "/hello").json() == {"route": "/hello", "posted": True}
        head = app.handle("HEAD", "/hello")
        assert (head.status, head.body) == (200, b"")
        assert app.handle("GET", "/health").json() == {"mine": True}
        assert app.handle("GET", "/users/me").json() == {"me": True}
        assert app.handle("GET", "/users/7").json() == {"id": "7"}
        assert app.handle("GET", "/files/a/b").json() == {"path": "a/b"}
        assert app.handle("DELETE", "/hello").status == 405
        assert app.handle("GET", "/only_put").status == 405
        assert app.handle("GET", "/hello/").status == 404
        assert app.handle("GET", "/metrics").status == 200  # still the built-in one
