"""The routing properties must catch every deliberately broken router.

Runs with the CI profile's example budget, derandomized and without the database,
so the result is the same on every machine and run.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import HypothesisException

from .mutants import MUTANTS
from .routing_properties import router_properties

# Shrinking is skipped: we only need to know a failure exists, not its simplest form.
DETECTION = settings(
    settings.get_profile("ci"),
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


def caught_by(mutant: type) -> str | None:
    """Name of the first property that fails against ``mutant``, or None."""
    for name, prop in router_properties(mutant).items():
        try:
            DETECTION(prop)()
        except HypothesisException:
            raise   # a problem with the test itself is not a detection
        except Exception:
            return name
    return None


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.__name__)
def test_mutant_is_caught(mutant: type) -> None:
    assert caught_by(mutant) is not None, f"{mutant.__name__} passed every property"
