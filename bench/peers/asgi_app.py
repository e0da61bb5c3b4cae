"""Bare ASGI app for the uvicorn and granian peers (no framework).

Run with the factory flag, so each server process builds its own LuaRuntime:
    uvicorn --factory asgi_app:make_app ...      granian --factory asgi_app:make_app ...
(from inside bench/peers, or with it on PYTHONPATH).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lua_bridge import LuaHandlers

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def make_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Build the ASGI callable around one LuaRuntime."""
    handlers = LuaHandlers()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        if scope["method"] == "POST":
            body = await _read_body(receive)
        status, payload = handlers.handle(scope["method"], scope["path"], body)
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": payload})

    return app


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _run_lifespan(receive: Receive, send: Send) -> None:
    # Nothing to set up; answer the protocol so servers do not warn.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
