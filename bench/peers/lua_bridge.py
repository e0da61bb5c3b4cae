"""Run bench/handlers.lua through lupa for the Python peers.

Every Python peer (uvicorn, granian, the selectors servers) answers a request
by calling :meth:`LuaHandlers.handle`, which routes the four benchmark paths
to the shared Lua handlers and returns ``(status, json_bytes)``.  The JSON is
encoded inside Lua, so each response crosses from Lua to Python once, as one
string: the cheapest bridge we found for the peers, which keeps them honest.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import orjson

HANDLERS_PATH = Path(__file__).resolve().parent.parent / "handlers.lua"

NOT_FOUND = (404, b'{"error":"Route not found"}')
BAD_JSON = (400, b'{"error":"Invalid JSON in request body"}')

# Binds the module's functions once, so a request costs one Lua call.
_BIND_LUA = """
function(H)
  return function() return H.encode(H.hello()) end,
         function(id) return H.encode(H.user(id)) end,
         function(data) local status, t = H.create_user(data); return status, H.encode(t) end,
         function() return H.encode(H.compute()) end
end
"""


class LuaHandlers:
    """One LuaRuntime holding the shared handlers; use one per thread/process."""

    def __init__(self, engine: str = "lua54", handlers_path: Path = HANDLERS_PATH) -> None:
        lupa_module = importlib.import_module(f"lupa.{engine}")
        self._lua = lupa_module.LuaRuntime(unpack_returned_tuples=True)
        module = self._lua.execute(handlers_path.read_text(encoding="utf-8"))
        self._hello, self._user, self._create_user, self._compute = self._lua.eval(_BIND_LUA)(module)
        self._table_from = self._lua.table_from

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """Answer one request: returns the status and the JSON body."""
        if method == "GET":
            if path == "/hello":
                return 200, self._hello().encode()
            if path == "/compute":
                return 200, self._compute().encode()
            if path.startswith("/users/"):
                user_id = path[7:]
                if user_id and "/" not in user_id:
                    return 200, self._user(user_id).encode()
        elif method == "POST" and path == "/users":
            return self._create(body)
        return NOT_FOUND

    def _create(self, body: bytes) -> tuple[int, bytes]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return BAD_JSON
        if isinstance(data, (dict, list)):
            data = self._table_from(data, recursive=True)
        status, encoded = self._create_user(data)
        return status, encoded.encode()
