"""rover-mt: serve Rover-style Lua HTTP APIs from Python, with parallel Lua workers.

::

    client ─► ① socket in ─► ② parse ─► ③ bounded queue ─► ④ Lua worker ─► ⑤ serialize ─► ⑥ socket out
              net/ (I/O thread)  protocol/   dispatch.py      worker/ (N threads)  worker/compose  net/

Public API: :class:`Server` (sockets, background threads), :class:`App` (no sockets,
``App.load(path).handle(method, path, headers, body)``), :class:`Config`, and the
error classes.
"""

from .config import Config, ConfigError
from .errors import AddressInUseError, AppLoadError, RoverError, StartupError
from .server import App, Response, Server

__version__ = "0.1.0"

__all__ = [
    "AddressInUseError",
    "App",
    "AppLoadError",
    "Config",
    "ConfigError",
    "Response",
    "RoverError",
    "Server",
    "StartupError",
    "__version__",
]
