"""Just enough Lua lexing to read a handler's source text: blank out comments,
find string literals, and split the arguments of a call.

The OpenAPI generator looks for calls such as ``ctx:body():expect(schema)`` in
the text of each handler. A real parser is not needed for that, but comments and
strings must not be mistaken for code (``-- expect(x)`` is not a call, and a
``)`` inside a string does not close one).
"""

from __future__ import annotations

import re

_LONG_OPEN = re.compile(r"\[(=*)\[")


def _long_bracket_end(text: str, start: int) -> tuple[int, int] | None:
    """If a long bracket ``[==[`` opens at `start`, return (content start, end
    index just past the closing ``]==]``); None when there is none."""
    m = _LONG_OPEN.match(text, start)
    if not m:
        return None
    close = "]" + m.group(1) + "]"
    end = text.find(close, m.end())
    return m.end(), (len(text) if end < 0 else end + len(close))


def mask(text: str, *, strings: bool = False) -> str:
    """`text` with every comment replaced by spaces, and with `strings` also
    the contents of string literals (their quotes or brackets kept). Newlines
    are kept, so offsets and line numbers stay the same."""
    out = list(text)

    def blank(a: int, b: int) -> None:
        for j in range(a, b):
            if out[j] != "\n":
                out[j] = " "

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            end = skip_string(text, i)
            if strings:
                blank(i + 1, end - 1)
            i = end
        elif c == "[" and _long_bracket_end(text, i):
            content, end = _long_bracket_end(text, i)  # type: ignore[misc]
            if strings:
                blank(content, end - (content - i))
            i = end
        elif text.startswith("--", i):
            long = _long_bracket_end(text, i + 2)
            if long:
                end = long[1]
            else:
                nl = text.find("\n", i)
                end = nl if nl >= 0 else n
            blank(i, end)
            i = end
        else:
            i += 1
    return "".join(out)


def skip_string(text: str, start: int) -> int:
    """Index just past the quoted string literal that opens at `start`."""
    quote = text[start]
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote or c == "\n":
            return i + 1
        i += 1
    return n


_CLOSERS = {"(": ")", "{": "}", "[": "]"}


def call_arguments(text: str, open_paren: int) -> tuple[list[str], int] | None:
    """Split the arguments of the call whose ``(`` is at `open_paren` into
    their source texts (stripped), and return them with the index past ``)``.

    Nesting of (), {} and [] and string literals are respected. Returns None
    when the call is not closed (truncated text)."""
    stack: list[str] = []
    args: list[str] = []
    piece_start = open_paren + 1
    i, n = open_paren + 1, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = skip_string(text, i)
            continue
        if c == "[" and _long_bracket_end(text, i):
            i = _long_bracket_end(text, i)[1]  # type: ignore[index]
            continue
        if c in _CLOSERS:
            stack.append(_CLOSERS[c])
        elif stack and c == stack[-1]:
            stack.pop()
        elif not stack and c == ")":
            last = text[piece_start:i].strip()
            if last or args:
                args.append(last)
            return args, i + 1
        elif not stack and c == ",":
            args.append(text[piece_start:i].strip())
            piece_start = i + 1
        i += 1
    return None


def table_argument(text: str, open_brace: int) -> tuple[str, int] | None:
    """The source of a table constructor call argument ``f { ... }`` starting
    at `open_brace`, and the index past its ``}``."""
    depth = 0
    i, n = open_brace, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = skip_string(text, i)
            continue
        if c == "[" and _long_bracket_end(text, i):
            i = _long_bracket_end(text, i)[1]  # type: ignore[index]
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace:i + 1], i + 1
        i += 1
    return None
