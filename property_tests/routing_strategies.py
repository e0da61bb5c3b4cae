"""Hypothesis strategies for route tables and for paths aimed at them.

Alphabets are tiny on purpose so that generated routes share prefixes, overlap in
shape and compete on precedence, and generated paths actually hit them.
"""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import strategies as st

from rover_mt.routing import RouteSpec

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
REQUEST_METHODS = METHODS + ("TRACE", "get")
# Static words include ones that need decoding care: non-ASCII, a literal "%", a
# space and a "+" (which must not become a space).
# Plain words are repeated so they dominate and routes overlap.
STATIC_WORDS = ("a", "a", "a", "b", "b", "me", "me", "users", "é", "100%", "x y", "a+b")
# Parameter values are mostly the static words (to fight static routes for a
# segment), sometimes reserved, empty or non-ASCII text.
PARAM_VALUES = STATIC_WORDS + STATIC_WORDS + ("1", "a/b", "?#", "", "€", "%zz", "~.-_")

static_word = st.sampled_from(STATIC_WORDS)
methods = st.frozensets(st.sampled_from(METHODS), min_size=1, max_size=3)


NAMINGS = ("position", "mixed", "clashing")


@st.composite
def templates(draw: st.DrawFn, naming: str = "position") -> str:
    """A syntactically valid template of 0-4 segments, ending in a catch-all sometimes.

    ``naming`` picks parameter names: ``position`` names them by depth only
    (``p0``, ``p1``), so tables never hold two same-shape templates; ``mixed`` also
    uses ``q<depth>``, so a shared position is often named differently (legal, and
    it tests that values are named by the matched template); ``clashing`` draws
    from a small pool so same-shape templates (a conflict) are common.
    """
    size = draw(st.sampled_from((0, 1, 2, 2, 2, 3, 3, 4)))
    parts = []
    for depth in range(size):
        kind = draw(st.sampled_from(("static", "static", "static", "param", "param", "catch")))
        if kind == "catch" and depth != size - 1:
            kind = "param"
        if kind == "static":
            parts.append(draw(static_word))
            continue
        if naming == "position":
            name = f"p{depth}"
        elif naming == "mixed":
            name = draw(st.sampled_from((f"p{depth}", f"q{depth}")))
        else:
            name = draw(st.sampled_from(("id", "name", f"p{depth}")))
        parts.append("{*" + name + "}" if kind == "catch" else "{" + name + "}")
    return "/" + "/".join(parts)


def shape_of(template: str) -> tuple[str, ...]:
    """The template with parameter names erased: equal shapes match the same paths."""
    return tuple("{*}" if part.startswith("{*") else "{}" if part.startswith("{") else part
                 for part in template.split("/"))


@st.composite
def route_tables(draw: st.DrawFn, max_templates: int = 6) -> list[RouteSpec]:
    """Distinct valid templates, each with methods; sometimes one path split over two specs.

    Parameter names are ``mixed``; of several templates with one shape only the
    first is kept, since same-shape templates conflict.
    """
    chosen = draw(st.lists(templates(naming="mixed"), min_size=1, max_size=max_templates,
                           unique=True))
    chosen = _with_relatives(draw, chosen, max_templates)
    shapes: dict[tuple[str, ...], str] = {}
    for template in chosen:
        shapes.setdefault(shape_of(template), template)
    chosen = list(shapes.values())
    table: list[RouteSpec] = []
    for number, template in enumerate(chosen):
        declared = draw(methods)
        if len(declared) > 1 and draw(st.booleans()):
            ordered = sorted(declared)
            cut = draw(st.integers(1, len(ordered) - 1))
            table.append(RouteSpec(template, frozenset(ordered[:cut]), f"r{number}a"))
            table.append(RouteSpec(template, frozenset(ordered[cut:]), f"r{number}b"))
        else:
            table.append(RouteSpec(template, declared, f"r{number}"))
    return table


def _with_relatives(draw: st.DrawFn, chosen: list[str], limit: int) -> list[str]:
    """Add templates derived from drawn ones (one segment changed, added or dropped).

    Independent random templates rarely compete for a path; relatives do, which is
    what precedence and backtracking bugs need.
    """
    result = list(chosen)
    for _ in range(draw(st.integers(0, 3))):
        if len(result) >= limit:
            break
        parts = [p for p in draw(st.sampled_from(result))[1:].split("/") if p]
        action = draw(st.sampled_from(("replace", "replace", "extend", "truncate")))
        depth = len(parts) - 1 if parts and parts[-1].startswith("{*") else len(parts)
        if action == "extend" and depth == len(parts):
            parts.append(draw(st.sampled_from((draw(static_word), f"{{p{depth}}}",
                                               f"{{*p{depth}}}"))))
        elif action == "truncate" and parts:
            parts.pop()
        elif parts:
            where = draw(st.integers(0, len(parts) - 1))
            options = [draw(static_word), f"{{p{where}}}"]
            if where == len(parts) - 1:
                options.append(f"{{*p{where}}}")
            parts[where] = draw(st.sampled_from(options))
        relative = "/" + "/".join(parts)
        if relative not in result:
            result.append(relative)
    return result


BROKEN_TEMPLATES = ("/{}", "/{*}", "/{*x}/a", "/a//b", "/a/", "a", "/{x}/{x}", "/x{y}")


@st.composite
def conflict_prone_tables(draw: st.DrawFn) -> list[RouteSpec]:
    """Tables that are often invalid: clashing names, repeats, broken syntax."""
    pool = st.one_of(templates(naming="clashing"), templates(naming="clashing"),
                     st.sampled_from(BROKEN_TEMPLATES))
    chosen = draw(st.lists(pool, min_size=1, max_size=5))
    return [RouteSpec(t, draw(methods), f"r{n}") for n, t in enumerate(chosen)]


def encode_segment(text: str, style: str) -> str:
    """Write decoded ``text`` as a raw path segment in one of several legal styles."""
    if style == "percent":
        return quote(text, safe="")
    if style == "percent-lower":
        return "".join(c if c.isalnum() and c.isascii() else quote(c, safe="").lower()
                       for c in text)
    if style == "raw-utf8" and "/" not in text and "%" not in text:
        # How a server hands over unescaped non-ASCII bytes: latin-1 text of UTF-8.
        return text.encode("utf-8").decode("latin-1")
    if style == "as-is":
        return text      # may be illegal on purpose ("100%", "a/b", "€")
    return quote(text, safe="")


encoding_styles = st.sampled_from(("percent", "percent-lower", "raw-utf8", "as-is", "as-is",
                                   "as-is"))
param_value = st.one_of(st.sampled_from(PARAM_VALUES), st.text(max_size=3))

MUTATIONS = ("trailing-slash", "drop-last", "add-segment", "empty-segment", "bad-escape",
             "bad-utf8", "encoded-slash")


@st.composite
def paths_for(draw: st.DrawFn, table: list[RouteSpec]) -> str:
    """A raw path built from one of the table's templates, perhaps mutated, or a random one."""
    # Rare branches sit on the highest value: Hypothesis favours small integers.
    if draw(st.integers(0, 9)) == 9:
        return draw(st.sampled_from(("", "x", "*", "//", "/")))
    template = draw(st.sampled_from([spec.template for spec in table]))
    segments: list[str] = []
    for part in ([] if template == "/" else template[1:].split("/")):
        if part.startswith("{*"):
            values = draw(st.lists(param_value, min_size=1, max_size=3))
        elif part.startswith("{"):
            values = [draw(param_value)]
        elif draw(st.integers(0, 4)) == 4:
            values = [draw(param_value)]           # a different word in a static slot
        else:
            values = [part]
        segments.extend(encode_segment(v, draw(encoding_styles)) for v in values)
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 1, 2)))):
        segments = _mutate(draw, segments, draw(st.sampled_from(MUTATIONS)))
    return "/" + "/".join(segments)


def _mutate(draw: st.DrawFn, segments: list[str], mutation: str) -> list[str]:
    if mutation == "trailing-slash":
        return segments + [""]
    if mutation == "drop-last":
        return segments[:-1]
    if mutation == "add-segment":
        return segments + [encode_segment(draw(param_value), "percent")]
    where = draw(st.integers(0, len(segments)))
    inserted = {"empty-segment": "", "bad-escape": "%4", "bad-utf8": "%C3%28",
                "encoded-slash": "a%2Fb"}[mutation]
    return segments[:where] + [inserted] + segments[where:]


@st.composite
def template_with_values(draw: st.DrawFn) -> tuple[str, dict[str, list[str]]]:
    """A template with at least one parameter and the values to put in each.

    A catch-all gets a list of segments; any other parameter a one-item list. Values
    are arbitrary non-empty text (reserved and non-ASCII characters included).
    """
    template = draw(templates().filter(lambda t: "{" in t))
    values: dict[str, list[str]] = {}
    for part in template[1:].split("/"):
        if part.startswith("{*"):
            values[part[2:-1]] = draw(st.lists(st.text(min_size=1, max_size=6),
                                               min_size=1, max_size=3))
        elif part.startswith("{"):
            values[part[1:-1]] = [draw(st.text(min_size=1, max_size=6))]
    return template, values
