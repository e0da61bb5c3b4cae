"""The raw-request corpus (tests/corpus/) replayed over real sockets, per backend.

Invalid cases run under every split strategy of the loader (whole, lines, bytes,
three seeded random splits) and must give the stated status, ``Connection: close``
and a close; valid cases run whole and byte by byte and must get one well-formed
non-error answer per request. After every case a canary on its own keep-alive
connection must still get 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rover_mt import Server
from rover_mt.protocol import available_backends
from tests.corpus.loader import Case, load_corpus, split_strategies
from tests.wire.test_edge_support import PROTOCOL_ERRORS, Canary, catch_all_app, exchange

INVALID = load_corpus("invalid")
VALID = load_corpus("valid")
BYTE_BY_BYTE_LIMIT = 2048  # beyond this many bytes the "bytes" split sends 97-byte pieces


def writes_for(case: Case, strategy: str) -> list[bytes]:
    """The writes of one split; huge cases go byte by byte only for their start,
    which keeps the run short (the parser tests cover every byte offset)."""
    pieces = split_strategies(case.data)[strategy]
    if strategy == "bytes" and len(case.data) > BYTE_BY_BYTE_LIMIT:
        head, tail = case.data[:BYTE_BY_BYTE_LIMIT], case.data[BYTE_BY_BYTE_LIMIT:]
        pieces = [head[i:i + 1] for i in range(len(head))] + [tail[i:i + 97] for i in range(0, len(tail), 97)]
    return pieces


def pause_for(writes: list[bytes]) -> float:
    # Short waits between a few writes make the server really see them apart;
    # for long write lists TCP splits them anyway and waiting would only cost time.
    return 0.0005 if 1 < len(writes) <= 40 else 0.0


@pytest.fixture(scope="module", params=available_backends())
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Canary]]:
    app = catch_all_app(Path(tmp_path_factory.mktemp("corpus_app")))
    with Server(app, port=0, workers=2, docs=False, log_level="nope", http=request.param,
                max_connections=2000) as srv:
        canary = Canary(srv.port)
        yield srv.port, canary
        canary.close()


@pytest.mark.parametrize("case", INVALID, ids=[c.name for c in INVALID])
def test_invalid_case_is_refused_and_closed(served: tuple[int, Canary], case: Case) -> None:
    port, canary = served
    for strategy in split_strategies(case.data):
        writes = writes_for(case, strategy)
        ex = exchange(port, writes, pause=pause_for(writes))
        where = f"{case.name} [{strategy}] ({case.why})"
        final = ex.final
        assert ex.closed, f"{where}: connection left open; got {[r.status for r in final]}"
        assert not ex.rest, f"{where}: trailing partial response {ex.rest[:100]!r}"
        assert len(final) == case.requests_before_error + 1, f"{where}: {[r.status for r in final]}"
        for earlier in final[:-1]:
            assert earlier.status == 200, f"{where}: pipelined request before the error got {earlier.status}"
        last = final[-1]
        assert last.status == case.status, f"{where}: expected {case.status}, got {last.status} {last.body!r}"
        assert last.headers.get("connection", "").lower() == "close", where
        canary.check()


@pytest.mark.parametrize("case", VALID, ids=[c.name for c in VALID])
def test_valid_case_is_answered(served: tuple[int, Canary], case: Case) -> None:
    port, canary = served
    want = len(case.expected)
    heads = [e.get("method") == "HEAD" for e in case.expected]
    for strategy in ("whole", "bytes"):
        writes = writes_for(case, strategy)
        ex = exchange(port, writes, want=want, head_methods=heads, pause=pause_for(writes))
        where = f"{case.name} [{strategy}]"
        statuses = [r.status for r in ex.final]
        assert len(statuses) == want, f"{where}: {statuses} closed={ex.closed} rest={ex.rest[:200]!r}"
        for status in statuses:
            assert status < 500 and status not in PROTOCOL_ERRORS, f"{where}: {statuses}"
        canary.check()
