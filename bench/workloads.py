"""The benchmark workloads W1-W4: what each sends and what it must get back.

Every server is checked against these expectations before it is timed; a
server that answers wrong is not benchmarked (a fast wrong answer is no
result).  W5 (overload) reuses W4's request; see overload.py.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Must match H.COMPUTE_ITERATIONS in handlers.lua and the count in
# apps/rover_app.lua; the expected W4 answer is computed here in Python, so
# any drift between the Lua copies fails validation loudly.
COMPUTE_ITERATIONS = 85000

# W3's request body: about 300 bytes, with one key ("extra") that the schema
# does not know, so the validated copy in the response must drop it.
USER_BODY: dict[str, Any] = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "age": 36,
    "role": "admin",
    "tags": ["math", "engines", "poetry", "notes"],
    "bio": "First to publish an algorithm for a machine; wrote the notes on the Analytical Engine.",
    "address": {"city": "London", "street": "St James's Square 12"},
    "extra": "not in the schema: dropped by validation",
}
USER_BODY_BYTES = json.dumps(USER_BODY, separators=(",", ":")).encode()
CREATED_USER = {k: v for k, v in USER_BODY.items() if k != "extra"}
# A body every server must refuse with 400 (validation really runs).
INVALID_USER_BYTES = json.dumps({"name": "", "email": "nobody", "age": 17.5, "role": "root"}).encode()


def compute_expected(iterations: int = COMPUTE_ITERATIONS) -> dict[str, int]:
    """The W4 answer, computed independently of Lua."""
    x = 0
    for i in range(1, iterations + 1):
        x = (x * 31 + i) % 1000003
    return {"result": x, "iterations": iterations}


class ValidationError(AssertionError):
    """A server answered a workload wrongly."""


@dataclass(frozen=True)
class Workload:
    """One request shape, timed with wrk, and the answer it must get."""

    name: str
    title: str
    method: str
    path: str
    expected_status: int
    expected_json: dict[str, Any]
    body: bytes = b""

    def wrk_script(self, directory: Path) -> Path | None:
        """A wrk Lua script for requests wrk cannot express with a URL alone."""
        if self.method == "GET":
            return None
        script = directory / f"{self.name.lower()}.lua"
        script.write_text(
            f'wrk.method = "{self.method}"\n'
            f'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{self.body.decode()}]==]\n",
            encoding="utf-8",
        )
        return script


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("W1", "GET /hello -> small JSON", "GET", "/hello", 200, {"message": "Hello World"}),
        Workload("W2", "GET /users/{id} -> JSON with the param", "GET", "/users/42", 200,
                 {"id": "42", "name": "user"}),
        Workload("W3", "POST /users, ~300-byte JSON validated -> 201", "POST", "/users", 201,
                 CREATED_USER, USER_BODY_BYTES),
        Workload("W4", "GET /compute, ~1 ms of Lua arithmetic", "GET", "/compute", 200,
                 compute_expected()),
    )
}


def _request(port: int, method: str, path: str, body: bytes, timeout_s: float) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def validate(port: int, workload: Workload, timeout_s: float = 10.0) -> None:
    """Raise ValidationError unless the server on `port` answers `workload` exactly."""
    status, content_type, body = _request(port, workload.method, workload.path, workload.body, timeout_s)
    where = f"{workload.name} {workload.method} {workload.path}"
    if status != workload.expected_status:
        raise ValidationError(f"{where}: status {status}, expected {workload.expected_status}: {body[:300]!r}")
    if not content_type.startswith("application/json"):
        raise ValidationError(f"{where}: Content-Type {content_type!r}, expected application/json")
    try:
        got = json.loads(body)
    except ValueError as exc:
        raise ValidationError(f"{where}: body is not JSON: {body[:300]!r}") from exc
    if got != workload.expected_json:
        raise ValidationError(f"{where}: body {got!r}, expected {workload.expected_json!r}")
    if workload.name == "W3":
        status, _, body = _request(port, "POST", workload.path, INVALID_USER_BYTES, timeout_s)
        if status != 400:
            raise ValidationError(f"{where}: an invalid user got {status}, expected 400: {body[:300]!r}")
