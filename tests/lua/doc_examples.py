"""Extract the executable examples of a docs page: ```lua app blocks, each followed by
```http requests (with a `-> STATUS` line) and their expected ```json / ```text bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = re.compile(r"^```([\w ]+)\n(.*?)^```\s*$", re.S | re.M)


@dataclass
class Exchange:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int
    expect_kind: str = ""
    expect: str = ""
    line: int = 0


@dataclass
class AppExample:
    source: str
    line: int
    exchanges: list[Exchange] = field(default_factory=list)


def parse_request(text: str, line: int) -> Exchange:
    lines = text.rstrip("\n").split("\n")
    method, path = lines[0].split(" ", 1)
    status_line = lines[-1]
    assert status_line.startswith("-> "), f"line {line}: request block must end with '-> STATUS'"
    rest = lines[1:-1]
    headers, body_lines, in_body = [], [], False
    for ln in rest:
        if in_body:
            body_lines.append(ln)
        elif ln == "":
            in_body = True
        else:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
    return Exchange(method, path, headers, "\n".join(body_lines).encode(), int(status_line[3:]),
                    line=line)


def examples(page: Path) -> list[AppExample]:
    text = page.read_text()
    out: list[AppExample] = []
    for m in BLOCK.finditer(text):
        kind, body = m.group(1).strip(), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        if kind == "lua app":
            out.append(AppExample(body, line))
        elif kind == "http" and out:
            out[-1].exchanges.append(parse_request(body, line))
        elif kind in ("json", "text") and out and out[-1].exchanges and not out[-1].exchanges[-1].expect_kind:
            ex = out[-1].exchanges[-1]
            ex.expect_kind, ex.expect = kind, body.rstrip("\n")
    return out
