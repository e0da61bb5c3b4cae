"""One loaded version of the app: its router, handler ids and options.

The app is loaded once here (in the calling thread) to validate it and read its
route table; each worker then loads its own runtime from the same source text and
binds the same handler ids. A reload builds a new generation beside the old one.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from .errors import AppLoadError
from .routing import (
    ROUTE_METHODS,
    MatchKind,
    RouteConflict,
    Router,
    RouteSpec,
    SegmentKind,
    parse_template,
)
from .worker.runtime import AppSource, LuaApp, LuaRoute

_generation_ids = itertools.count(1)


def _param_names(template: str) -> tuple[str, ...]:
    return tuple(s.value for s in parse_template(template) if s.kind is not SegmentKind.STATIC)


class AppGeneration:
    """Router + handler ids for one version of the app source."""

    def __init__(self, source: AppSource, *, engine: str, options: dict[str, Any],
                 routes: list[LuaRoute]) -> None:
        self.id = next(_generation_ids)
        self.source = source
        self.engine = engine
        self.options = options
        self.lua_routes = routes
        self.route_docs: dict[tuple[str, str], dict[str, Any]] = {}
        by_template: dict[str, list[LuaRoute]] = {}
        for r in routes:
            by_template.setdefault(r.template, []).append(r)
        specs = [
            RouteSpec(t, frozenset(r.method for r in rs), rs[0].source.rsplit(".", 1)[0])
            for t, rs in by_template.items()
        ]
        try:
            self.router = Router(specs)
        except RouteConflict as exc:
            raise AppLoadError(f"{source.path.name}: {exc}") from None
        # User routes that shadow built-in endpoints (/health ...) win over them.
        self.static_paths = frozenset(
            spec.template for spec in self.router.routes
            if all(seg.kind is SegmentKind.STATIC for seg in parse_template(spec.template)))
        # Per-route deadlines from rover.route { timeout = ... } (per template: the
        # tightest of its methods' timeouts applies to the whole path).
        self.route_timeouts: dict[int, float] = {}
        index_of = {spec.template: i for i, spec in enumerate(self.router.routes)}
        for r in routes:
            if r.timeout is not None:
                i = index_of[r.template]
                self.route_timeouts[i] = min(r.timeout, self.route_timeouts.get(i, r.timeout))
        # handler id per (route index, METHOD); ids are dense so Lua can use an array.
        self.handler_ids: dict[tuple[int, str], int] = {}
        self.bindings: list[tuple[int, str, str, tuple[str, ...]]] = []
        for index, spec in enumerate(self.router.routes):
            names = _param_names(spec.template)
            for method in sorted(spec.methods):
                hid = len(self.bindings) + 1
                self.handler_ids[(index, method)] = hid
                self.bindings.append((hid, spec.template, method, names))
        # What the I/O thread needs per (route index, run method) once a request has
        # matched, looked up once instead of three times per request: the handler
        # id, the route's template (metrics label, ctx.route) and its own timeout.
        self.targets: dict[tuple[int, str], tuple[int, str, float | None]] = {
            (index, method): (hid, self.router.routes[index].template,
                              self.route_timeouts.get(index))
            for (index, method), hid in self.handler_ids.items()
        }
        # The commonest request, a method on a path without parameters, answered
        # by one lookup of (method, raw path) instead of the built-in check, the
        # router and `targets` (Engine.handle_request). Exactly what those would
        # give: the entries are the router's own answers for these strings, and
        # built-in endpoints never shadow a path the app routes (static_paths).
        self.static_targets: dict[tuple[str, str], tuple[int, str, float | None]] = {}
        for path in self.static_paths:
            for method in ROUTE_METHODS:
                resolution, _entry, values = self.router.resolve(method, path)
                if resolution[0] is MatchKind.FOUND and not values:
                    self.static_targets[(method, path)] = self.targets[(resolution[1], resolution[2])]
        # Handlers declared with rover.route { inline = false }: never on the I/O thread.
        self.never_inline = frozenset(
            self.handler_ids[(index_of[r.template], r.method)] for r in routes if not r.inline)

    @classmethod
    def load(cls, source: AppSource, *, engine: str, memory_limit: int = 0) -> "AppGeneration":
        """Load and validate the app in a scratch runtime; raises AppLoadError."""
        probe = LuaApp(source, engine=engine, memory_limit=memory_limit)
        gen = cls(source, engine=engine, options=probe.config, routes=probe.routes())
        from .openapi.introspect import describe_routes

        # What OpenAPI needs from the Lua side (schemas, rover.route docs), read once.
        gen.route_docs = describe_routes(probe, gen.lua_routes, source=source)
        return gen

    def new_lua_app(self, *, memory_limit: int, worker_id: int, worker_count: int,
                    expose_errors: bool, get_field: Callable, shared_call: Callable,
                    log: Callable) -> LuaApp:
        """A fresh runtime for one worker thread, with every handler bound."""
        app = LuaApp(self.source, engine=self.engine, memory_limit=memory_limit,
                     worker_id=worker_id, worker_count=worker_count,
                     expose_errors=expose_errors, get_field=get_field,
                     shared_call=shared_call, log=log)
        for hid, template, method, names in self.bindings:
            app.bind(hid, template, method, names)
        return app

    def route_table(self) -> list[tuple[str, str, str]]:
        """(METHOD, template, source) rows for `rover-mt routes`."""
        return [(r.method, r.template, f"{self.source.path.name}: {r.source}") for r in self.lua_routes]
