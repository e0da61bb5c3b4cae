"""The `rover-mt` command: serve, routes, openapi, check.

The only module that prints usage or exits. Exit codes: 0 after a clean stop,
2 for a bad setting or an app that fails to load (one line naming the file), 1 for
anything unexpected.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from typing import Any, Sequence

from .config import ConfigError, add_arguments, flags_from_namespace
from .errors import StartupError

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rover-mt", description="Serve Rover-style Lua HTTP APIs with parallel Lua workers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the app over HTTP")
    serve.add_argument("app", help="path to the app's .lua file")
    add_arguments(serve)
    for name, text in (("routes", "print the route table"),
                       ("openapi", "print the OpenAPI document"),
                       ("check", "load the app and report problems")):
        p = sub.add_parser(name, help=text)
        p.add_argument("app", help="path to the app's .lua file")
        add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        flags = flags_from_namespace(args)
        if args.command == "serve":
            return _serve(args.app, flags)
        return _offline(args.command, args.app, flags)
    except (StartupError, ConfigError) as exc:
        print(f"rover-mt: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_OK


def _offline(command: str, app: str, flags: dict[str, Any]) -> int:
    from .server import load_app

    gen, config = load_app(app, env=os.environ, settings=flags)
    if command == "routes":
        rows = gen.route_table()
        width = max([len(r[1]) for r in rows] + [8])
        for method, template, where in rows:
            print(f"{method:<8} {template:<{width}}  {where}")
        return EXIT_OK
    if command == "openapi":
        import orjson

        from .openapi import build_document

        sys.stdout.write(orjson.dumps(build_document(gen, config), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return EXIT_OK
    print(f"{app}: OK ({len(gen.lua_routes)} routes, {len(gen.router.routes)} paths, "
          f"engine {gen.engine})")
    return EXIT_OK


def _raise_fd_limit(max_connections: int) -> None:
    """Lift the soft open-files limit towards the hard one so `max_connections`
    (plus room for the listener, logs and Lua modules) can really be open, as
    servers usually do; never lowers it."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = max_connections + 256
        if soft != resource.RLIM_INFINITY and soft < want:
            target = want if hard == resource.RLIM_INFINITY else min(want, hard)
            if target > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass  # not available here; the accept loop pauses on EMFILE instead


def _serve(app: str, flags: dict[str, Any]) -> int:
    from .procs import HURRY_SIGNAL, ChildRole, ChildSpec
    from .server import Server

    # A child of `--processes N` is this same command, marked by an env variable.
    spec = ChildSpec.from_env(os.environ)
    child = ChildRole(spec) if spec is not None else None
    if child is not None:
        flags = child.settings(flags)
        child.quiet_banner()
    server = Server(app, env=os.environ, **flags)
    _raise_fd_limit(server.config.max_connections)
    if child is None and server.config.processes > 1:
        config, engine_name, logger = server.config, server.generation.engine, server.engine.logger
        del server  # only the children serve; the parent keeps no Lua runtimes
        return _supervise(app, flags, config, engine_name, logger)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop_requested.is_set() and child is None:
            # Second signal: stop now, without waiting for in-flight requests.
            os._exit(EXIT_OK)
        stop_requested.set()

    def stop_now(signum: int, _frame: Any) -> None:
        os._exit(EXIT_OK)

    signal.signal(signal.SIGTERM, on_signal)
    if child is None:
        signal.signal(signal.SIGINT, on_signal)
    else:
        # A child may get the same stop twice (from a terminal's Ctrl-C or
        # systemd's SIGTERM to the whole group, and from its supervisor), so a
        # repeat is no hurry; the supervisor asks for "now" with its own signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(HURRY_SIGNAL, stop_now)
    server.start()
    # The process is ours: move everything loaded so far (modules, Lua runtimes'
    # wrappers, the app) out of the cyclic GC's reach. A full collection under load
    # then walks only request-time objects: about 2 ms instead of 9-10 ms with 500
    # busy connections, and those pauses stall every connection at once.
    gc.collect()
    gc.freeze()
    if child is not None:
        child.attach(server)
    watcher = None
    if server.config.reload:
        from .reload import ReloadWatcher

        watcher = ReloadWatcher(server)
        watcher.start()
    try:
        while not stop_requested.wait(0.5):
            if child is not None and child.orphaned():
                break
    finally:
        if watcher is not None:
            watcher.stop()
        server.stop()
        if child is not None:
            child.detach()
    return EXIT_OK


def _supervise(app: str, flags: dict[str, Any], config: Any, engine_name: str, logger: Any) -> int:
    """Run `config.processes` server processes on one port until a signal stops them."""
    from .procs import Supervisor

    supervisor = Supervisor(app, flags, config, engine_name=engine_name, env=os.environ, logger=logger)

    def on_signal(signum: int, _frame: Any) -> None:
        supervisor.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return supervisor.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
