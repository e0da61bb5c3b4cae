"""The embedding API: :class:`Server` (sockets) and :class:`App` (no sockets).

Both start the same :class:`~rover_mt.engine.Engine`: an I/O loop thread, the
bounded queue and N Lua worker threads. Start stages run in order (load the app,
resolve settings, start loop and workers, bind), and stop runs them in reverse.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import orjson

from .config import Config, check_app_options
from .engine import Engine
from .errors import AppLoadError
from .generation import AppGeneration
from .observe.logger import Logger
from .request import Ticket
from .worker.runtime import AppSource

ENGINE_NAMES = {"lua54": "Lua 5.4", "luajit": "LuaJIT 2.1"}


def load_app(app: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
             settings: Mapping[str, Any] | None = None) -> tuple[AppGeneration, Config]:
    """Load and validate an app file and resolve its settings.

    Settings come from defaults < ``rover.server{}`` < `env` (``ROVER_MT_*``) <
    `settings` (flags or Python arguments). Raises AppLoadError or ConfigError.
    """
    source = AppSource.read(app)
    flags = dict(settings or {})
    # The engine decides how the app is loaded, and the app may choose it: load with
    # the engine the environment and flags ask for, then again if the app disagrees.
    pre = Config.resolve(env=env, flags=flags, app_source=source.path.name)
    gen = AppGeneration.load(source, engine=pre.lua)
    check_app_options(gen.options, source=source.path.name)
    config = Config.resolve(app=gen.options, env=env, flags=flags, app_source=source.path.name)
    if config.lua != gen.engine:
        gen = AppGeneration.load(source, engine=config.lua)
    return gen, config


class Server:
    """Serve a Lua app over HTTP in background threads.

    >>> with Server("examples/hello.lua", port=0, workers=2) as srv:   # doctest: +SKIP
    ...     print(srv.url)
    http://127.0.0.1:54321

    Keyword arguments are settings (``port=0``, ``workers=4``, ...); they win over
    the app's ``rover.server{}`` options and, when `env` is given, over
    ``ROVER_MT_*`` variables from it. ``stop()`` and ``reload()`` are thread-safe.
    """

    def __init__(self, app: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
                 logger: Logger | None = None, **settings: Any) -> None:
        self.app_path = Path(app)
        self._env = env
        self._settings = settings
        self.generation, self.config = load_app(app, env=env, settings=settings)
        self.engine = Engine(self.config, self.generation, logger=logger)
        self.listener: Any = None
        self._started = False
        self._stop_lock = threading.Lock()
        self._stopped = threading.Event()

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> "Server":
        """Bind, start the loop and the workers. Raises StartupError subclasses."""
        if self._started:
            return self
        from .net.listener import Listener, bind_socket

        cfg = self.config
        sock = bind_socket(cfg.host, cfg.port, reuse_port=cfg.processes > 1)

        def attach(loop: Any) -> None:
            self.listener = Listener(self.engine, sock)
            self.listener.start(loop)

        try:
            self.engine.start(before_run=attach)
        except BaseException:
            sock.close()
            raise
        self._started = True
        for path in self.engine.builtins.paths():
            if path in self.generation.static_paths:
                self.engine.logger.warn(f"route {path} shadows the built-in endpoint at that path")
        docs = f", docs {self.url}{cfg.docs_path}" if cfg.docs else ""
        self.engine.logger.info(
            f"rover-mt listening on {self.url} ({cfg.workers} workers, "
            f"{ENGINE_NAMES[self.generation.engine]}, http {self.listener.http_backend}{docs})")
        return self

    @property
    def port(self) -> int:
        """The real port (useful with ``port=0``)."""
        if self.listener is None:
            raise RuntimeError("server not started")
        return self.listener.port

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def stop(self, timeout: float | None = None) -> None:
        """Graceful stop: refuse new connections, finish queued and in-flight
        requests (with ``Connection: close``), close idle ones. Idempotent."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        if not self._started:
            return
        listener = self.listener
        self.engine.stop(timeout, before=listener.begin_close if listener else None,
                         after=listener.abort_all if listener else None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` was called (from another thread or a signal)."""
        return self._stopped.wait(timeout)

    def reload(self) -> bool:
        """Load the app file again and swap it in for new requests.

        In-flight requests finish on the old version. If the new version fails to
        load, the old one keeps serving and the error is logged; returns False.
        """
        try:
            gen, _ = load_app(self.app_path, env=self._env, settings=self._settings)
        except Exception as exc:
            self.engine.logger.error(f"reload failed, still serving the previous app: {exc}")
            return False
        self.engine.swap_generation(gen)
        self.generation = gen
        self.engine.logger.info(f"reloaded {self.app_path.name}")
        return True

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass(frozen=True)
class Response:
    """What :meth:`App.handle` returns."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Waiter:
    """Receives one result on the loop thread and hands it to the calling thread."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: Future[Any] = Future()

    def on_result(self, ticket: Ticket, result: Any) -> None:
        self.future.set_result(result)


def _parse_response(data: bytes) -> Response:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    raw = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        raw.append((name.strip(), value.strip()))
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(status, headers, body, raw)


class App:
    """A loaded app without sockets: the same router, workers and limits.

    >>> app = App.load("examples/hello.lua", workers=2)          # doctest: +SKIP
    >>> app.handle("GET", "/hello").json()                       # doctest: +SKIP
    {'message': 'Hello, World!'}
    """

    def __init__(self, generation: AppGeneration, config: Config, logger: Logger | None = None) -> None:
        self.generation = generation
        self.config = config
        self.engine = Engine(config, generation, logger=logger)
        self.engine.start()
        self._closed = False

    @classmethod
    def load(cls, app: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
             logger: Logger | None = None, **settings: Any) -> "App":
        """Load `app` and start its workers. Raises AppLoadError / ConfigError."""
        gen, config = load_app(app, env=env, settings=settings)
        return cls(gen, config, logger)

    def handle(self, method: str, path: str, headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
               body: bytes | str = b"", *, client_ip: str = "127.0.0.1") -> Response:
        """Run one request through the router and a worker; safe from any thread.

        `path` may include a query string. Raises RuntimeError after :meth:`close`.
        """
        if self._closed:
            raise RuntimeError("App is closed")
        items = headers.items() if isinstance(headers, Mapping) else (headers or [])
        hdrs = tuple((k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in items)
        data = body.encode() if isinstance(body, str) else bytes(body)
        waiter = _Waiter()
        engine = self.engine

        def start() -> None:
            ticket = engine.new_ticket(waiter)
            result = engine.handle_request(ticket, method, path.encode("latin-1"), hdrs,
                                           data or None, client_ip.encode(), True, time.monotonic())
            if result is not None:
                waiter.future.set_result(result)

        engine.call_in_loop(start)
        # (status, bytes, body length, ...): the response bytes are the second item.
        raw = waiter.future.result(timeout=self.config.handler_timeout + 10)[1]
        return _parse_response(raw)

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.engine.stop()

    def __enter__(self) -> "App":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["App", "AppLoadError", "Response", "Server", "load_app"]
