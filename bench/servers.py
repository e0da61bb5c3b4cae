"""The servers being compared, and how to start, probe and stop each one.

Every server is bound to 127.0.0.1 on a free port, runs in its own process
group (so stopping it stops its workers too), and writes its output to a log
file in a scratch folder.  rover-mt's command line lives in one place:
`rover_mt_command`.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
ROVER_APP = BENCH_DIR / "apps" / "rover_app.lua"
NGINX_MODULES_DIR = "/usr/lib/nginx/modules"

CommandBuilder = Callable[[int, Path], list[str]]


class ServerStartError(RuntimeError):
    """A server did not come up (missing tool, crash, or no answer in time)."""


# Settings every rover-mt entry gets: no logging, so it does no more I/O than the peers.
ROVER_BASE_SETTINGS: dict[str, object] = {"log_level": "nope", "access_log": False}


def rover_mt_command(port: int, settings: dict[str, object]) -> list[str]:
    """The one place that knows rover-mt's command line.

    `settings` are rover-mt setting names (SPEC 14), passed as flags with
    dashes for underscores: `--name value`, and `--name` / `--no-name` for
    booleans.
    """
    argv = [sys.executable, "-m", "rover_mt", "serve", str(ROVER_APP), "--port", str(port)]
    for name, value in {**ROVER_BASE_SETTINGS, **settings}.items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            argv += [f"--{flag}", str(value)]
    return argv


def _python_peer(script: str) -> CommandBuilder:
    return lambda port, _scratch: [sys.executable, str(PEERS_DIR / script), "--port", str(port)]


def _uvicorn(http: str) -> CommandBuilder:
    # --loop asyncio: uvloop is not installed for any server, and rover-mt
    # runs on the standard asyncio loop too.
    return lambda port, _scratch: [
        sys.executable, "-m", "uvicorn", "--factory", "asgi_app:make_app", "--app-dir", str(PEERS_DIR),
        "--host", "127.0.0.1", "--port", str(port), "--http", http, "--loop", "asyncio",
        "--log-level", "warning", "--no-access-log"]


def _granian(port: int, _scratch: Path) -> list[str]:
    granian = Path(sys.executable).with_name("granian")
    return [str(granian), "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--no-ws", "--loop", "asyncio", "--log-level", "warning",
            "--working-dir", str(PEERS_DIR), "asgi_app:make_app"]


def cjson_dir() -> str:
    """Folder holding Debian's cjson.so for Lua 5.1/LuaJIT (the nginx Lua module's Lua)."""
    found = glob.glob("/usr/lib/*/lua/5.1/cjson.so") + glob.glob("/usr/local/lib/lua/5.1/cjson.so")
    if not found:
        raise ServerStartError("cjson.so for Lua 5.1 not found: run bench/setup.sh (package lua-cjson)")
    return str(Path(found[0]).parent)


def render_nginx_conf(port: int, workers: int, prefix: Path) -> str:
    """The nginx.conf for one nginx peer, from peers/nginx.conf.template."""
    text = (PEERS_DIR / "nginx.conf.template").read_text(encoding="utf-8")
    for key, value in {"PORT": port, "WORKERS": workers, "PREFIX": prefix, "BENCH": BENCH_DIR,
                       "MODULES": NGINX_MODULES_DIR, "CJSON_DIR": cjson_dir()}.items():
        text = text.replace(f"@{key}@", str(value))
    return text


def _nginx(workers: int) -> CommandBuilder:
    def build(port: int, scratch: Path) -> list[str]:
        (scratch / "nginx.conf").write_text(render_nginx_conf(port, workers, scratch), encoding="utf-8")
        # nginx insists on a logs/ folder under its prefix even when told otherwise.
        (scratch / "logs").mkdir(exist_ok=True)
        return ["nginx", "-p", str(scratch), "-c", str(scratch / "nginx.conf"), "-e", str(scratch / "error.log")]
    return build


def _rover(settings: dict[str, object]) -> CommandBuilder:
    return lambda port, _scratch: rover_mt_command(port, settings)


@dataclass(frozen=True)
class ServerSpec:
    """A server entry in the comparison."""

    name: str
    description: str
    build_command: CommandBuilder
    workloads: tuple[str, ...] = ("W1", "W2", "W3", "W4")
    is_rover: bool = False
    settings: dict[str, object] = field(default_factory=dict)


PEERS: tuple[ServerSpec, ...] = (
    ServerSpec("uvicorn-h11", "uvicorn --http h11, bare ASGI app, 1 process", _uvicorn("h11")),
    ServerSpec("uvicorn-httptools", "uvicorn --http httptools, bare ASGI app, 1 process", _uvicorn("httptools")),
    ServerSpec("granian-1w", "granian --interface asgi, 1 worker", _granian),
    ServerSpec("selectors-h11", "minimal single-thread selectors server, h11", _python_peer("selectors_h11.py")),
    ServerSpec("selectors-httptools", "minimal single-thread selectors server, httptools",
               _python_peer("selectors_httptools.py")),
    ServerSpec("nginx-lua-1w", "nginx + Lua module (LuaJIT, cjson), 1 worker process", _nginx(1)),
    ServerSpec("nginx-lua-2w", "nginx + Lua module (LuaJIT, cjson), 2 worker processes", _nginx(2)),
)


def rover_spec(name: str, description: str, workloads: tuple[str, ...], **settings: object) -> ServerSpec:
    """A rover-mt entry running apps/rover_app.lua with the given settings."""
    return ServerSpec(name, description, _rover(settings), workloads, True, settings)


ROVER_SERVERS: tuple[ServerSpec, ...] = (
    rover_spec("rover-mt", "rover-mt, 2 workers, default parser, Lua 5.4", ("W1", "W2", "W3", "W4"), workers=2),
    rover_spec("rover-mt-h11", "rover-mt, 2 workers, http = h11", ("W1", "W2"), workers=2, http="h11"),
    rover_spec("rover-mt-1w", "rover-mt, 1 worker", ("W4",), workers=1),
    rover_spec("rover-mt-luajit", "rover-mt, 2 workers, lua = luajit", ("W4",), workers=2, lua="luajit"),
    rover_spec("rover-mt-2proc", "rover-mt, --processes 2 (2 workers each)", ("W1",), workers=2, processes=2),
    rover_spec("rover-mt-2proc-1w", "rover-mt, --processes 2 (1 worker each)", ("W1",), workers=1, processes=2),
)

ALL_SERVERS: tuple[ServerSpec, ...] = PEERS + ROVER_SERVERS


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RunningServer:
    """A started server process group; use as a context manager to stop it."""

    def __init__(self, spec: ServerSpec, start_timeout_s: float = 30.0) -> None:
        self.spec = spec
        self._scratch = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-"))
        self.log_path = self._scratch / "server.log"
        self.port = free_port()
        self.command = spec.build_command(self.port, self._scratch)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if not spec.is_rover:
            env["PYTHONPATH"] = str(PEERS_DIR)   # where the peers' modules live
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, cwd=REPO_DIR, env=env,
                                                start_new_session=True)
            except OSError as exc:
                raise ServerStartError(f"{spec.name}: cannot run {self.command[0]}: {exc}") from exc
        self._wait_until_listening(start_timeout_s)

    @property
    def pid(self) -> int:
        """The root process of the server's tree."""
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server printed (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_until_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                message = f"{self.spec.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                self.close()
                raise ServerStartError(message)
            if _port_answers(self.port):
                return
            time.sleep(0.05)
        message = f"{self.spec.name} did not listen on port {self.port} within {timeout_s} s:\n{self.log_tail()}"
        self.close()
        raise ServerStartError(message)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
            except ProcessLookupError:
                pass
        # Workers that outlived their parent (if any) share the process group.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Stop the server and delete its scratch folder (config, log)."""
        self.stop()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
