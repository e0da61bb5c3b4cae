"""Explicit examples for each routing rule of SPEC section 3 ("Matching")."""

from __future__ import annotations

import pytest

from rover_mt.routing import (
    Match,
    MatchKind,
    RouteConflict,
    Router,
    RouteSpec,
    Segment,
    SegmentKind,
    parse_template,
)


def spec(template: str, *methods: str, source: str = "") -> RouteSpec:
    return RouteSpec(template, frozenset(methods or ("GET",)), source)


def router(*templates: str) -> Router:
    return Router(spec(t) for t in templates)


def routed(r: Router, path: str, method: str = "GET") -> tuple[str | None, dict[str, str]]:
    """(matched template or None, params) for a GET-style lookup."""
    m = r.match(method, path)
    if m.kind is MatchKind.NOT_FOUND:
        return None, m.params
    return r.template_of(m.route_index), m.params


# --- the SPEC's route table examples, verbatim ---------------------------------------

SPEC_ROWS = [
    ("GET", "/", "/", {}),
    ("GET", "/hello", "/hello", {}),
    ("GET", "/users/7", "/users/{id}", {"id": "7"}),
    ("DELETE", "/users/1/posts/2", "/users/{uid}/posts/{pid}", {"uid": "1", "pid": "2"}),
    ("GET", "/files/a/b/c.txt", "/files/{*path}", {"path": "a/b/c.txt"}),
    ("GET", "/kebab-case", "/kebab-case", {}),
]


@pytest.mark.parametrize(("method", "path", "template", "params"), SPEC_ROWS)
def test_spec_route_table_examples(method: str, path: str, template: str,
                                   params: dict[str, str]) -> None:
    # Each row alone, and all rows together in one table (they are one app's routes).
    everything = [spec(t, m) for m, _, t, _ in SPEC_ROWS]
    for table in ([spec(template, method)], everything):
        r = Router(table)
        m = r.match(method, path)
        assert m.kind is MatchKind.FOUND
        assert r.template_of(m.route_index) == template
        assert m.params == params
        assert m.run_method == method


def test_spec_rows_id_and_uid_share_a_position() -> None:
    # /users/{id} and /users/{uid}/posts/{pid} bind the second segment under
    # different names; each path's params are named by the template it matched.
    r = Router([spec("/users/{id}"), spec("/users/{uid}/posts/{pid}", "DELETE")])
    assert routed(r, "/users/7") == ("/users/{id}", {"id": "7"})
    assert routed(r, "/users/1/posts/2", "DELETE") == (
        "/users/{uid}/posts/{pid}", {"uid": "1", "pid": "2"})
    # 405 and auto-OPTIONS carry the params too, under the matched template's names.
    not_allowed = r.match("GET", "/users/1/posts/2")
    assert not_allowed.kind is MatchKind.METHOD_NOT_ALLOWED
    assert not_allowed.params == {"uid": "1", "pid": "2"}
    assert r.match("OPTIONS", "/users/9").params == {"id": "9"}


# --- templates -------------------------------------------------------------------

def test_parse_template_kinds() -> None:
    assert parse_template("/") == []
    assert parse_template("/users/{id}/files/{*rest}") == [
        Segment(SegmentKind.STATIC, "users"),
        Segment(SegmentKind.PARAM, "id"),
        Segment(SegmentKind.STATIC, "files"),
        Segment(SegmentKind.CATCH_ALL, "rest"),
    ]
    assert [str(s) for s in parse_template("/a/{b}/{*c}")] == ["a", "{b}", "{*c}"]


@pytest.mark.parametrize("template", [
    "", "users", "/users/", "/a//b", "/{}", "/{*}", "/files/{*path}/x", "/a{b}",
    "/{a}/{a}", "/{a{b}}", "/{**x}",
])
def test_invalid_templates_are_rejected_by_name(template: str) -> None:
    with pytest.raises(RouteConflict) as info:
        Router([spec(template)])
    assert repr(template) in str(info.value)


# --- load-time conflicts -----------------------------------------------------------

@pytest.mark.parametrize(("first", "second"), [
    ("/users/{id}", "/users/{name}"),
    ("/files/{*path}", "/files/{*rest}"),
    ("/{a}/x", "/{b}/x"),
    ("/{a}/{*r}", "/{b}/{*s}"),
    ("/u/{a}/{b}", "/u/{b}/{a}"),
])
def test_same_shape_with_different_names_conflicts(first: str, second: str) -> None:
    for order in ((first, second), (second, first)):
        with pytest.raises(RouteConflict, match="differ only by parameter names") as info:
            router(*order)
        assert repr(first) in str(info.value) and repr(second) in str(info.value)


@pytest.mark.parametrize(("first", "second", "path", "expected"), [
    ("/users/{id}", "/users/{name}/posts", "/users/x/posts", {"name": "x"}),
    ("/{a}/x", "/{b}/y", "/1/y", {"b": "1"}),
    ("/{a}", "/{*rest}", "/1/2", {"rest": "1/2"}),
    ("/f/{a}", "/f/{b}/{*rest}", "/f/1/2/3", {"b": "1", "rest": "2/3"}),
    ("/{a}/{b}/x", "/{c}/{d}/{*e}", "/1/2/x", {"a": "1", "b": "2"}),
])
def test_different_names_at_a_shared_position_load(first: str, second: str, path: str,
                                                   expected: dict[str, str]) -> None:
    # Same position, different names, different shapes: legal, named positionally.
    for order in ((first, second), (second, first)):
        assert routed(router(*order), path)[1] == expected


def test_same_template_with_overlapping_methods_conflicts() -> None:
    with pytest.raises(RouteConflict, match=r"'/a'.*GET") as info:
        Router([spec("/a", "GET", "POST", source="api.a"), spec("/a", "GET", source="api.b")])
    assert "api.a" in str(info.value) and "api.b" in str(info.value)


def test_same_template_with_disjoint_methods_is_one_path() -> None:
    r = Router([spec("/a", "POST", source="second"), spec("/a", "GET", source="first")])
    get, post, put = r.match("GET", "/a"), r.match("POST", "/a"), r.match("PUT", "/a")
    assert r.routes[get.route_index].source == "first"
    assert r.routes[post.route_index].source == "second"
    assert put.kind is MatchKind.METHOD_NOT_ALLOWED
    assert put.allow == "GET, HEAD, OPTIONS, POST"


@pytest.mark.parametrize("methods", [frozenset(), frozenset({"get"}), frozenset({"TRACE"})])
def test_bad_method_declarations_are_rejected(methods: frozenset[str]) -> None:
    with pytest.raises(RouteConflict, match="'/x'"):
        Router([RouteSpec("/x", methods)])


def test_non_conflicting_shapes_load() -> None:
    # Same name at the same position, static siblings and different depths are fine.
    router("/users/{id}", "/users/{id}/posts", "/users/me", "/files/{*p}", "/{id}",
           "/users/{id}/{*rest}")


def test_routes_order_is_independent_of_declaration_order() -> None:
    specs = [spec("/b"), spec("/a/{x}"), spec("/a"), spec("/", "POST")]
    assert Router(specs).routes == Router(reversed(specs)).routes
    assert [s.template for s in Router(specs).routes] == ["/", "/a", "/a/{x}", "/b"]


# --- precedence and backtracking ---------------------------------------------------

def test_spec_backtracking_example() -> None:
    r = router("/users/me", "/users/{id}/posts")
    assert routed(r, "/users/me/posts") == ("/users/{id}/posts", {"id": "me"})
    assert routed(r, "/users/me") == ("/users/me", {})


def test_static_beats_param_beats_catch_all() -> None:
    r = router("/a/{*rest}", "/a/{x}", "/a/b")
    assert routed(r, "/a/b") == ("/a/b", {})
    assert routed(r, "/a/c") == ("/a/{x}", {"x": "c"})
    assert routed(r, "/a/c/d") == ("/a/{*rest}", {"rest": "c/d"})


def test_backtracking_from_param_to_catch_all() -> None:
    r = router("/a/{x}/end", "/a/{*rest}")
    assert routed(r, "/a/1/end") == ("/a/{x}/end", {"x": "1"})
    assert routed(r, "/a/1/other") == ("/a/{*rest}", {"rest": "1/other"})


def test_backtracking_several_levels() -> None:
    r = router("/a/b/c/d", "/a/{x}/c/e", "/{y}/b/{z}/f")
    assert routed(r, "/a/b/c/e") == ("/a/{x}/c/e", {"x": "b"})
    assert routed(r, "/a/b/c/f") == ("/{y}/b/{z}/f", {"y": "a", "z": "c"})


def test_root_catch_all_and_root_route() -> None:
    r = router("/", "/{*all}")
    assert routed(r, "/") == ("/", {})
    assert routed(r, "/x/y") == ("/{*all}", {"all": "x/y"})


# --- path shape ----------------------------------------------------------------------

def test_trailing_slash_is_significant() -> None:
    r = router("/hello", "/dir/{x}")
    assert routed(r, "/hello/") == (None, {})
    assert routed(r, "/dir/a/") == (None, {})
    assert routed(r, "/hello") == ("/hello", {})


def test_empty_segments_never_match_a_param() -> None:
    r = router("/users/{id}", "/a/{x}/b")
    assert routed(r, "/users/") == (None, {})
    assert routed(r, "/a//b") == (None, {})
    assert routed(r, "//users/1") == (None, {})


def test_catch_all_needs_non_empty_segments() -> None:
    # Decision: a catch-all matches one or more segments, each non-empty, like params.
    r = router("/files/{*path}")
    assert routed(r, "/files") == (None, {})
    assert routed(r, "/files/") == (None, {})
    assert routed(r, "/files/a//b") == (None, {})
    assert routed(r, "/files/a/") == (None, {})
    assert routed(r, "/files/a") == ("/files/{*path}", {"path": "a"})


@pytest.mark.parametrize("path", ["", "hello", "*", "http://x/hello"])
def test_path_not_starting_with_slash_is_not_found(path: str) -> None:
    assert router("/hello", "/{*all}").match("GET", path).kind is MatchKind.NOT_FOUND


# --- decoding --------------------------------------------------------------------------

def test_percent_decoding_per_segment() -> None:
    r = router("/users/{id}", "/files/{*path}", "/static/a b")
    assert routed(r, "/users/a%2Fb") == ("/users/{id}", {"id": "a/b"})
    assert routed(r, "/files/x%2Fy/z") == ("/files/{*path}", {"path": "x/y/z"})
    assert routed(r, "/users/caf%C3%A9") == ("/users/{id}", {"id": "café"})
    assert routed(r, "/static/a%20b") == ("/static/a b", {})


def test_plus_is_not_a_space() -> None:
    r = router("/users/{id}", "/a+b")
    assert routed(r, "/users/a+b") == ("/users/{id}", {"id": "a+b"})
    assert routed(r, "/a+b") == ("/a+b", {})
    assert routed(r, "/a%2Bb") == ("/a+b", {})


def test_encoded_static_segment_matches_static_route() -> None:
    r = router("/hello", "/{x}")
    assert routed(r, "/h%65llo") == ("/hello", {})


def test_raw_utf8_bytes_match_like_percent_encoded_ones() -> None:
    r = router("/café", "/users/{id}")
    raw = "/café".encode().decode("latin-1")   # how the server hands bytes over
    assert routed(r, raw) == ("/café", {})
    assert routed(r, "/caf%C3%A9") == ("/café", {})
    assert routed(r, "/users/" + "ü".encode().decode("latin-1")) == ("/users/{id}", {"id": "ü"})


@pytest.mark.parametrize("segment", ["%FF", "%C3", "%C3%28", "\xff", "%ED%A0%80"])
def test_invalid_utf8_segment_never_matches(segment: str) -> None:
    r = router("/u/{id}", "/f/{*p}", "/{x}/tail")
    for path in (f"/u/{segment}", f"/f/ok/{segment}", f"/{segment}/tail"):
        assert routed(r, path) == (None, {}), path


@pytest.mark.parametrize("segment", ["%", "%zz", "%4", "a%", "%%41", "100%"])
def test_malformed_escape_segment_never_matches(segment: str) -> None:
    # Decision: a segment with a malformed escape is treated like invalid UTF-8.
    r = router("/u/{id}", "/f/{*p}", "/100%")
    assert routed(r, f"/u/{segment}") == (None, {})
    assert routed(r, f"/f/{segment}/x") == (None, {})


def test_static_segment_with_percent_sign_needs_it_encoded() -> None:
    r = router("/100%")
    assert routed(r, "/100%25") == ("/100%", {})
    assert routed(r, "/100%") == (None, {})


def test_characters_outside_latin1_never_match() -> None:
    # raw_path is latin-1 text of the received bytes; anything else is not a real byte.
    assert routed(router("/u/{id}"), "/u/\u20ac") == (None, {})


# --- methods ---------------------------------------------------------------------------

def test_method_found_and_405_with_allow() -> None:
    r = Router([spec("/items", "GET", "DELETE")])
    assert r.match("DELETE", "/items").kind is MatchKind.FOUND
    m = r.match("POST", "/items")
    assert m.kind is MatchKind.METHOD_NOT_ALLOWED
    assert m.allow == "DELETE, GET, HEAD, OPTIONS"
    assert m.run_method == "" and r.template_of(m.route_index) == "/items"


def test_head_falls_back_to_get() -> None:
    r = Router([spec("/a", "GET"), spec("/b", "GET", "HEAD"), spec("/c", "POST")])
    a = r.match("HEAD", "/a")
    assert (a.kind, a.run_method, a.head_only) == (MatchKind.FOUND, "GET", True)
    assert r.routes[a.route_index].template == "/a"
    b = r.match("HEAD", "/b")
    assert (b.kind, b.run_method, b.head_only) == (MatchKind.FOUND, "HEAD", False)
    c = r.match("HEAD", "/c")
    assert (c.kind, c.allow) == (MatchKind.METHOD_NOT_ALLOWED, "OPTIONS, POST")


def test_options_without_handler_is_auto_options() -> None:
    r = Router([spec("/a", "GET"), spec("/b", "OPTIONS", "PUT")])
    a = r.match("OPTIONS", "/a")
    assert (a.kind, a.allow, a.run_method) == (MatchKind.AUTO_OPTIONS, "GET, HEAD, OPTIONS", "")
    b = r.match("OPTIONS", "/b")
    assert (b.kind, b.run_method, b.allow) == (MatchKind.FOUND, "OPTIONS", "")


@pytest.mark.parametrize("method", ["TRACE", "PURGE", "get", "CONNECT"])
def test_unused_method_tokens(method: str) -> None:
    r = Router([spec("/a", "GET")])
    assert r.match(method, "/a").kind is MatchKind.METHOD_NOT_ALLOWED
    assert r.match(method, "/nope").kind is MatchKind.NOT_FOUND


def test_path_is_matched_before_method() -> None:
    # Decision (as Rover/matchit): the best path match decides; a lower-precedence
    # route having the method does not turn the 405 into a match.
    r = Router([spec("/users/me", "GET"), spec("/users/{id}", "DELETE")])
    m = r.match("DELETE", "/users/me")
    assert m.kind is MatchKind.METHOD_NOT_ALLOWED
    assert r.template_of(m.route_index) == "/users/me"
    assert m.allow == "GET, HEAD, OPTIONS"


def test_405_and_options_carry_params() -> None:
    r = Router([spec("/u/{id}", "GET")])
    assert r.match("PUT", "/u/9").params == {"id": "9"}
    assert r.match("OPTIONS", "/u/9").params == {"id": "9"}


def test_not_found_shape() -> None:
    assert router("/a").match("GET", "/b") == Match(MatchKind.NOT_FOUND, -1, {}, "", False, "")


def test_params_dict_is_fresh_per_match() -> None:
    r = router("/u/{id}", "/s")
    first = r.match("GET", "/u/1")
    first.params["id"] = "changed"
    assert r.match("GET", "/u/1").params == {"id": "1"}
    r.match("GET", "/s").params["x"] = "y"
    assert r.match("GET", "/s").params == {}


def test_two_routers_are_independent() -> None:
    one, two = router("/a"), router("/b")
    assert routed(one, "/a")[0] == "/a" and routed(one, "/b")[0] is None
    assert routed(two, "/b")[0] == "/b" and routed(two, "/a")[0] is None
