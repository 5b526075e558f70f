"""Redis side of the periodic repair: read the active window, apply a reconcile plan.

A plan moves articles between stories, links a story merged away to its survivor
(`merged_into`) and a story split off to the story it came from (`parent`). No story is renamed
or deleted: a client holding any story id can still resolve it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import redis
import structlog

from core.keys import Keys
from core.storage.stories import Stories
from core.storage.story_codec import encode_state
from core.storage.story_records import new_story_fields
from core.story_state import StoryState

log = structlog.get_logger(__name__)

LEASE_S = 30.0  # the repair lock's lifetime, renewed while the repair runs


@dataclass(frozen=True)
class WindowArticle:
    article_id: str
    story_id: str
    ts: float
    duplicate_of: str | None


@dataclass(frozen=True)
class SignalRow:
    """What the assigner needs to rebuild a story's state from its members."""

    article_id: str
    ts: float
    title: str
    lead: str


class RepairStore:
    def __init__(self, client: redis.Redis, keys: Keys, stories: Stories) -> None:
        self.r = client
        self.keys = keys
        self.stories = stories

    # -- when to repair, and who ------------------------------------------------------------------
    def count_placed(self, n: int) -> None:
        self.r.incrby(self.keys.repair_due, n)

    def due(self) -> int:
        """Articles placed and not yet seen by a finished repair."""
        return int(self.r.get(self.keys.repair_due) or 0)

    @contextmanager
    def lease(self, timeout_s: float = LEASE_S) -> Iterator[bool]:
        """One repairing worker at a time: yields False when another holds the lease.

        The lock lives `timeout_s` and a thread renews it every third of that while the repair
        runs, so a long repair keeps it and a worker killed mid-repair (SIGKILL, or a SIGTERM
        past its grace) frees it within `timeout_s`. The due count goes down by what this repair
        saw only once it finishes: a repair cut short is due again at once."""
        # thread_local=False: the renewer thread must see the token this thread took it with.
        lock = self.r.lock(
            self.keys.repair_lock, timeout=timeout_s, blocking=False, thread_local=False
        )
        if not lock.acquire():
            yield False
            return
        seen = self.due()
        done = threading.Event()

        def renew() -> None:
            while not done.wait(timeout_s / 3):
                try:
                    lock.reacquire()
                except (redis.exceptions.LockError, redis.exceptions.RedisError):
                    log.warning("repair.lock_lost")
                    return

        renewer = threading.Thread(target=renew, name="repair-lease", daemon=True)
        renewer.start()
        try:
            yield True
            self.r.decrby(self.keys.repair_due, seen)
        finally:
            done.set()
            renewer.join()
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("repair.lock_expired")

    def window(self, window_s: float) -> list[WindowArticle]:
        """Members of every story active within `window_s` of the newest article. Story time,
        not wall-clock time: replaying an archive repairs it the same way as live news."""
        newest = self.r.zrevrange(self.keys.stories_active, 0, 0, withscores=True)
        if not newest:
            return []
        ids = [
            i.decode()
            for i in self.r.zrangebyscore(self.keys.stories_active, newest[0][1] - window_s, "+inf")
        ]
        out = []
        for sid in ids:
            merged_into, cold_at = self.r.hmget(self.keys.story(sid), "merged_into", "cold_at")
            # A story in the archive on disk (HOT_DAYS shorter than the window) has no vectors
            # in Redis: the repair leaves it as it is, until an article brings it back.
            if merged_into or cold_at:
                continue
            rows = self.r.zrange(self.keys.story_articles(sid), 0, -1, withscores=True)
            pipe = self.r.pipeline(transaction=False)
            for aid, _ in rows:
                pipe.hmget(self.keys.article(aid.decode()), "duplicate_of", "story_id")
            for (aid, ts), (dup, owner) in zip(rows, pipe.execute(), strict=True):
                if owner and owner.decode() != sid:
                    # A move that apply() did not finish: the article's story_id is the truth.
                    self.r.zrem(self.keys.story_articles(sid), aid)
                    continue
                out.append(
                    WindowArticle(aid.decode(), sid, float(ts), dup.decode() if dup else None)
                )
        return out

    def signal_rows(self, article_ids: list[str], lead_sentences: int) -> list[SignalRow]:
        """What placement read of each article: headline, time, and its first `lead_sentences`
        clean sentences (the caller's LEAD_SENTENCES: the names a rebuilt story keeps are the
        ones its articles brought when placed)."""
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.hmget(
                self.keys.article(aid), "clean_title", "title", "published_at", "received_at"
            )
            pipe.get(self.keys.article_sentences(aid))
        raw = pipe.execute()
        rows = []
        for aid, fields, sentences in zip(article_ids, raw[::2], raw[1::2], strict=True):
            clean_title, title, published, received = (v.decode() if v else "" for v in fields)
            lead = " ".join(json.loads(sentences)[:lead_sentences]) if sentences else ""
            rows.append(
                SignalRow(
                    aid, float(published or received or time.time()), clean_title or title, lead
                )
            )
        return rows

    def copies(self, article_ids: list[str]) -> set[str]:
        """Those of `article_ids` that are near-duplicate copies of another article."""
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.hexists(self.keys.article(aid), "duplicate_of")
        return {aid for aid, dup in zip(article_ids, pipe.execute(), strict=True) if dup}

    def story_of(self, article_ids: list[str]) -> dict[str, str]:
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.hget(self.keys.article(aid), "story_id")
        return {
            aid: (v.decode() if v else "")
            for aid, v in zip(article_ids, pipe.execute(), strict=True)
        }

    def apply(
        self,
        moves: Mapping[str, tuple[str, str, float]],  # article -> (from story, to story, score)
        merges: Mapping[str, str],
        splits: Mapping[str, tuple[str, str]],  # new story -> (parent, headline)
        states: Mapping[str, StoryState | tuple[Mapping[str, bytes], float]],  # rebuilt states
    ) -> None:
        """A plan, as steps that can each be repeated (a plan spans many slots on a cluster, so it
        cannot be one transaction). Call under the creation lock and the locks of every story
        it rewrites (core.storage.story_locks). In order: split stories exist;
        each moved article joins its new story, records it (its story_id is the truth), leaves
        the old one; merged stories point at their survivor; rebuilt states are stored; the
        change log tells the other workers' indexes. A crash part way leaves every article in
        the story its story_id names, possibly still listed in its old one too: the next
        window() drops such leftovers, and the next repair plans again from what is there.
        Between steps a reader may see a moved article in both stories for a moment."""
        pipe = self.r.pipeline(transaction=False)
        for new_id, (parent, headline) in splits.items():
            pipe.hset(self.keys.story(new_id), mapping=new_story_fields(new_id, headline, parent))
        pipe.execute()
        for aid, (old, new, score) in moves.items():
            self.r.zadd(self.keys.story_articles(new), {aid: score})
            self.r.hset(self.keys.article(aid), "story_id", new)
            self.r.zrem(self.keys.story_articles(old), aid)
        pipe = self.r.pipeline(transaction=False)
        for sid in {s for old, new, _ in moves.values() for s in (old, new)}:
            pipe.hincrby(self.keys.story(sid), "member_rev", 1)
        for old, survivor in merges.items():
            # Its articles went to the survivor: so do its counts (it reads as empty + merged_into).
            pipe.hset(self.keys.story(old), mapping={
                "merged_into": survivor, "article_count": 0, "source_count": 0})
            pipe.delete(self.keys.story_state(old))
        rebuilt: dict[str, float] = {}
        for sid, value in states.items():
            if sid in merges:
                continue
            state: Mapping[str, bytes]
            if isinstance(value, StoryState):
                state, rebuilt[sid] = encode_state(value), value.last_ts
            else:
                state, rebuilt[sid] = value
            pipe.delete(self.keys.story_state(sid))
            pipe.hset(self.keys.story_state(sid), mapping=dict(state))
        pipe.execute()
        pipe = self.r.pipeline(transaction=True)  # the coordination slot
        for old in merges:
            pipe.zrem(self.keys.stories_active, old)
        for sid, last_ts in rebuilt.items():
            pipe.zadd(self.keys.stories_active, {sid: last_ts})
        if merges or rebuilt:
            pipe.execute()
        for old in merges:
            self.stories.touch(old, "story.merged")
        # Merged-away states are gone, the others rebuilt: other workers' indexes re-read them.
        self.stories.index.record([*merges, *states])
