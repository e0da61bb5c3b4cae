"""OpenAPI 3.1 from the live route table, and a docs page that works offline.

- :func:`build_document` turns an app generation into the OpenAPI document
  (also printed by ``rover-mt openapi app.lua``).
- :class:`DocsEndpoints` answers ``openapi_path``, ``docs_path`` and the page's
  own assets for the built-in endpoint table (rover_mt/builtin.py).
- :func:`.introspect.describe_routes` reads schemas and ``rover.route { ... }``
  metadata once per app load; see docs/openapi.md.
"""

from .document import build_document
from .endpoints import DocsEndpoints

__all__ = ["DocsEndpoints", "build_document"]
