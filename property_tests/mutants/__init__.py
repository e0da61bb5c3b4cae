"""Deliberately broken routers: the property suite must catch every one of them.

Each is the production :class:`rover_mt.routing.Router` with one rule bent. They
exist only to test the tests (see ``test_routing_mutants.py``).
"""

from __future__ import annotations

from .loading import DifferentNamesRefused, DuplicateMethodAccepted
from .methods import AllowWithoutHead, NoHeadFallback
from .paths import (
    DecodesBeforeSplitting,
    MatchDisagreesWithResolve,
    PlusIsSpace,
    TrailingSlashIgnored,
)
from .precedence import CatchAllFirst, FirstDeclaredWins, NoBacktracking, ParamBeforeStatic

MUTANTS = (
    ParamBeforeStatic,
    NoBacktracking,
    FirstDeclaredWins,
    CatchAllFirst,
    TrailingSlashIgnored,
    MatchDisagreesWithResolve,
    PlusIsSpace,
    DecodesBeforeSplitting,
    AllowWithoutHead,
    NoHeadFallback,
    DuplicateMethodAccepted,
    DifferentNamesRefused,
)
