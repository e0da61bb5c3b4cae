"""The routing properties against the production router (profile from conftest)."""

from __future__ import annotations

import pytest

from rover_mt.routing import Router

from .routing_properties import router_properties

PROPERTIES = router_properties(Router)


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_router_property(name: str) -> None:
    PROPERTIES[name]()
