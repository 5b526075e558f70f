"""Placement without a global lock (workers.placement, core.storage.story_locks): two workers
placing side by side open each new event's story once, lose no join, and leave every article in
exactly one story.

Two StoryOps over one real Redis, each with its own story index (as two worker processes have),
place in two threads articles of three invented events whose vectors are given (a cluster of
unit vectors around each event's centre; no model: assignment is what is tested). Each event's
first two articles go to different workers, so both race to open its story.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import numpy as np
import pytest
import redis

from core.config import Settings
from core.keys import Keys
from core.storage import Storage
from core.storage.stories import Stories
from core.storage.story_codec import decode_state
from workers.story_ops import Prepared, StoryOps

EVENTS, PER_EVENT, BATCH = 3, 24, 4
T0 = 1_780_000_000.0


def articles(r: redis.Redis, keys: Keys) -> tuple[list[Prepared], dict[str, int]]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(EVENTS, 384))
    out, event_of = [], {}
    for k in range(PER_EVENT):
        for e in range(EVENTS):
            v = centres[e] / np.linalg.norm(centres[e]) + rng.normal(scale=0.02, size=384)
            v = (v / np.linalg.norm(v)).astype(np.float32)
            aid = f"a_e{e:02d}_{k:02d}"
            r.hset(
                keys.article(aid), mapping={"id": aid, "source": f"outlet-{k}", "status": "queued"}
            )
            out.append(
                Prepared(aid, f"Event {e}", [f"Report {k} on event {e}."], v, T0 + 60 * k + e)
            )
            event_of[aid] = e
    return out, event_of


def test_two_workers_place_side_by_side_without_doubles_or_lost_joins(
    r: redis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Redis a network hop away: each read answers 0.5-4 ms later, so the two workers' reads and
    # writes interleave as they would across machines (on loopback one thread would mostly
    # finish a placement before the other reads: without the locks this test fails at once).
    jitter = random.Random(5)
    for name in ("candidates", "fresh_state"):
        real = getattr(Stories, name)

        def slow(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            found = _real(*args, **kwargs)
            time.sleep(jitter.uniform(0.0005, 0.004))
            return found

        monkeypatch.setattr(Stories, name, slow)
    keys = Keys(settings.key_prefix)
    todo, event_of = articles(r, keys)
    ops = [StoryOps(Storage(r, keys), settings) for _ in range(2)]
    # Each event's reports alternate between the workers: report k goes to worker k % 2.
    shares = [[p for p in todo if int(p.article_id[-2:]) % 2 == i] for i in range(2)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for start in range(0, len(shares[i]), BATCH):
                ops[i].assign_many(shares[i][start : start + BATCH])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors

    story_of = {p.article_id: r.hget(keys.article(p.article_id), "story_id") for p in todo}
    assert all(story_of.values())
    stories = {sid.decode() for sid in story_of.values() if sid}
    # One story per event, each holding exactly its event's articles.
    assert len(stories) == EVENTS
    by_story: dict[str, set[int]] = {}
    for aid, sid in story_of.items():
        by_story.setdefault(sid.decode() if sid else "", set()).add(event_of[aid])
    assert all(len(events) == 1 for events in by_story.values())
    vectors = {p.article_id: p.vector for p in todo}
    for sid in stories:
        members = [m.decode() for m in r.zrange(keys.story_articles(sid), 0, -1)]
        assert sorted(members) == sorted(a for a, s in story_of.items() if s == sid.encode())
        state = decode_state(sid, r.hgetall(keys.story_state(sid)))
        # Every join counted once in the story's state: none lost to a concurrent one.
        assert state.size == len(members) == PER_EVENT
        expected = np.sum([vectors[m] for m in members], axis=0)
        assert np.allclose(state.vector_sum, expected, atol=1e-4)
    # The locks are all given back.
    assert not r.exists(keys.assign_lock)
    assert not [k for k in r.scan_iter(match="*:lock") if b":story:" in k]


def test_an_article_a_second_worker_places_again_is_counted_once(
    r: redis.Redis, settings: Settings
) -> None:
    """The same article in two workers' hands (its stream entry claimed from a worker that was
    only slow, or queued twice across a failover: the cluster test saw both workers log
    `article.assigned` for one article): the second placement finds it a member already and
    leaves the story's state as the first left it."""
    keys = Keys(settings.key_prefix)
    todo, _ = articles(r, keys)
    first, second = (StoryOps(Storage(r, keys), settings) for _ in range(2))
    placed = first.assign_many(todo[: 2 * EVENTS])  # two reports of each event
    again = todo[EVENTS]  # event 0's second report
    story_id = placed[EVENTS]
    before = r.hgetall(keys.story_state(story_id))

    assert second.assign_many([again]) == [story_id]
    assert r.hgetall(keys.story_state(story_id)) == before
    state = decode_state(story_id, before)
    assert state.size == 2 == r.zcard(keys.story_articles(story_id))
