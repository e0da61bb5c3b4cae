"""Hypothesis profiles for the property suite.

``ci`` (the default) runs a few hundred examples per property so the whole folder
stays well under two minutes; ``thorough`` is for local bug hunting:
``HYPOTHESIS_PROFILE=thorough pytest property_tests``. Failing examples go to the
default Hypothesis database (``.hypothesis/``) and are replayed first next time;
once understood, keep each one as an explicit ``@example`` next to its property.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# No deadline: the 2-core machine is shared, and a slow example is not a bug.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
