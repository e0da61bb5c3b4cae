"""The rover-mt command as a user runs it: subprocesses, exit codes, the banner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import start_serve, write_app

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello.lua"


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rover_mt", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_serve_hello_answers_and_stops_cleanly_on_sigterm():
    proc, port = start_serve(HELLO, "--workers", "2")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=5) as r:
            assert r.status == 200 and b"Hello" in r.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_banner_names_workers_and_engine():
    proc, port = start_serve(HELLO, "--workers", "3", "--lua", "luajit")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 0


def test_routes_subcommand():
    r = run_cli("routes", str(HELLO))
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(re.match(r"GET\s+/users/\{id\}\s+hello\.lua: api\.users\.p_id", l) for l in lines), r.stdout
    assert any(l.startswith("POST") and "/echo" in l for l in lines)


def test_check_subcommand_ok():
    r = run_cli("check", str(HELLO))
    assert r.returncode == 0 and "OK" in r.stdout


def test_bad_app_is_exit_2_with_one_line(tmp_path):
    path = write_app(tmp_path, "local api = rover.server {}\nfunction api.x.get(\nreturn api\n")
    for cmd in ("serve", "check", "routes"):
        r = run_cli(cmd, str(path))
        assert r.returncode == 2, r.stderr
        assert "app.lua:3" in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_missing_file_is_exit_2(tmp_path):
    r = run_cli("serve", str(tmp_path / "nope.lua"))
    assert r.returncode == 2 and "nope.lua" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("flag,value,name", [
    ("--port", "70000", "port"), ("--log-sample-rate", "nan", "log_sample_rate"),
    ("--workers", "0", "workers"), ("--backpressure", "maybe", "backpressure"),
])
def test_bad_setting_is_exit_2_naming_it(flag, value, name):
    r = run_cli("serve", str(HELLO), flag, value)
    assert r.returncode == 2 and name in r.stderr and "Traceback" not in r.stderr


def test_bad_env_setting_is_exit_2():
    env = dict(os.environ, ROVER_MT_LOG_SAMPLE_RATE="-1")
    r = subprocess.run([sys.executable, "-m", "rover_mt", "serve", str(HELLO)], capture_output=True,
                       text=True, timeout=30, cwd=ROOT, env=env)
    assert r.returncode == 2 and "ROVER_MT_LOG_SAMPLE_RATE" in r.stderr


def test_port_in_use_is_exit_2_one_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = run_cli("serve", str(HELLO), "--port", str(port))
    assert r.returncode == 2
    assert "already in use" in r.stderr and len(r.stderr.strip().splitlines()) == 1
