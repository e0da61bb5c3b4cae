"""Mutated corpus requests: every input parses or raises ProtocolError, never anything
else, and every backend reaches the same result under any split."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.loader import load_corpus, replay  # noqa: E402

from rover_mt.protocol import Limits, available_backends, make_parser  # noqa: E402

SEEDS = [case.data for case in load_corpus() if len(case.data) < 2000]
# Bytes that matter to HTTP framing, so mutations hit interesting paths often.
INTERESTING = st.sampled_from(list(b"\r\n\t :;,\"0aF\x00\x7f\x80/"))


@st.composite
def mutated_requests(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        if op == "insert":
            data[pos:pos] = bytes([draw(INTERESTING)])
        elif pos < len(data):
            if op == "delete":
                del data[pos]
            else:
                data[pos] = draw(INTERESTING)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return bytes(data), cuts


@settings(max_examples=300, deadline=None)
@given(mutated_requests())
def test_mutations_agree_across_backends_and_splits(sample: tuple[bytes, list[int]]) -> None:
    data, cuts = sample
    bounds = [0, *cuts, len(data)]
    split = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    results = set()
    for backend in available_backends():
        for writes in ([data], split):
            outcome = replay(make_parser(backend, Limits()), writes)
            status = outcome.error.status if outcome.error else None
            results.add((repr(outcome.requests), status, outcome.in_progress))
    assert len(results) == 1, results
