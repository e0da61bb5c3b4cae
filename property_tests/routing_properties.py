"""Router properties, runnable against any router class with the production API.

``router_properties(router_cls)`` returns the properties as Hypothesis test
functions (call one to run it). The normal suite runs them against
``rover_mt.routing.Router``; ``test_routing_mutants.py`` runs them against
deliberately broken routers and expects each to be caught.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import example, given
from hypothesis import strategies as st

from rover_mt.routing import MatchKind, RouteConflict, RouteSpec

from . import routing_model as model
from .routing_strategies import (
    REQUEST_METHODS,
    conflict_prone_tables,
    encoding_styles,
    encode_segment,
    paths_for,
    route_tables,
    template_with_values,
    templates,
    methods,
)

PATHS_PER_TABLE = 6
Property = Callable[[], None]


def outcome_of(router: Any, method: str, raw_path: str) -> model.Outcome:
    """Run one request through ``router`` and express the answer as a model Outcome.

    The server routes with ``resolve`` and the API offers ``match``: both are
    asked, and must give the same answer."""
    found = router.match(method, raw_path)
    resolution, entry, values = router.resolve(method, raw_path)
    assert resolution == (found.kind, found.route_index, found.run_method, found.head_only,
                          found.allow), (method, raw_path)
    assert (entry.template if entry is not None else None) == \
        (None if found.kind is MatchKind.NOT_FOUND else router.template_of(found.route_index))
    assert list(values) == list(found.params.values()), (method, raw_path)
    if found.kind is MatchKind.NOT_FOUND:
        assert found.route_index == -1
        return model.Outcome("not_found", None, None, tuple(sorted(found.params.items())),
                             found.run_method, found.head_only, found.allow)
    spec = router.routes[found.route_index]
    assert router.template_of(found.route_index) == spec.template
    handler = model.spec_key(spec) if found.kind is MatchKind.FOUND else None
    return model.Outcome(found.kind.value, spec.template, handler,
                         tuple(sorted(found.params.items())), found.run_method,
                         found.head_only, found.allow)


def _requests(data: st.DataObject, table: list[RouteSpec]) -> list[tuple[str, str]]:
    return [(data.draw(st.sampled_from(REQUEST_METHODS), label="method"),
             data.draw(paths_for(table), label="path"))
            for _ in range(PATHS_PER_TABLE)]


def router_properties(router_cls: Callable[[list[RouteSpec]], Any]) -> dict[str, Property]:
    """The routing properties of issue 8, bound to ``router_cls``, by name."""

    @given(table=route_tables(), data=st.data())
    # Regression examples (``data`` is then the list of requests): backtracking from a
    # static branch into a parameter, a trailing slash that must not reach a parameter
    # route, and one position named differently by two templates (SPEC 3's own table).
    @example(table=[RouteSpec("/users/me", frozenset({"GET"})),
                    RouteSpec("/users/{p1}/posts", frozenset({"GET"}))],
             data=[("GET", "/users/me/posts"), ("GET", "/users/me/"), ("HEAD", "/users/x")])
    @example(table=[RouteSpec("/users/{id}", frozenset({"GET"})),
                    RouteSpec("/users/{uid}/posts/{pid}", frozenset({"DELETE"}))],
             data=[("GET", "/users/7"), ("DELETE", "/users/1/posts/2"),
                   ("GET", "/users/1/posts/2"), ("OPTIONS", "/users/1/posts")])
    def agrees_with_model(table: list[RouteSpec],
                          data: st.DataObject | list[tuple[str, str]]) -> None:
        router = router_cls(table)
        requests = data if isinstance(data, list) else _requests(data, table)
        for method, path in requests:
            assert outcome_of(router, method, path) == model.model_match(table, method, path), \
                (method, path)

    @given(table=route_tables(), seed=st.integers(0, 2**16), data=st.data())
    def order_independent(table: list[RouteSpec], seed: int, data: st.DataObject) -> None:
        shuffled = list(table)
        random.Random(seed).shuffle(shuffled)
        forward, backward = router_cls(table), router_cls(shuffled)
        reversed_router = router_cls(list(reversed(table)))
        assert forward.routes == backward.routes == reversed_router.routes
        for method, path in _requests(data, table):
            expected = outcome_of(forward, method, path)
            assert outcome_of(backward, method, path) == expected, (method, path)
            assert outcome_of(reversed_router, method, path) == expected, (method, path)

    @given(table=route_tables(), extra=templates(naming="mixed"), extra_methods=methods,
           data=st.data())
    def adding_a_route_keeps_other_paths(table: list[RouteSpec], extra: str,
                                         extra_methods: frozenset[str],
                                         data: st.DataObject) -> None:
        bigger = table + [RouteSpec(extra, extra_methods, "added")]
        if model.is_conflicting(bigger):
            return
        before, after = router_cls(table), router_cls(bigger)
        for method, path in _requests(data, bigger):
            if model.template_can_match(extra, path):
                continue
            assert outcome_of(after, method, path) == outcome_of(before, method, path), \
                (method, path)

    @given(shape=template_with_values(), style=encoding_styles)
    @example(shape=("/{p0}", {"p0": ["a/b?c#d%"]}), style="percent")
    @example(shape=("/a/{*p1}", {"p1": ["é", "+ x", "€"]}), style="raw-utf8")
    def params_round_trip(shape: tuple[str, dict[str, list[str]]], style: str) -> None:
        template, values = shape
        router = router_cls([RouteSpec(template, frozenset({"GET"}))])
        raw: list[str] = []
        for part in template[1:].split("/"):
            if part.startswith("{"):
                name = part.lstrip("{*").rstrip("}")
                # "as-is" would let "/" or "%" through undecoded: not a round trip.
                safe_style = "percent" if style == "as-is" else style
                raw.extend(encode_segment(v, safe_style) for v in values[name])
            else:
                raw.append(quote(part, safe=""))
        found = router.match("GET", "/" + "/".join(raw))
        assert found.kind is MatchKind.FOUND, raw
        assert found.params == {name: "/".join(v) for name, v in values.items()}

    @given(table=conflict_prone_tables())
    @example(table=[RouteSpec("/users/{id}", frozenset({"GET"})),
                    RouteSpec("/users/{name}/posts", frozenset({"GET"}))])
    @example(table=[RouteSpec("/users/{id}", frozenset({"GET"})),
                    RouteSpec("/users/{name}", frozenset({"POST"}))])
    @example(table=[RouteSpec("/a", frozenset({"GET"})),
                    RouteSpec("/a", frozenset({"POST"}))])
    def rejects_exactly_conflicting_tables(table: list[RouteSpec]) -> None:
        expected = model.is_conflicting(table)
        try:
            router_cls(table)
        except RouteConflict:
            assert expected, f"valid table refused: {table}"
        else:
            assert not expected, f"conflicting table accepted: {table}"

    return {
        "agrees_with_model": agrees_with_model,
        "order_independent": order_independent,
        "adding_a_route_keeps_other_paths": adding_a_route_keeps_other_paths,
        "params_round_trip": params_round_trip,
        "rejects_exactly_conflicting_tables": rejects_exactly_conflicting_tables,
    }


def check_router_properties(router_cls: Callable[[list[RouteSpec]], Any]) -> None:
    """Run every property against ``router_cls``; raises on the first failure."""
    for prop in router_properties(router_cls).values():
        prop()
