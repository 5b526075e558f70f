"""A Redis that stops answering without closing its connections (a network partition, a frozen
process) costs an API request about STORYFOLD_REDIS_TIMEOUT_S, not the kernel's TCP timeout: the
client gets a 503 problem+json it can retry, and the API serves again once Redis is back.

The stall is real: the test's own redis-server is stopped with SIGSTOP, so its socket still
accepts and holds what is sent, and nothing comes back."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from core.config import Settings
from core.storage.embedded import EmbeddedRedis
from service.app import create_app

TIMEOUT_S = 0.5


@pytest.fixture
def frozen_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "frozen")
    server.start()
    yield server
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGCONT)  # whatever the test did, let it shut down
    server.stop()


def test_a_silent_redis_costs_a_request_the_timeout_and_a_503(
    frozen_redis: EmbeddedRedis,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        redis_url=frozen_redis.url, redis_timeout_s=TIMEOUT_S, _env_file=None
    )
    article = {"source": "wire", "title": "Dam opens", "text": "The dam opened on Monday."}
    assert frozen_redis.process is not None
    pid = frozen_redis.process.pid
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/stories").status_code == 200
        os.kill(pid, signal.SIGSTOP)
        try:
            answers: dict[str, tuple[httpx.Response, float]] = {}
            for name, call in (
                ("read", lambda: client.get("/stories")),
                ("post", lambda: client.post("/articles", json=article)),
                ("events", lambda: client.get("/events", params={"once": "true"})),
                ("ready", lambda: client.get("/readyz")),
            ):
                began = time.monotonic()
                answers[name] = (call(), time.monotonic() - began)
        finally:
            os.kill(pid, signal.SIGCONT)
        for name, (resp, took) in answers.items():
            assert resp.status_code == 503, (name, resp.status_code, resp.text)
            # Two tries of TIMEOUT_S each (an event stream's also wait out one XREAD block),
            # with slack for a loaded box: seconds, where without a timeout it never answers.
            assert took < 10, (name, took)
        read = answers["read"][0]
        assert read.headers["content-type"].startswith("application/problem+json")
        assert read.headers["retry-after"] == "1"
        assert "storage is unreachable" in read.json()["detail"]
        assert answers["ready"][0].json()["redis"] is False
        # Redis answers again: so does the API, on the same clients.
        assert client.get("/stories").status_code == 200
        again = client.post("/articles", json={**article, "id": "after-the-stall"})
        assert again.status_code == 202, again.text
