"""The built-in docs endpoints: the OpenAPI document, the docs page and its assets.

Everything is served by rover-mt itself (package data under ``static/``), and
the page's Content-Security-Policy forbids requests to any other host, so the
docs work with no internet access.
"""

from __future__ import annotations

import hashlib
import html
import threading
from importlib import resources
from typing import Any, Callable

import orjson

from .document import build_document

Answer = tuple[int, bytes | None, bytes, bytes | None]

# The page may only talk to the server that served it.
_CSP = (b"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
        b"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'self'")
_NOSNIFF = b"X-Content-Type-Options: nosniff"
_ASSET_TYPES = {"js": b"text/javascript; charset=utf-8", "css": b"text/css; charset=utf-8"}


def _static(name: str) -> bytes:
    return resources.files("rover_mt.openapi").joinpath("static", name).read_bytes()


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'


class DocsEndpoints:
    """Answers for ``openapi_path``, ``docs_path`` and ``<docs_path>/assets/*``.

    `engine` provides ``generation`` (the current AppGeneration, replaced on
    reload) and ``config``. The document is built on first request for each
    generation and cached until the generation changes.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        cfg = engine.config
        self._lock = threading.Lock()
        self._cached: tuple[int, Answer] | None = None
        prefix = cfg.docs_path.rstrip("/") + "/assets/"
        self._assets: dict[str, Answer] = {}
        urls: dict[str, str] = {}
        for name in ("docs.js", "docs.css"):
            body = _static(name)
            stem, ext = name.rsplit(".", 1)
            # The content hash in the name lets browsers keep assets for a year.
            url = f"{prefix}{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{ext}"
            urls[name] = url
            self._assets[url] = (200, _ASSET_TYPES[ext], body, b"\r\n".join([
                b"Cache-Control: public, max-age=31536000, immutable", _NOSNIFF]))
        page = _static("docs.html").decode()
        page = (page.replace("{{spec_url}}", html.escape(cfg.openapi_path, quote=True))
                    .replace("{{js_url}}", html.escape(urls["docs.js"], quote=True))
                    .replace("{{css_url}}", html.escape(urls["docs.css"], quote=True)))
        body = page.encode()
        self._page: Answer = (200, b"text/html; charset=utf-8", body, b"\r\n".join([
            b"Cache-Control: no-cache", b"ETag: " + _etag(body), _CSP, _NOSNIFF]))

    def openapi(self) -> Answer:
        """The OpenAPI document of the current generation, as JSON."""
        gen = self._engine.generation
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == gen.id:
                return cached[1]
        body = orjson.dumps(build_document(gen, self._engine.config))
        # no-cache: browsers revalidate, so a reload's new routes show up at once.
        answer: Answer = (200, b"application/json", body, b"\r\n".join([
            b"Cache-Control: no-cache", b"ETag: " + _etag(body), _NOSNIFF]))
        with self._lock:
            self._cached = (gen.id, answer)
        return answer

    def page(self) -> Answer:
        """The HTML docs page (it fetches the document from ``openapi_path``)."""
        return self._page

    def assets(self) -> dict[str, Callable[[], Answer]]:
        """Extra paths the page needs (script and style), each with its answer."""
        return {url: (lambda answer=answer: answer) for url, answer in self._assets.items()}
