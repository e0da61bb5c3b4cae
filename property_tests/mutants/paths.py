"""Broken routers that read the path wrong."""

from __future__ import annotations

from urllib.parse import unquote

from typing import Any

from rover_mt.routing import Router


class TrailingSlashIgnored(Router):
    """Treats ``/hello/`` like ``/hello``."""

    def resolve(self, method: str, raw_path: str) -> Any:
        if len(raw_path) > 1 and raw_path.endswith("/"):
            raw_path = raw_path[:-1]
        return super().resolve(method, raw_path)


class PlusIsSpace(Router):
    """Decodes ``+`` as a space, as query strings do (paths must not)."""

    def resolve(self, method: str, raw_path: str) -> Any:
        return super().resolve(method, raw_path.replace("+", "%20"))


class DecodesBeforeSplitting(Router):
    """Percent-decodes the whole path first, so ``%2F`` splits a segment."""

    def resolve(self, method: str, raw_path: str) -> Any:
        decoded = unquote(raw_path, encoding="utf-8", errors="replace") if "%" in raw_path \
            else raw_path
        return super().resolve(method, decoded.encode("utf-8").decode("latin-1"))


class MatchDisagreesWithResolve(Router):
    """``match`` (the API) ignores a trailing slash while ``resolve`` (what the
    server runs) does not: the two must never drift apart."""

    def match(self, method: str, raw_path: str) -> Any:
        if len(raw_path) > 1 and raw_path.endswith("/"):
            raw_path = raw_path[:-1]
        return super().match(method, raw_path)
