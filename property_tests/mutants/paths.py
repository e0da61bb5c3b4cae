"""Broken routers that read the path wrong."""

from __future__ import annotations

from urllib.parse import unquote

from rover_mt.routing import Match, Router


class TrailingSlashIgnored(Router):
    """Treats ``/hello/`` like ``/hello``."""

    def match(self, method: str, raw_path: str) -> Match:
        if len(raw_path) > 1 and raw_path.endswith("/"):
            raw_path = raw_path[:-1]
        return super().match(method, raw_path)


class PlusIsSpace(Router):
    """Decodes ``+`` as a space, as query strings do (paths must not)."""

    def match(self, method: str, raw_path: str) -> Match:
        return super().match(method, raw_path.replace("+", "%20"))


class DecodesBeforeSplitting(Router):
    """Percent-decodes the whole path first, so ``%2F`` splits a segment."""

    def match(self, method: str, raw_path: str) -> Match:
        decoded = unquote(raw_path, encoding="utf-8", errors="replace") if "%" in raw_path \
            else raw_path
        return super().match(method, decoded.encode("utf-8").decode("latin-1"))
