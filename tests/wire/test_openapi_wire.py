"""The docs endpoints on a real server: /openapi.json, /docs and its assets,
docs = false, user routes that shadow them, the page in headless Chromium with
no other host reachable, and a short schemathesis run against the live server."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from rover_mt import Server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "",
                             shutil.which("google-chrome") or "") if p and Path(p).exists()), None)


def get(url: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def users_server():
    with Server(EXAMPLES / "users.lua", port=0, workers=2, log_level="nope") as srv:
        yield srv


def test_openapi_json_is_valid_and_lists_routes(users_server):
    status, headers, body = get(users_server.url, "/openapi.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-cache" and headers["etag"].startswith('"')
    doc = json.loads(body)
    validate(doc)
    assert set(doc["paths"]) == {"/users", "/users/{id}", "/hello", "/files/{path}"}
    schema = doc["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert sorted(schema["required"]) == ["email", "name"]
    # Cached per generation: the same bytes twice.
    assert get(users_server.url, "/openapi.json")[2] == body


def test_docs_page_and_assets_are_served_locally_with_caching(users_server):
    status, headers, page = get(users_server.url, "/docs")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert "default-src 'none'" in headers["content-security-policy"]
    text = page.decode()
    assert 'data-spec-url="/openapi.json"' in text
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', text)
    assert len(assets) == 2
    for asset in assets:
        status, headers, body = get(users_server.url, asset)
        assert status == 200 and body
        assert "immutable" in headers["cache-control"] and "max-age=31536000" in headers["cache-control"]
        assert headers["content-type"].startswith(("text/javascript", "text/css"))
        # Nothing in the page may point at another host.
        assert not re.search(rb"(?i)\b(?:https?:)?//[a-z0-9]", body.replace(b"// ", b""))
    assert not re.search(r"(?i)(?:https?:)?//[a-z0-9]", text)
    assert get(users_server.url, "/docs/assets/missing.js")[0] == 404


def test_docs_false_turns_both_off():
    with Server(EXAMPLES / "hello.lua", port=0, workers=2, log_level="nope", docs=False) as srv:
        assert get(srv.url, "/openapi.json")[0] == 404
        assert get(srv.url, "/docs")[0] == 404
        assert get(srv.url, "/hello")[0] == 200


def test_paths_are_configurable_and_user_routes_win(tmp_path):
    app = tmp_path / "app.lua"
    app.write_text(textwrap.dedent("""
        local api = rover.server {}
        function api.docs.get(ctx) return "my own docs" end
        function api.ping.get(ctx) return "pong" end
        return api
    """))
    with Server(app, port=0, workers=2, log_level="nope", openapi_path="/spec.json") as srv:
        status, _, body = get(srv.url, "/docs")
        assert (status, body) == (200, b"my own docs")
        status, _, body = get(srv.url, "/spec.json")
        assert status == 200 and "/ping" in json.loads(body)["paths"]
        assert get(srv.url, "/openapi.json")[0] == 404


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs it: "
                                              "apt-get install -y chromium)")
def test_docs_page_renders_operations_in_headless_chromium_offline(users_server):
    # Every host but the test server resolves to nothing: the page must not need one.
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-extensions", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
         "--virtual-time-budget=10000", "--dump-dom", users_server.url + "/docs"],
        capture_output=True, text=True, timeout=60)
    dom = out.stdout
    assert 'data-operations="6"' in dom, dom[-2000:]
    rendered = set(re.findall(r'data-method="(\w+)" data-path="([^"]+)"', dom))
    assert rendered == {("GET", "/users"), ("POST", "/users"), ("GET", "/users/{id}"),
                        ("DELETE", "/users/{id}"), ("GET", "/hello"), ("GET", "/files/{path}")}
    # The body schema of POST /users is shown with its fields and constraints.
    assert 'data-content-type="application/json"' in dom
    assert "max length 80" in dom and "Lua pattern" in dom


def _schemathesis_available() -> bool:
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _schemathesis_available(), reason="schemathesis is not installed")
@pytest.mark.parametrize("app", ["users.lua", "guard_all.lua"])
def test_schemathesis_finds_no_server_errors_or_mismatches(app):
    with Server(EXAMPLES / app, port=0, workers=2, log_level="nope") as srv:
        out = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", srv.url + "/openapi.json",
             "--url", srv.url, "--max-examples", "8", "--seed", "1", "--phases", "coverage,fuzzing",
             "--checks", "not_a_server_error,status_code_conformance,"
                         "content_type_conformance,response_schema_conformance",
             "--request-timeout", "5", "--no-color"],
            capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_reload_rebuilds_the_document(tmp_path):
    app = tmp_path / "app.lua"
    app.write_text('local api = rover.server {}\nfunction api.one.get(ctx) return "1" end\nreturn api\n')
    with Server(app, port=0, workers=2, log_level="nope") as srv:
        assert set(json.loads(get(srv.url, "/openapi.json")[2])["paths"]) == {"/one"}
        app.write_text('local api = rover.server {}\nlocal g = rover.guard\n'
                       'function api.two.post(ctx) return ctx:body():expect({ n = g:integer() }) end\n'
                       'return api\n')
        assert srv.reload() is True
        doc = json.loads(get(srv.url, "/openapi.json")[2])
        assert set(doc["paths"]) == {"/two"}
        schema = doc["paths"]["/two"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["properties"] == {"n": {"type": "integer"}}
