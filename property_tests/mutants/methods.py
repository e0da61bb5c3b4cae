"""Broken routers that resolve the method wrong."""

from __future__ import annotations

from rover_mt.routing import Match, MatchKind, Router


class AllowWithoutHead(Router):
    """Leaves HEAD out of ``Allow`` even when GET exists."""

    def match(self, method: str, raw_path: str) -> Match:
        found = super().match(method, raw_path)
        if not found.allow:
            return found
        allow = ", ".join(m for m in found.allow.split(", ") if m != "HEAD")
        return Match(found.kind, found.route_index, found.params, found.run_method,
                     found.head_only, allow)


class NoHeadFallback(Router):
    """Answers 405 to HEAD on a GET-only path instead of running ``get``."""

    def match(self, method: str, raw_path: str) -> Match:
        found = super().match(method, raw_path)
        if found.head_only:
            allow = self.match("TRACE", raw_path).allow    # TRACE is never declared
            return Match(MatchKind.METHOD_NOT_ALLOWED, found.route_index, found.params, "",
                         False, allow)
        return found
