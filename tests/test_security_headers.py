"""The headers that tell a browser what not to do with our responses (service/security_headers.py):
checked on every kind of response, and in a real browser (headless Chromium, as tests/test_web.py
launches it), which must run the pages' own script under the policy and refuse an inline one."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from live_server import live_server
from test_web import browser_page  # noqa: F401 (the fixture)

from core.config import Settings
from service.app import create_app
from service.security_headers import DOCS_CSP, STRICT_CSP
from workers.runner import Worker


def directives(csp: str) -> dict[str, set[str]]:
    parsed = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


def assert_strict(headers: Mapping[str, str], what: str) -> None:
    csp = directives(headers["content-security-policy"])
    assert csp, what
    assert csp["default-src"] == {"'none'"}
    assert csp["script-src"] == {"'self'"} and csp["style-src"] == {"'self'"}  # nothing inline
    assert csp["frame-ancestors"] == {"'none'"} and csp["base-uri"] == {"'none'"}
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"


def test_every_kind_of_response_carries_the_headers(
    client: TestClient, seeds: list[dict[str, str]]
) -> None:
    article = client.post("/articles", json=seeds[0]).json()
    html = {"Accept": "text/html"}
    responses = {
        "feed page": client.get("/", headers=html),
        "missing story page": client.get("/stories/s_0000000000000000", headers=html),
        "script": client.get("/static/live.js"),
        "stylesheet": client.get("/static/style.css"),
        "JSON": client.get(f"/articles/{article['id']}"),
        "problem+json": client.post("/articles", json={"text": ""}),
        "health": client.get("/healthz"),
    }
    for what, resp in responses.items():
        assert resp.status_code < 500, (what, resp.status_code)
        assert_strict(resp.headers, what)
    assert responses["feed page"].headers["content-type"].startswith("text/html")
    assert responses["missing story page"].status_code == 404
    # A 304 from the ETag middleware still says nothing different.
    tag = responses["feed page"].headers["etag"]
    again = client.get("/", headers={**html, "If-None-Match": tag})
    assert again.status_code == 304 and again.headers["x-frame-options"] == "DENY"
    # The API's documentation page loads Swagger UI from its CDN with an inline start-up script:
    # it may not be framed either, but keeps its scripts.
    docs = client.get("/docs")
    assert docs.headers["content-security-policy"] == DOCS_CSP
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert STRICT_CSP != DOCS_CSP


def test_templates_hold_no_inline_script_style_or_handler(
    client: TestClient, seeds: list[dict[str, str]], make_worker: Callable[..., Worker]
) -> None:
    """What the policy would refuse, the pages do not contain: every <script> has a src, no
    element has a style attribute or an on* handler (a story page with a conflict included)."""
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    make_worker().run(burst=True)
    story_id = client.get(f"/articles/{ids[0]}").json()["story_id"]
    for path in ("/", f"/stories/{story_id}"):
        page = client.get(path, headers={"Accept": "text/html"}).text
        assert 'class="conflict"' in page or path == "/"
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts and all(" src=" in s for s in scripts), scripts
        assert not re.search(r"<[a-z][^>]*\sstyle=", page)
        assert not re.search(r"<[a-z][^>]*\son[a-z]+=", page)
        assert "<style" not in page


@pytest.mark.slow
def test_a_browser_runs_the_pages_under_the_policy_and_refuses_inline_script(
    settings: Settings,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    browser_page: Any,  # noqa: F811
) -> None:
    page = browser_page
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    app = create_app(settings)
    with live_server(app) as base, httpx.Client(base_url=base) as api:
        ids = [a["id"] for a in api.post("/articles", json=seeds).json()["articles"]]
        make_worker().run(burst=True)
        story_id = api.get(f"/articles/{ids[0]}").json()["story_id"]

        page.goto(f"{base}/stories/{story_id}")
        # The page's own script (static/live.js) runs: it opens the event stream.
        page.locator("main[data-live=open]").wait_for(state="attached")
        # The conflict's sides still sit side by side without their inline style.
        sides = page.locator("div.conflict").first.locator("div.side")
        boxes = [sides.nth(i).bounding_box() for i in range(sides.count())]
        assert len(boxes) >= 2 and len({round(b["y"]) for b in boxes}) == 1
        assert boxes[0]["x"] < boxes[1]["x"]
        assert violations == []  # nothing of ours was refused

        # An inline script, as injected markup would be, is refused by the browser.
        with pytest.raises(Exception, match="Content Security Policy"):
            page.add_script_tag(content="window.__inline = 1")
        assert page.evaluate("window.__inline") is None
        assert any("inline script" in v for v in violations), violations

        # Another site's page (another origin on loopback) may not frame ours.
        violations.clear()
        with framing_site(f"{base}/stories/{story_id}") as elsewhere:
            page.goto(elsewhere)
            page.wait_for_timeout(1500)
        assert any("frame-ancestors" in v for v in violations), violations
        assert page.frames[1].url.startswith("chrome-error://")  # its error page, not ours


@contextmanager
def framing_site(target: str) -> Iterator[str]:
    """A page on another origin that puts `target` in an iframe."""
    body = f'<!doctype html><iframe src="{target}"></iframe>'.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
