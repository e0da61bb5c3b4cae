"""Read a handler's source text for what OpenAPI can say about it: the schema
its body is validated with, and the responses it can build.

Pure text work: names are resolved through callbacks (the Lua side evaluates
them in the handler's real scope), so this module can be tested on strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from .lua_text import call_arguments, mask, table_argument

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
OCTET = "application/octet-stream"

# Builder name -> (default status, content type); None: no body / not known.
BUILDERS: dict[str, tuple[int | None, str | None]] = {
    "json": (200, JSON), "text": (200, TEXT), "html": (200, HTML), "raw": (200, OCTET),
    "redirect": (302, None), "no_content": (204, None), "error": (None, JSON),
    "response": (200, None),
}

_NAME = r"[A-Za-z_]\w*"
_EXPECT = re.compile(r"[.:]\s*expect\s*([({])")
_CALL = re.compile(rf"(?<![\w.:])({_NAME}(?:\s*\.\s*{_NAME})*)(?:\s*:\s*({_NAME}))?\s*\(")
_BUILDER = re.compile(rf"(?<![\w.:])({_NAME})\s*[.:]\s*({'|'.join(BUILDERS)})\b")
_STATUS_CALL = re.compile(r"\s*[.:]\s*status\s*\(")
_PERMANENT = re.compile(r"\s*[.:]\s*permanent\b")
_OPEN_CALL = re.compile(r"\s*([({])")
_STATUS_FIELD = re.compile(r"\bstatus\s*=\s*(\d{3})\b")
_RAISED_STATUS = re.compile(r"(?<![\w.:])error\s*\(?\s*\{[^{}]*?\bstatus\s*=\s*(\d{3})\b")
_INT = re.compile(r"^\d{3}$")
_BODY_USE = re.compile(r"[.:]\s*body\s*\(\s*\)\s*[.:]\s*(\w+)")
_KEYWORD = re.compile(r"\b(function|if|do|repeat|end|until|return)\b")


@dataclass
class HandlerFacts:
    """What the text of one handler shows."""

    schema_exprs: list[str] = field(default_factory=list)  # candidates, in source order
    body_kinds: set[str] = field(default_factory=set)      # json, text, raw, bytes, expect
    # status -> content types seen for it (None = a response without a body)
    responses: dict[int, set[str | None]] = field(default_factory=dict)
    unknown_return: bool = False   # some top-level return's type cannot be read
    reads_body: bool = False

    def add(self, status: int | None, ctype: str | None) -> None:
        if status is not None and 100 <= status <= 599:
            self.responses.setdefault(status, set()).add(ctype)


def scan_handler(source: str, is_api: Callable[[str], bool],
                 is_guard_call: Callable[[str], bool]) -> HandlerFacts:
    """Scan the text of one handler (from its `function` to its `end`)."""
    code = mask(source)                 # comments blanked, strings kept
    plain = mask(source, strings=True)  # strings blanked too: safe to search
    facts = HandlerFacts()
    _find_schemas(code, plain, is_guard_call, facts)
    for m in _BODY_USE.finditer(plain):
        facts.reads_body = True
        facts.body_kinds.add(m.group(1))
    _find_builders(code, plain, is_api, facts)
    for m in _RAISED_STATUS.finditer(plain):
        facts.add(int(m.group(1)), JSON)
    _classify_returns(plain, is_api, facts)
    return facts


def _find_schemas(code: str, plain: str, is_guard_call: Callable[[str], bool],
                  facts: HandlerFacts) -> None:
    for m in _EXPECT.finditer(plain):
        facts.reads_body = True
        facts.body_kinds.add("expect")
        if m.group(1) == "{":
            found = table_argument(code, m.start(1))
            if found:
                facts.schema_exprs.append(found[0])
            continue
        call = call_arguments(code, m.start(1))
        if call and call[0]:
            # `body:expect(s)` has one argument; `body.expect(body, s)` two.
            facts.schema_exprs.append(call[0][-1])
    # rover.guard(ctx:body():json(), schema), g.check(data, schema) ...
    for m in _CALL.finditer(plain):
        callee = re.sub(r"\s+", "", m.group(1))
        if m.group(2):
            callee += "." + m.group(2)
        call = call_arguments(code, m.end() - 1)
        if not call or len(call[0]) < 2 or "body" not in call[0][0]:
            continue
        if is_guard_call(callee):
            facts.reads_body = True
            facts.schema_exprs.append(call[0][1])


def _literal_status(args: list[str]) -> int | None:
    for a in args[:2]:  # a dot call may pass the builder itself first
        if _INT.match(a):
            return int(a)
    return None


def _find_builders(code: str, plain: str, is_api: Callable[[str], bool],
                   facts: HandlerFacts) -> None:
    checked: dict[str, bool] = {}
    for m in _BUILDER.finditer(plain):
        name, builder = m.group(1), m.group(2)
        if name not in checked:
            checked[name] = is_api(name)
        if not checked[name]:
            continue
        status, ctype = BUILDERS[builder]
        rest = m.end()
        st = _STATUS_CALL.match(plain, rest)
        if st:
            call = call_arguments(code, st.end() - 1)
            status = _literal_status(call[0]) if call else None
        elif builder == "redirect" and _PERMANENT.match(plain, rest):
            status = 301
        elif builder in ("error", "response"):
            args = _builder_arguments(code, plain, rest)
            if builder == "error":
                status = _literal_status(args)
            else:
                text = args[0] if args else ""
                found = _STATUS_FIELD.search(text)
                status = int(found.group(1)) if found else (None if "status" in text else 200)
                if not re.search(r"\bbody\s*=\s*\{", text):
                    # A string body's type comes from its headers: not known here.
                    facts.unknown_return = True
                    continue
                ctype = JSON
        facts.add(status, ctype)


def _builder_arguments(code: str, plain: str, at: int) -> list[str]:
    """Arguments of `api.error(...)` / `api.response { ... }` right after `at`."""
    op = _OPEN_CALL.match(plain, at)
    if not op:
        return []
    if op.group(1) == "{":
        found = table_argument(code, op.start(1))
        return [found[0]] if found else []
    call = call_arguments(code, op.start(1))
    return call[0] if call else []


def _top_level_returns(plain: str) -> list[int]:
    """Offsets just past each `return` that belongs to the handler itself (not
    to a function nested inside it)."""
    depth_fn = 0   # nested functions entered (the handler's own is the first)
    stack: list[str] = []
    out = []
    for m in _KEYWORD.finditer(plain):
        word = m.group(1)
        if word == "function":
            stack.append("function")
            depth_fn += 1
        elif word in ("if", "do"):
            stack.append(word)
        elif word == "repeat":
            stack.append(word)
        elif word in ("end", "until"):
            if stack:
                if stack.pop() == "function":
                    depth_fn -= 1
        elif word == "return" and depth_fn <= 1:
            out.append(m.end())
    return out


_RET_TEXT = re.compile(r"\s*(\"|'|\[=*\[|-?\d|true\b|false\b)")
_RET_EMPTY = re.compile(r"\s*(;|$|end\b|else\b|elseif\b|until\b|nil\s*($|;|end\b|else\b|elseif\b|until\b))")
_RET_BUILDER = re.compile(rf"\s*({_NAME})\s*[.:]\s*({'|'.join(BUILDERS)})\b")


def _classify_returns(plain: str, is_api: Callable[[str], bool], facts: HandlerFacts) -> None:
    # `while x do` / `for ... do` open one block with their `do`; nothing else to do.
    returns = _top_level_returns(plain)
    if not returns:
        facts.add(204, None)
        return
    for at in returns:
        if plain[at:at + 200].lstrip().startswith("{"):
            facts.add(200, JSON)
        elif _RET_TEXT.match(plain, at):
            facts.add(200, TEXT)
        elif _RET_EMPTY.match(plain, at):
            facts.add(204, None)
        else:
            b = _RET_BUILDER.match(plain, at)
            if not (b and is_api(b.group(1))):
                facts.unknown_return = True
