"""Batches: several requests of one handler in one Lua call (worker/runner.py,
execute_batch; rover.lua, core.respond_batch). Real Lua runtimes, no sockets:
answers come back in order, one per request, and an interrupt stops only the
request it was meant for, also when that request has not started yet."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rover_mt.request import Request, Ticket, request_field
from rover_mt.server import load_app
from rover_mt.worker.compose import DateHeader
from rover_mt.worker.runner import LuaRunner

APP = """
local api = rover.server {}
function api.echo.p_id.post(ctx)
  return { id = ctx:params().id, body = ctx:body():text() }
end
function api.spin.p_ms.get(ctx)
  -- Busy for the given milliseconds, in plain Lua so a hook can stop it.
  local ms = tonumber(ctx:params().ms)
  local t0 = os.clock()
  local x = 0
  while (os.clock() - t0) * 1000 < ms do x = x + 1 end
  return { spun = true }
end
-- Lazy fields come from Python (deps.get) while the request runs.
function api.who.p_n.get(ctx)
  return { path = ctx.path, rid = ctx.request_id, tag = ctx:headers()["x-tag"] }
end
-- A ctx kept past its request: its fields not read in time read as nil later.
local kept
function api.keep.get(ctx)
  kept = ctx
  return { kept = true }
end
function api.kept.get(ctx)
  return { path = tostring(kept.path), rid = tostring(kept.request_id) }
end
return api
"""


class Pool:
    """What a LuaRunner asks of its pool, without threads or an engine."""

    def __init__(self) -> None:
        self.date = DateHeader()
        self.closing = False
        self.errors: list[Any] = []

    def runtime_options(self, wid: int) -> dict[str, Any]:
        return dict(memory_limit=0, worker_id=wid, worker_count=1, expose_errors=True,
                    get_field=request_field, shared_call=None, log=None)

    def log_handler_error(self, req: Request, status: int, msg: Any, tb: Any) -> None:
        self.errors.append((status, msg))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[LuaRunner, Any]:
    path = tmp_path / "app.lua"
    path.write_text(APP)
    gen, _ = load_app(path, env={}, settings={"docs": False})
    return LuaRunner(Pool(), 1), gen


def request(gen: Any, method: str, path: str, body: bytes | None = None,
            timeout: float = 30.0, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Request:
    m = gen.router.match(method, path)
    hid = gen.handler_ids[(m.route_index, method)]
    return Request(hid=hid, generation=gen, method=method, path=path, query=b"", headers=headers,
                   body=body, route=path, params=tuple(v.encode() for v in m.params.values()),
                   request_id=path.encode(), client_ip=b"127.0.0.1", keep_alive=True,
                   head_only=False, enqueued=time.monotonic(),
                   deadline=time.monotonic() + timeout, ticket=Ticket(lambda *a: None, None))


def interrupt_once_running(runner: LuaRunner, ticket: Ticket, armed: threading.Event) -> threading.Thread:
    """A thread that interrupts `ticket` as soon as the runner's batch holds it
    (sets `armed` then), giving up after 5 s."""

    def run() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if runner.interrupt.running(ticket) and runner.interrupt.interrupt(ticket):
                armed.set()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def interrupt_after(runner: LuaRunner, ticket: Ticket, seconds: float) -> threading.Thread:
    """A thread that interrupts `ticket` after `seconds`, as the watchdog does
    once the first request of a batch is past its deadline."""

    def run() -> None:
        time.sleep(seconds)
        runner.interrupt.interrupt(ticket)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def body_of(answer: Any) -> bytes:
    return answer[1].split(b"\r\n\r\n", 1)[1]


def test_each_request_of_a_batch_gets_its_own_answer_in_order(setup):
    runner, gen = setup
    reqs = [request(gen, "POST", f"/echo/{i}", f"body-{i}".encode()) for i in range(6)]
    answers, per_request = runner.execute_batch(reqs)
    assert [a[0] for a in answers] == [200] * 6
    for i, answer in enumerate(answers):
        assert body_of(answer) in (f'{{"id":"{i}","body":"body-{i}"}}'.encode(),
                                   f'{{"body":"body-{i}","id":"{i}"}}'.encode())
        assert f"X-Request-Id: /echo/{i}\r\n".encode() in answer[1]
    assert per_request is None or per_request > 0
    assert runner.handled == 6


@pytest.mark.parametrize("engine", ["lua54", "luajit"])
def test_each_request_of_a_batch_reads_its_own_lazy_fields(tmp_path: Path, engine: str):
    path = tmp_path / "app.lua"
    path.write_text(APP)
    gen, _ = load_app(path, env={}, settings={"docs": False, "lua": engine})
    runner = LuaRunner(Pool(), 1)
    # Lua gets a number per request (runtime.py, RequestSlots); each must lead
    # back to its own request, in a batch and alone.
    reqs = [request(gen, "GET", f"/who/{i}", headers=((b"x-tag", f"t{i}".encode()),)) for i in range(4)]
    answers, _ = runner.execute_batch(reqs)
    answers.append(runner.execute(request(gen, "GET", "/who/9", headers=((b"x-tag", b"t9"),))))
    for i, answer in zip((0, 1, 2, 3, 9), answers):
        assert answer[0] == 200
        assert json.loads(body_of(answer)) == {"path": f"/who/{i}", "rid": f"/who/{i}", "tag": f"t{i}"}


def test_a_ctx_kept_past_its_request_reads_nil_not_another_requests_fields(setup):
    runner, gen = setup
    assert runner.execute(request(gen, "GET", "/keep"))[0] == 200
    # Read alone and in a batch, where the numbers of the running requests are
    # close to the kept one's.
    answers = [runner.execute(request(gen, "GET", "/kept"))]
    answers += runner.execute_batch([request(gen, "GET", "/kept") for _ in range(3)])[0]
    for answer in answers:
        assert answer[0] == 200
        assert json.loads(body_of(answer)) == {"path": "nil", "rid": "nil"}


def test_an_interrupt_stops_the_running_request_and_the_batch_goes_on(setup):
    runner, gen = setup
    # 5 s stands for "stuck": the interrupt must end it long before.
    reqs = [request(gen, "GET", "/spin/1"), request(gen, "GET", "/spin/5000"), request(gen, "GET", "/spin/1")]
    t = interrupt_once_running(runner, reqs[1].ticket, threading.Event())
    t0 = time.monotonic()
    answers, _ = runner.execute_batch(reqs)
    t.join(timeout=10)
    assert [a[0] for a in answers] == [200, 504, 200]
    assert time.monotonic() - t0 < 4
    assert runner.interrupt.interrupts >= 1


def test_an_interrupt_meant_for_a_later_request_does_not_stop_the_running_one(setup):
    runner, gen = setup
    # The second request spins 300 ms; meanwhile the third (not started) is
    # interrupted, as when its client leaves. The second must finish, the third
    # must not run.
    reqs = [request(gen, "GET", "/spin/1"), request(gen, "GET", "/spin/300"), request(gen, "GET", "/spin/5000")]
    armed = threading.Event()
    t = interrupt_once_running(runner, reqs[2].ticket, armed)
    t0 = time.monotonic()
    answers, _ = runner.execute_batch(reqs)
    t.join(timeout=10)
    assert time.monotonic() - t0 < 4  # the third did not run
    assert armed.is_set()
    assert [a[0] for a in answers] == [200, 200, 504]
    assert b"timed out" in body_of(answers[2])


def test_a_request_past_its_deadline_is_stopped_in_a_batch(setup):
    runner, gen = setup
    # Its own deadline passed: the hook stops it even though the interrupt named
    # the first request of the batch (as the watchdog does).
    reqs = [request(gen, "GET", "/spin/1"), request(gen, "GET", "/spin/5000", timeout=0.1)]
    t = interrupt_after(runner, reqs[0].ticket, 0.3)
    t0 = time.monotonic()
    answers, _ = runner.execute_batch(reqs)
    t.join(timeout=10)
    assert [a[0] for a in answers] == [200, 504]
    assert time.monotonic() - t0 < 4


def test_requests_held_up_past_their_deadline_by_a_timed_out_one_do_not_run(setup):
    runner, gen = setup
    # The first spins past its deadline and is stopped (0.3 s, as the watchdog
    # would); the second's deadline passed while it waited, so it gets 504
    # without running; the third still has time and runs.
    reqs = [request(gen, "GET", "/spin/5000", timeout=0.2), request(gen, "GET", "/spin/1", timeout=0.1),
            request(gen, "GET", "/spin/1")]
    t = interrupt_after(runner, reqs[0].ticket, 0.3)
    t0 = time.monotonic()
    answers, _ = runner.execute_batch(reqs)
    t.join(timeout=10)
    assert [a[0] for a in answers] == [504, 504, 200]
    assert b"timed out" in body_of(answers[1])
    assert time.monotonic() - t0 < 4
