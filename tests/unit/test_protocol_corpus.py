"""Replay every corpus file under every split strategy against every parser backend.

Valid files must produce exactly the expected requests and leave nothing half-read;
invalid files must raise ProtocolError with the expected status (after the expected
number of complete requests), never hang waiting for more bytes.  Every backend must
reach the same result, request for request, however the bytes are split.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.loader import Case, Outcome, check_expected, load_corpus, replay, split_strategies  # noqa: E402

from rover_mt.protocol import Limits, available_backends, make_parser  # noqa: E402

CASES = load_corpus()
BACKENDS = available_backends()


def _summary(outcome: Outcome) -> tuple[object, ...]:
    status = outcome.error.status if outcome.error else None
    return (outcome.requests, status, outcome.in_progress)


def _check(case: Case, outcome: Outcome, where: str) -> None:
    if case.status is None:
        assert outcome.error is None, f"{where}: unexpected {outcome.error.status} {outcome.error}"
        assert not outcome.in_progress, f"{where}: parser still waiting for bytes"
        assert len(outcome.requests) == len(case.expected), f"{where}: request count"
        for (head, body), expected in zip(outcome.requests, case.expected):
            assert check_expected(head, body, expected) == [], where
    else:
        assert outcome.error is not None, f"{where}: no error (in_progress={outcome.in_progress})"
        assert outcome.error.status == case.status, f"{where}: {outcome.error.reason}"
        assert len(outcome.requests) == case.requests_before_error, where


def test_corpus_is_large_enough() -> None:
    assert len(load_corpus("valid")) >= 40
    assert len(load_corpus("invalid")) >= 80


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_under_every_split_and_backend(case: Case) -> None:
    reference: tuple[object, ...] | None = None
    for backend in BACKENDS:
        for strategy, writes in split_strategies(case.data).items():
            outcome = replay(make_parser(backend, Limits()), writes)
            where = f"{case.name} [{backend}, {strategy}]"
            _check(case, outcome, where)
            if reference is None:
                reference = _summary(outcome)
            else:
                assert _summary(outcome) == reference, f"{where}: differs from the first run"


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipeline_drained_after_all_bytes_arrived(backend: str) -> None:
    # Pipelined bytes are only buffered until start_next(); draining them afterwards
    # must give the same requests as answering each one as it arrives.
    for case in load_corpus("valid"):
        eager = replay(make_parser(backend, Limits()), [case.data])
        deferred = replay(make_parser(backend, Limits()), [case.data], eager=False)
        assert _summary(deferred) == _summary(eager), case.name
