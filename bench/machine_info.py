"""What the benchmark ran on: cores, CPU model, memory, OS, Python and the
version of every server and library being compared.

    python bench/machine_info.py [--short]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

PYTHON_PACKAGES = ("rover-mt", "lupa", "h11", "httptools", "uvicorn", "granian",
                   "janus", "orjson", "prometheus-client", "matplotlib")
DEBIAN_PACKAGES = ("nginx", "libnginx-mod-http-lua", "lua-cjson", "wrk")


def _command_output(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"error: {exc}"
    # nginx -v and wrk -v write to stderr.
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else ""


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total_gib() -> float:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _python_versions() -> dict[str, str]:
    versions = {}
    for name in PYTHON_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _debian_versions() -> dict[str, str]:
    versions = {}
    for name in DEBIAN_PACKAGES:
        out = _command_output(["dpkg-query", "-W", "-f=${Version}", name])
        versions[name] = out or "not installed"
    return versions


def collect() -> dict[str, Any]:
    """Everything worth recording about this machine and its software."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_total_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "python_packages": _python_versions(),
        "debian_packages": _debian_versions(),
        "nginx": _command_output(["nginx", "-v"]),
        "wrk": _command_output(["wrk", "-v"]),
        "lua_engines": {"lua54": _lua_version("lua54"), "luajit21": _lua_version("luajit21")},
    }


def _lua_version(engine: str) -> str:
    try:
        module = importlib.import_module(f"lupa.{engine}")
        return str(module.LuaRuntime().eval("jit and jit.version or _VERSION"))
    except Exception as exc:  # any failure just means "not available here"
        return f"unavailable ({exc})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="one line per item")
    info = collect()
    if parser.parse_args().short:
        print(f"{info['cores']} cores, {info['cpu_model']}, Python {info['python']}, "
              f"{info['nginx']}, {info['wrk'][:30]}")
        print(", ".join(f"{k} {v}" for k, v in info["python_packages"].items()))
    else:
        print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
