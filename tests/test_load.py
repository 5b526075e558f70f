"""`storyfold api --workers 2` under a short burst of benchmarks/load.py: two processes serve one
port, every POST is answered 2xx and stored once, the feed answers meanwhile, and SIGTERM stops
them all. (The numbers themselves are for `python -m benchmarks.load` on a quiet machine; a shared
CI core only checks that nothing fails.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from harness.load import run_load, summarise
from harness.procs import RedisServer, Service, free_port, service_env, wait_healthy

pytestmark = pytest.mark.slow  # a real api under a burst of load


def test_api_with_two_workers_takes_a_burst_of_posts_and_reads(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    port = free_port()
    env = service_env(redis.url, host="127.0.0.1", port=port)
    api = Service("api", ["api", "--workers", "2"], env, tmp_path)
    try:
        api.start()
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, 60, api)
        assert api.pid is not None
        servers = [
            c
            for c in psutil.Process(api.pid).children(recursive=True)
            if "spawn" in " ".join(c.cmdline())
        ]
        assert len(servers) == 2, [c.cmdline() for c in servers]

        result = asyncio.run(run_load(base, 3.0, 100.0, 20.0, [], 16, seed=5))
        rows = {r.kind: r for r in summarise(result, {}, warmup_s=0.5)}
        posts = rows["POST /articles"]
        assert posts.count >= 240 and posts.errors == 0, posts
        assert rows["GET /stories"].errors == 0, rows["GET /stories"]
        sent = sum(s.kind == "POST /articles" for s in result.samples)
        assert all(200 <= s.status < 300 for s in result.samples)
        # Every POST was a new article: each is stored and queued exactly once.
        client = redis.client()
        assert client.xlen("sf:stream:articles") == sent
        assert int(client.hget("sf:metrics", "articles_accepted") or 0) == sent
        client.close()
        assert api.stop(timeout_s=30) == 0
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in servers)
    finally:
        api.stop(timeout_s=10)
        redis.stop()
