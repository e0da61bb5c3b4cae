"""Turning a raw request path into decoded segments.

The raw path is the request target as received (bytes decoded as latin-1, so each
character is one byte), without the query string. Each ``/``-separated segment is
percent-decoded to bytes and then decoded as strict UTF-8. A segment that cannot be
decoded becomes ``None``, which the router never matches against anything.
"""

from __future__ import annotations

import re

# A "%" not followed by two hex digits. Such a segment is malformed: we refuse to
# guess (literal "%" or not), so it never matches, like invalid UTF-8.
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _unescape_byte(found: re.Match[bytes]) -> bytes:
    return bytes((int(found.group(1), 16),))


def decode_segment(raw: str) -> str | None:
    """Decode one raw segment, or return ``None`` if it can never match.

    ``None`` when the segment has a malformed escape (``%zz``, a lone ``%``), a
    character outside latin-1 (so it cannot be a received byte), or bytes that are
    not valid UTF-8. ``+`` stays ``+`` and ``%2F`` becomes ``/`` inside the segment.
    """
    if raw.isascii() and "%" not in raw:
        return raw
    if _MALFORMED_ESCAPE.search(raw) is not None:
        return None
    try:
        data = raw.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if b"%" in data:
        data = _ESCAPE.sub(_unescape_byte, data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_path(raw_path: str) -> list[str | None]:
    """Split a raw path that starts with ``/`` into decoded segments.

    ``"/"`` gives ``[]``; ``"/a/"`` gives ``["a", ""]`` (trailing slashes are
    significant, and an empty segment matches nothing).
    """
    rest = raw_path[1:]
    if rest == "":
        return []
    return [decode_segment(part) for part in rest.split("/")]
