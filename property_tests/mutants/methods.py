"""Broken routers that resolve the method wrong."""

from __future__ import annotations

from typing import Any

from rover_mt.routing import MatchKind, Router


class AllowWithoutHead(Router):
    """Leaves HEAD out of ``Allow`` even when GET exists."""

    def resolve(self, method: str, raw_path: str) -> Any:
        (kind, index, run_method, head_only, allow), entry, values = super().resolve(method, raw_path)
        allow = ", ".join(m for m in allow.split(", ") if m != "HEAD") if allow else allow
        return (kind, index, run_method, head_only, allow), entry, values


class NoHeadFallback(Router):
    """Answers 405 to HEAD on a GET-only path instead of running ``get``."""

    def resolve(self, method: str, raw_path: str) -> Any:
        resolution, entry, values = super().resolve(method, raw_path)
        if resolution[3]:  # head_only: HEAD fell back to GET
            allow = self.resolve("TRACE", raw_path)[0][4]    # TRACE is never declared
            resolution = (MatchKind.METHOD_NOT_ALLOWED, resolution[1], "", False, allow)
        return resolution, entry, values
