"""API keys: writes need one when keys are configured, reads only when configured to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from live_server import live_server
from typer.testing import CliRunner

from core.config import Settings
from service.app import create_app
from storyfold.cli import app as cli
from storyfold.ingest import post_all

ARTICLE = {"source": "wire", "text": "The council approved the harbour budget on Monday."}
KEYS = ["k-alpha", "k-beta"]


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"api_keys": KEYS}))) as client:
        yield client


@pytest.fixture
def locked(settings: Settings) -> Iterator[TestClient]:
    update = {"api_keys": KEYS, "read_keys_required": True}
    with TestClient(create_app(settings.model_copy(update=update))) as client:
        yield client


def unauthorized(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["www-authenticate"] == "Bearer"
    body: dict[str, Any] = resp.json()
    assert body["status"] == 401 and body["type"].endswith("/unauthorized")
    assert body["field"] == "Authorization" and body["detail"]
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_writes_need_a_valid_key_when_keys_are_set(keyed: TestClient) -> None:
    assert "Bearer" in unauthorized(keyed.post("/articles", json=ARTICLE))["detail"]
    unauthorized(keyed.post("/articles", json=ARTICLE, headers=bearer("k-wrong")))
    unauthorized(keyed.post("/articles", json=ARTICLE, headers={"Authorization": "Basic azE6"}))
    unauthorized(keyed.post("/articles", json=ARTICLE, headers={"Authorization": "Bearer "}))
    ok = keyed.post("/articles", json=ARTICLE, headers=bearer("k-beta"))
    assert ok.status_code == 202
    # Reads stay public.
    assert keyed.get(f"/articles/{ok.json()['id']}").status_code == 200
    assert keyed.get("/stories").status_code == 200
    assert keyed.get("/events?once=true").status_code == 200


def test_without_keys_writes_are_open(client: TestClient) -> None:
    assert client.post("/articles", json=ARTICLE).status_code == 202


def test_reads_need_a_key_when_configured(locked: TestClient, settings: Settings) -> None:
    for url in ("/stories", "/", "/stories/s_x", "/stories/s_x/versions", "/events?once=true"):
        unauthorized(locked.get(url))
    assert locked.get("/stories", headers=bearer("k-alpha")).status_code == 200
    assert locked.get("/events?once=true", headers=bearer("k-alpha")).status_code == 200
    assert locked.get("/healthz").status_code == 200  # load balancers need no key
    # Asking for keys on reads with no keys configured leaves everything open.
    update = {"read_keys_required": True}
    with TestClient(create_app(settings.model_copy(update=update))) as open_client:
        assert open_client.get("/stories").status_code == 200


def test_ingest_sends_the_key(keyed: TestClient) -> None:
    items = [("a.txt", ARTICLE)]
    refused = post_all(keyed, items)
    assert not refused.ids and refused.stopped and "API key" in refused.stopped.reason
    assert refused.unsent == 1  # stopped at once: nothing more is sent without a key
    keyed.headers.update(bearer("k-alpha"))
    assert len(post_all(keyed, items).accepted) == 1


def test_storyfold_ingest_api_key_against_a_live_server(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "harbour.txt").write_text(ARTICLE["text"], encoding="utf-8")
    runner = CliRunner()
    with live_server(create_app(settings.model_copy(update={"api_keys": KEYS}))) as base:
        refused = runner.invoke(cli, ["ingest", str(tmp_path), "--api", base])
        assert refused.exit_code == 1 and "API key" in refused.output
        done = runner.invoke(cli, ["ingest", str(tmp_path), "--api", base, "--api-key", "k-alpha"])
        assert done.exit_code == 0, done.output
        assert "accepted 1" in done.output
