"""Run every example of docs/lua-api.md (and other pages using ```lua app blocks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rover_mt import App
from tests.helpers import write_app
from tests.lua.doc_examples import examples

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```lua app" in p.read_text())
CASES = [(page, ex) for page in PAGES for ex in examples(page)]


def test_pages_have_examples():
    assert any(p.name == "lua-api.md" for p in PAGES)
    assert sum(len(ex.exchanges) for _, ex in CASES) >= 15


@pytest.mark.parametrize("page,example", CASES, ids=[f"{p.name}:{e.line}" for p, e in CASES])
def test_example(tmp_path, page, example):
    path = write_app(tmp_path, example.source)
    with App.load(path, workers=1, docs=False, log_level="nope") as app:
        for ex in example.exchanges:
            r = app.handle(ex.method, ex.path, ex.headers, ex.body)
            where = f"{page.name}:{ex.line}"
            assert r.status == ex.status, f"{where}: {r.status} {r.body!r}"
            if ex.expect_kind == "json":
                assert r.json() == json.loads(ex.expect), where
            elif ex.expect_kind == "text":
                assert r.text == ex.expect, where
