"""At-least-once delivery with idempotent steps: a worker that dies between reading an entry and
acknowledging it loses nothing, and the article is folded into its story exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from core.keys import WORKER_GROUP, Keys
from core.storage.story_codec import decode_state
from workers.runner import BatchResult, Worker

STREAM = "sf:stream:articles"
SUMMARIES = "sf:stream:summaries"
CRASH_POINTS = ["read", "embedded", "assigned", "queued", "rest_embedded", "summarised"]


def crash_after(worker: Worker, point: str) -> None:
    """Run the steps of both stages as `worker` does, then stop dead: no ack, no cleanup."""
    jobs = worker.queue.read_new(worker.name, 100, None)
    assert jobs
    if point == "read":
        return
    rows = [a for a in worker.store.records([j.article_id for j in jobs]) if a]
    prepared, _ = worker._prepare(rows, BatchResult())
    if point == "embedded":
        return
    for p in prepared:
        worker.ops.assign(p)
    if point == "assigned":
        return
    worker.summary_queue.ensure_group()
    worker.summary_queue.add([j.article_id for j in jobs])
    if point == "queued":  # the summary jobs exist, the article jobs are not acked
        return
    summary_jobs = worker.summary_queue.read_new(worker.name, 100, None)
    worker._embed_rest([j.article_id for j in summary_jobs])
    if point == "rest_embedded":
        return
    story_ids = {worker.store.article_fields(j.article_id)["story_id"] for j in summary_jobs}
    for story_id in story_ids:
        worker.ops.summarise(story_id)


def assert_each_article_once(client: TestClient, r: redis.Redis, ids: list[str]) -> str:
    states = [client.get(f"/articles/{a}").json() for a in ids]
    assert all(s["status"] == "processed" for s in states), states
    (story_id,) = {s["story_id"] for s in states}
    members = [m.decode() for m in r.zrange(f"sf:story:{{{story_id}}}:articles", 0, -1)]
    assert sorted(members) == sorted(ids)
    state = decode_state(story_id, r.hgetall(f"sf:story:{{{story_id}}}:state"))
    assert state.size == len(ids)  # absorbed once each, not once per delivery
    assert r.xpending(STREAM, WORKER_GROUP)["pending"] == 0
    assert r.xpending(SUMMARIES, WORKER_GROUP)["pending"] == 0
    summary = json.loads(r.get(f"sf:story:{{{story_id}}}:summary"))
    cited = {aid for fact in summary["consensus"] for aid in fact["article_ids"]}
    assert cited <= set(ids) and len(cited) >= 2  # the summary speaks from the articles
    return story_id


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_worker_crash_between_read_and_ack_loses_nothing(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    point: str,
) -> None:
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    crash_after(make_worker("dead"), point)
    assert r.xpending(STREAM, WORKER_GROUP)["pending"] == len(ids)
    make_worker("survivor").run(burst=True)
    story_id = assert_each_article_once(client, r, ids)
    versions = r.llen(f"sf:story:{{{story_id}}}:versions")
    assert versions >= 1
    if point == "summarised":  # the summary already reflected everything: nothing is redone
        assert versions == 1


def test_worker_killed_with_sigkill_mid_batch(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    redis_url: str,
) -> None:
    env = {**os.environ, "STORYFOLD_REDIS_URL": redis_url, "STORYFOLD_WORKER_BATCH": "5"}
    victim = subprocess.Popen(
        [sys.executable, "-m", "storyfold.cli", "worker", "--name", "victim"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
        deadline = time.monotonic() + 120
        # Kill it the moment it holds entries it has not acknowledged.
        while time.monotonic() < deadline:
            held = r.xpending(STREAM, WORKER_GROUP)
            if held["pending"] and victim.poll() is None:
                break
            assert victim.poll() is None, "worker exited on its own"
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert r.xpending(STREAM, WORKER_GROUP)["pending"] > 0
    make_worker("survivor").run(burst=True)
    assert_each_article_once(client, r, ids)


def test_an_article_that_keeps_failing_is_marked_failed_and_does_not_block_others(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    good, bad = (a["id"] for a in client.post("/articles", json=seeds[:2]).json()["articles"])
    # A record corrupted in storage: every attempt to process it raises.
    r.hset(f"sf:article:{{{bad}}}", "published_at", "not-a-number")
    make_worker(max_attempts=3).run(burst=True)
    assert client.get(f"/articles/{good}").json()["status"] == "processed"
    failed = client.get(f"/articles/{bad}").json()
    assert failed["status"] == "failed" and "3 times" in failed["reason"]
    assert "ValueError" in failed["reason"]
    assert r.xpending(STREAM, WORKER_GROUP)["pending"] == 0
    # ... and counted where operators look for failures
    assert "storyfold_articles_failed_total 1.0" in client.get("/metrics").text


def test_workers_summarising_one_story_at_once_never_share_a_version_number(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    import threading

    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    make_worker().run(burst=True)
    story_id = client.get(f"/articles/{ids[0]}").json()["story_id"]
    workers = [make_worker(f"w{i}") for i in range(4)]

    def rebuild(w: Worker) -> None:
        # Each stands for a change to the story (an unchanged story's summary is not rewritten).
        w.stories.mark_changed(story_id)
        w.ops.summarise(story_id)

    threads = [threading.Thread(target=rebuild, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [v["version"] for v in client.get(f"/stories/{story_id}/versions").json()["versions"]]
    versions.reverse()  # the API answers newest first
    # No number twice, none skipped; at least one rewrite, and the last change is covered.
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 2
    assert client.get(f"/stories/{story_id}").json()["summary_version"] == versions[-1]
    basis, rev = r.hmget(Keys().story(story_id), "summary_basis", "member_rev")
    assert basis == rev, (basis, rev)
