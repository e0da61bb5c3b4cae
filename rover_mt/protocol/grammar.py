"""Byte-level grammar of an HTTP/1.1 request head (RFC 9110 / RFC 9112), as compiled regexes.

Every backend is checked against these same patterns, so what counts as valid syntax
is decided in one place rather than by whichever parser library happens to be loaded.
The patterns are deliberately stricter than the RFC's "be lenient" suggestions: no
obs-fold, no bare CR or LF, no whitespace before the colon, no control bytes in values.
"""

from __future__ import annotations

import re

# RFC 9110 5.6.2 tchar, used for methods, field names and chunk extension names.
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"

# A visible byte or obs-text: what a field value may contain besides SP and HTAB.
_FIELD_VCHAR = rb"[\x21-\x7e\x80-\xff]"

# request-line = method SP request-target SP HTTP-version CRLF.  The version accepts
# any digit pair so that "HTTP/2.0" is recognised (and answered 505) rather than
# lumped in with garbage (400).  The target is any run of visible ASCII; which forms
# are acceptable is decided later (see head_meaning).
REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])\r\n")

# field-line = field-name ":" OWS field-value OWS CRLF.  The value group excludes the
# surrounding OWS; possessive quantifiers keep the match linear on long values.
_FIELD_LINE = (
    rb"(" + TOKEN + rb"):[ \t]*+"
    rb"(" + _FIELD_VCHAR + rb"++(?:[ \t]++" + _FIELD_VCHAR + rb"++)*+)?[ \t]*+\r\n"
)
FIELD_LINE = re.compile(_FIELD_LINE)

# The header block after the request line: field lines, then the empty line.  For
# validation the value's inner structure does not matter (only which bytes occur), so
# this simpler pattern accepts exactly the lines FIELD_LINE accepts, faster.
_FIELD_BLOCK = rb"(?:" + TOKEN + rb":[\t\x20-\x7e\x80-\xff]*+\r\n)*+\r\n"
FIELD_BLOCK = re.compile(_FIELD_BLOCK)

# A whole valid head in one match (the common case); groups as in REQUEST_LINE.
HEAD = re.compile(REQUEST_LINE.pattern + _FIELD_BLOCK)

# Chunk size line (RFC 9112 7.1) without whitespace anywhere, which is stricter than
# the RFC's BWS but matches what real clients send and what both backends accept.
_QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:;" + TOKEN + rb"(?:=(?:" + TOKEN + rb"|" + _QUOTED_STRING + rb"))?)*\r\n"
)

# Host = uri-host [ ":" port ]: reg-name / IPv4 / IP-literal characters only.
HOST_VALUE = re.compile(rb"(?:\[[0-9A-Fa-f:.vV]+\]|[-A-Za-z0-9._~!$&'()*+,;=%]*)(?::[0-9]*)?")

# absolute-form target "http://authority/path?query": only the path and query are kept.
ABSOLUTE_TARGET = re.compile(rb"[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+(.*)")

# The common case, in one match: an origin-form target without a fragment, HTTP/1.0 or
# 1.1, and field lines whose values are visible bytes (ASCII or obs-text) and spaces,
# with no space before the CRLF (no HTAB, no control bytes, no bare CR/LF).  Every head this matches also matches
# HEAD above and passes check_head, so matching it lets the per-line checks be skipped;
# heads it does not match take the detailed path, which gives the exact error status.
# Groups: method, target, minor version digit, the field block.  Quantifiers are
# possessive, so each byte is looked at once however the match fails.
PLAIN_HEAD = re.compile(
    rb"(" + TOKEN + rb"+) (/[\x21\x22\x24-\x7e]*+) HTTP/1\.([01])\r\n"
    rb"((?:" + TOKEN + rb"+:[\x20-\x7e\x80-\xff]*+(?<! )\r\n)*+)\r\n"
)

# (name, value) of each line of a field block PLAIN_HEAD matched.  Only valid on such a
# block: it relies on every line being "token:value" with no trailing space, and in
# exchange runs about twice as fast as FIELD_LINE.
PLAIN_FIELD_LINE = re.compile(rb"([^:]++):[ ]*+([^\r]*+)\r\n")
