"""Built-in endpoints answered on the I/O thread: health, readiness, metrics, and
(when docs are on) the OpenAPI document and the docs page.

A user route with the same path wins; the server warns about it at startup.
"""

from __future__ import annotations

from typing import Any, Callable

Answer = tuple[int, bytes | None, bytes, bytes | None]  # status, content type, body, extra headers

JSON = b"application/json"


class BuiltinEndpoints:
    """Maps configured paths to small handlers that return an :data:`Answer`."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        cfg = engine.config
        #: Gives ``(body, content_type)`` for the metrics path. A child of
        #: ``--processes N`` replaces it with one that adds its siblings' numbers in.
        self.render_metrics: Callable[[], tuple[bytes, str]] = engine.metrics.render
        #: path -> handler; the engine looks paths up here for every request.
        self.routes: dict[str, Callable[[], Answer]] = {cfg.health_path: self.health,
                                                         cfg.ready_path: self.ready}
        if cfg.metrics:
            self.routes[cfg.metrics_path] = self.metrics
        if cfg.docs:
            from .openapi import DocsEndpoints

            docs = DocsEndpoints(engine)
            self.routes[cfg.openapi_path] = docs.openapi
            self.routes[cfg.docs_path] = docs.page
            for path, fn in docs.assets().items():
                self.routes[path] = fn

    def paths(self) -> list[str]:
        return list(self.routes)

    def health(self) -> Answer:
        return 200, JSON, b'{"status":"ok"}', None

    def ready(self) -> Answer:
        if self.engine.ready():
            return 200, JSON, b'{"status":"ready"}', None
        return 503, JSON, b'{"status":"not ready"}', b"Retry-After: 1"

    def metrics(self) -> Answer:
        body, ctype = self.render_metrics()
        return 200, ctype.encode(), body, b"Cache-Control: no-store"
