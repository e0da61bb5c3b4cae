"""ARCHITECTURE's import rules, checked on the source: layers stay separate."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "rover_mt"


def imports_of(path: Path) -> set[str]:
    """Top-level module names and rover_mt subpackages a file imports."""
    tree = ast.parse(path.read_text())
    rel_pkg = path.relative_to(PKG).parts[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel_pkg[: len(rel_pkg) - node.level + 1])
                mod = ".".join(["rover_mt", *base, *(node.module.split(".") if node.module else [])])
                out.add(mod)
                if not node.module:
                    out.update(".".join(["rover_mt", *base, a.name]) for a in node.names)
            elif node.module:
                out.add(node.module)
    return out


def files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def uses(path: Path, *names: str) -> list[str]:
    return [m for m in imports_of(path) if any(m == n or m.startswith(n + ".") for n in names)]


def test_protocol_and_routing_are_pure():
    for f in files("protocol") + files("routing"):
        bad = uses(f, "socket", "threading", "asyncio", "lupa", "janus", "selectors")
        assert not bad, f"{f.name} imports {bad}"


def test_worker_never_imports_net():
    for f in files("worker"):
        assert not uses(f, "rover_mt.net"), f.name


def test_net_never_imports_lupa():
    for f in files("net"):
        assert not uses(f, "lupa"), f.name


def test_observe_imports_no_stage():
    stages = ["rover_mt." + s for s in ("net", "protocol", "routing", "worker", "dispatch", "engine",
                                         "server", "openapi")]
    for f in files("observe"):
        assert not uses(f, *stages), f.name


def test_only_the_cli_exits_or_prints_usage():
    for f in PKG.rglob("*.py"):
        if f.name in ("cli.py", "__main__.py"):
            continue
        text = f.read_text()
        assert "sys.exit(" not in text and "os._exit(" not in text, f.name
