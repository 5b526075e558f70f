"""The quiet-story index (core.storage.story_index) against the full scan it replaces: same stories,
same choice, with several Stories instances (workers) writing to one Redis and the repair merging,
rebuilding and splitting stories in between."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import redis

from core.keys import Keys
from core.storage.repair_store import RepairStore
from core.storage.stories import Stories
from core.storage.story_codec import decode_state, encode_state
from core.storage.story_index import centroid_cosines, scan_archived_states
from core.story_state import StoryState
from embedding.spec import MODEL
from workers.assign.scoring import (
    DAY,
    MAX_MEMBERS,
    ArticleSignal,
    AssignParams,
    absorb,
    choose_story,
    start_story,
    threshold_for,
)

PARAMS = AssignParams()
KEYS = Keys()

DIM = MODEL.dim


def unit(v: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    return (v / np.linalg.norm(v)).astype(np.float32)


def quiet(stories: Stories, signal: ArticleSignal) -> dict[str, dict[bytes, bytes]]:
    return stories.archived_states(
        signal.published_ts,
        PARAMS.window_s,
        PARAMS.archive_s,
        signal.vector,
        threshold_for(signal, PARAMS),
    )


def commit(stories: Stories, article_id: str, state: StoryState, ts: float, created: bool) -> None:
    stories.commit_assignment(
        article_id, state.story_id, encode_state(state), ts, state.last_ts, created, "headline"
    )


def merged_state(survivor: StoryState, other: StoryState) -> StoryState:
    return StoryState(
        survivor.story_id,
        (survivor.vector_sum + other.vector_sum).astype(np.float32),
        survivor.size + other.size,
        min(survivor.first_ts, other.first_ts),
        max(survivor.last_ts, other.last_ts),
        np.vstack([survivor.members, other.members])[-MAX_MEMBERS:],
    )


def test_index_gives_the_full_scans_choice_across_workers_and_repairs(r: redis.Redis) -> None:
    rng = np.random.default_rng(11)
    workers = [Stories(r, KEYS), Stories(r, KEYS)]  # two workers, one Redis
    topics = [unit(rng.normal(size=DIM)) for _ in range(60)]
    t0 = 1_700_000_000.0
    joined_quiet = compared = uncached = 0
    for i in range(700):
        w = workers[i % 2]
        topic = topics[int(rng.integers(len(topics)))]
        noise = unit(rng.normal(size=DIM)) * rng.uniform(0.4, 1.6)
        signal = ArticleSignal(
            unit(topic + noise),
            t0 + float(rng.uniform(0, 200)) * DAY,  # out of order: quiet stories on both sides
            text="a body" if i % 3 else "",
        )
        active = w.active_states(signal.published_ts, PARAMS.window_s)
        # The open stories come from the worker's memory: exactly what Redis holds now.
        window = r.zrangebyscore(
            KEYS.stories_active,
            signal.published_ts - PARAMS.window_s,
            signal.published_ts + PARAMS.window_s,
        )
        fresh = w.state_hashes([sid.decode() for sid in window])
        assert list(active) == list(fresh) and active == fresh
        uncached += len(fresh)  # what reading every open story per article would have read
        old = scan_archived_states(r, KEYS, signal.published_ts, PARAMS.window_s, PARAMS.archive_s)
        new = quiet(w, signal)

        # The index returns exactly the quiet stories whose centroid reaches the threshold,
        # with the same fields and in the same order as the scan.
        threshold = threshold_for(signal, PARAMS)
        if old:
            sums = np.stack([np.frombuffer(f[b"vector_sum"], "<f4") for f in old.values()])
            cos = centroid_cosines(sums, signal.vector)
            expected = [sid for sid, c in zip(old, cos, strict=True) if c >= threshold]
        else:
            expected = []
        assert list(new) == expected
        assert all(new[sid] == old[sid] for sid in new)

        old_candidates = [decode_state(s, d) for s, d in (active | old).items()]
        new_candidates = [decode_state(s, d) for s, d in (active | new).items()]
        chosen = choose_story(signal, old_candidates, PARAMS)
        assert choose_story(signal, new_candidates, PARAMS) == chosen
        compared += 1
        joined_quiet += chosen in old and chosen not in active

        if chosen is None:
            state = start_story(f"s_{i:04d}", signal)
        else:
            state = absorb(next(c for c in old_candidates if c.story_id == chosen), signal)
        commit(w, f"a{i}", state, signal.published_ts, chosen is None)

        if i % 50 == 49:  # a repair by the other worker: a merge, a rebuild and a split
            repairs = RepairStore(r, KEYS, workers[(i + 1) % 2])
            ids = sorted(x.decode() for x in r.zrange(KEYS.stories_active, 0, -1))
            pick = [ids[int(j)] for j in rng.choice(len(ids), size=3, replace=False)]
            states = {
                sid: decode_state(sid, raw) for sid, raw in w.state_hashes(pick).items()
            }
            survivor, gone, rebuilt = (states[s] for s in pick)
            merged = merged_state(survivor, gone)
            moved = StoryState(
                rebuilt.story_id,
                unit(rebuilt.vector_sum + unit(rng.normal(size=DIM))),
                1,
                rebuilt.first_ts,
                rebuilt.last_ts,
                rebuilt.members[-1:],
            )
            split = start_story(
                f"split_{i}", ArticleSignal(topics[i % len(topics)], rebuilt.first_ts)
            )
            repairs.apply(
                moves={},
                merges={gone.story_id: survivor.story_id},
                splits={split.story_id: (rebuilt.story_id, "split")},
                states={
                    s.story_id: (encode_state(s), s.last_ts) for s in (merged, moved, split, gone)
                },
            )
    assert compared == 700
    assert joined_quiet > 20  # quiet stories did get chosen: the filter was put to the test
    # Every state a worker took in was one that changed (plus its first full load).
    stories = int(r.zcard(KEYS.stories_state_changed))
    assert all(w.index.reads < 2 * stories + 700 for w in workers)
    # Whole open states were re-read only when they changed, not once per open story per article.
    # Here ~600 per worker against ~5,600 without the cache.
    assert all(w.index.open_reads < 2 * stories + 2 * 700 < uncached / 2 for w in workers)


def test_a_change_by_another_worker_is_seen_before_the_next_lookup(r: redis.Redis) -> None:
    a, b = Stories(r, KEYS), Stories(r, KEYS)
    e1, e2, e3 = np.eye(DIM, dtype=np.float32)[:3]
    t0 = 1_700_000_000.0
    commit(a, "a1", start_story("s1", ArticleSignal(e1, t0)), t0, True)
    commit(a, "a2", start_story("s2", ArticleSignal(e3, t0)), t0, True)
    later = ArticleSignal(e2, t0 + 10 * DAY, text="body")
    assert quiet(a, later) == {}  # a's index is now loaded
    reads = a.index.reads

    # Worker b moves s1's centroid onto e2: a finds it, having re-read that story alone.
    s1 = decode_state("s1", b.state_hashes(["s1"])["s1"])
    for k in range(4):
        s1 = absorb(s1, ArticleSignal(e2, t0 + k))
        commit(b, f"b{k}", s1, t0 + k, False)
    assert list(quiet(a, later)) == ["s1"]
    assert a.index.reads == reads + 1

    # b's repair merges s1 into s2: s1's state is gone, s2 now carries the e2 direction.
    s2 = decode_state("s2", b.state_hashes(["s2"])["s2"])
    merged = merged_state(s2, s1)
    RepairStore(r, KEYS, b).apply({}, {"s1": "s2"}, {}, {"s2": (encode_state(merged), merged.last_ts)})
    assert list(quiet(a, later)) == ["s2"]
    assert len(a.index) == 1

    # Only the quiet range counts: s2 is open (within the window) at its own time, and too old
    # beyond the archive horizon.
    assert quiet(a, ArticleSignal(e2, merged.last_ts + DAY, text="body")) == {}
    assert quiet(a, ArticleSignal(e2, t0 + PARAMS.archive_s + 10 * DAY, text="body")) == {}

    # A database flushed under a running worker: the counter goes back, the index starts over.
    r.flushdb()
    commit(b, "c1", start_story("s9", ArticleSignal(e2, t0)), t0, True)
    assert list(quiet(a, later)) == ["s9"]
    assert len(a.index) == 1
