"""A scaled-down bench/attack.py: slow clients against an in-process server.

100 slowloris + 20 slow-body + 20 slow-reader connections with 1 s deadlines: a
canary on its own connection keeps getting 200, every attacker is closed within
its deadline + 1 s, and descriptors return to the baseline after the stop.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from rover_mt import Server
from tests.helpers import write_app
from tests.wire.test_edge_support import Canary, open_fds, wait_fds

BENCH_ATTACK = Path(__file__).resolve().parents[2] / "bench" / "attack.py"


def load_attack_module():  # noqa: ANN201 - a module object
    spec = importlib.util.spec_from_file_location("bench_attack", BENCH_ATTACK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def test_slow_clients_are_dropped_and_the_canary_is_served(tmp_path: Path) -> None:
    attack = load_attack_module()
    baseline = open_fds()
    limits = dict(header_timeout=1.0, body_timeout=1.0, keepalive_timeout=1.0, send_timeout=1.0)
    srv = Server(write_app(tmp_path, attack.ATTACK_APP), port=0, workers=2, docs=False,
                 log_level="nope", max_output_buffer=64 * 1024, **limits)
    srv.start()
    try:
        clients = attack.SlowClients(srv.port, slowloris=100, slow_body=20, slow_readers=20,
                                     interval=0.2, **limits)
        clients.start()
        try:
            canary = Canary(srv.port)
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                canary.check()
                time.sleep(0.05)
            canary.close()
            assert clients.wait_all_closed(2 + clients.grace + 3)
            reports = clients.reports()
        finally:
            clients.stop()
        for r in reports:
            assert r.ok(), r
    finally:
        srv.stop()
    assert wait_fds(baseline) == baseline
