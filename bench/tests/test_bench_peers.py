"""Each peer the machine can run starts on 127.0.0.1 and answers every workload."""

import importlib.util
import shutil
import socket

import pytest
from servers import PEERS, RunningServer, ServerStartError, cjson_dir
from workloads import WORKLOADS, validate


def _available(name: str) -> bool:
    if name.startswith("uvicorn"):
        return importlib.util.find_spec("uvicorn") is not None
    if name.startswith("granian"):
        return importlib.util.find_spec("granian") is not None
    if name.startswith("nginx"):
        try:
            cjson_dir()
        except ServerStartError:
            return False
        return shutil.which("nginx") is not None
    return True


@pytest.mark.parametrize("spec", PEERS, ids=[p.name for p in PEERS])
def test_peer_answers_every_workload(spec):
    if not _available(spec.name):
        pytest.skip(f"{spec.name} is not installed here (bench/setup.sh installs it)")
    with RunningServer(spec, start_timeout_s=20) as server:
        for name in spec.workloads:
            validate(server.port, WORKLOADS[name], timeout_s=10)


@pytest.mark.parametrize("script", ["selectors-h11", "selectors-httptools"])
def test_minimal_servers_keep_alive_and_pipeline(script):
    spec = next(p for p in PEERS if p.name == script)
    with RunningServer(spec, start_timeout_s=20) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            request = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            sock.sendall(request * 3)
            received = b""
            while received.count(b"Hello World") < 3:
                chunk = sock.recv(65536)
                assert chunk, "server closed a keep-alive connection"
                received += chunk
            assert received.count(b" 200 ") == 3


def test_server_that_exits_is_reported():
    from servers import ServerSpec

    broken = ServerSpec("broken", "exits at once", lambda port, scratch: ["python3", "-c", "raise SystemExit(3)"])
    with pytest.raises(ServerStartError, match="exited with 3"):
        RunningServer(broken, start_timeout_s=10)
