"""The hot window: quiet stories move their heavy keys to the archive on disk, and come back.

What moves (most of a story's bytes): its summary, the summary history and its days, the
assigner's evidence profile, and each member article's sentences, sentence vectors and article
vector. What stays in Redis (small): the story hash (the feed's card), its member list, its
assigner state (the centroid that lets a new article still find it), and each article's hash
(GET /articles/{id}, the URL and content indexes). A story is cold while its hash has `cold_at`;
reads then take the summary and its versions from the archive (core.storage.story_reads).

A story whose latest article is more than `hot_days` older than the newest article stored (story
time, as the repair window: replaying an archive moves the same stories) is moved by the one
worker holding the cold lease, each story under the story's lock, so no article joins it half-way:
  1. its heavy keys are read and written to its archive file (durable, atomic: archive_files);
  2. `cold:moving` names it, the story hash gets `cold_at`, the story joins `stories:cold`;
  3. the heavy keys are deleted, `cold:moving` cleared.
A crash before 2 leaves the story hot (the file is rewritten next time); after 2, reads already use
the file, and the next pass finishes 3 from `cold:moving`. Nothing is deleted before it is on disk.

When an article joins a cold story (under the story's lock), `revive` puts every key back from the
file (delete-then-write, so a revival cut short is simply done again), then clears `cold_at`. The
story keeps its id, its members and its whole summary history.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import structlog

from core.errors import ArchiveMissing
from core.keys import Keys
from core.storage.archive_files import ArchiveFiles, StoryArchive

log = structlog.get_logger(__name__)

_ARTICLE_KEYS = ("sentences", "vectors", "vector")


class ColdStore:
    def __init__(self, client: redis.Redis, keys: Keys, files: ArchiveFiles) -> None:
        self.r = client
        self.keys = keys
        self.files = files

    def _article_key(self, article_id: str, name: str) -> str:
        return {
            "sentences": self.keys.article_sentences,
            "vectors": self.keys.article_vectors,
            "vector": self.keys.article_vector,
        }[name](article_id)

    def _story_keys(self, story_id: str) -> list[str]:
        k = self.keys
        return [
            k.story_summary(story_id),
            k.story_versions(story_id),
            k.story_version_days(story_id),
            k.story_evidence(story_id),
        ]

    def _members(self, story_id: str) -> list[str]:
        return [m.decode() for m in self.r.zrange(self.keys.story_articles(story_id), 0, -1)]

    # -- which stories, and who moves them ------------------------------------------------------
    @contextmanager
    def lease(self, timeout_s: float = 300) -> Iterator[bool]:
        lock = self.r.lock(self.keys.cold_lock, timeout=timeout_s, blocking=False)
        if not lock.acquire():
            yield False
            return
        try:
            yield True
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("cold.lock_expired")

    def _horizon(self, hot_s: float) -> float | None:
        """The story time a story's latest article must be at or before to be quiet: `hot_s`
        before the newest article stored (None: no story at all)."""
        newest = self.r.zrevrange(self.keys.stories_active, 0, 0, withscores=True)
        return float(newest[0][1]) - hot_s if newest else None

    def due(self, hot_s: float, limit: int) -> list[str]:
        """Up to `limit` stories quiet for more than `hot_s` (story time), neither cold nor
        deferred, oldest first, from the cursor on (every story before it was handled by an
        earlier pass)."""
        horizon = self._horizon(hot_s)
        if horizon is None:
            return []
        cursor = float(self.r.get(self.keys.cold_cursor) or "-inf")
        rows = self.r.zrangebyscore(
            self.keys.stories_active, cursor, horizon, start=0, num=limit * 4
        )
        ids = [r.decode() for r in rows]
        if not ids:
            return []
        cold = self.r.zmscore(self.keys.stories_cold, ids)
        deferred = self.r.zmscore(self.keys.cold_deferred, ids)
        return [
            sid
            for sid, at, later in zip(ids, cold, deferred, strict=True)
            if at is None and later is None
        ][:limit]

    def settled(self, story_id: str) -> bool:
        """Its summary covers every member (no summary job still to come for it)."""
        rev, basis = self.r.hmget(self.keys.story(story_id), "member_rev", "summary_basis")
        return int(rev or 0) <= int(basis or 0)

    def defer(self, story_id: str) -> None:
        """Leave a quiet story whose summary is behind hot for now; every pass looks at it again
        (the cursor goes on past it, so it holds up no other story)."""
        self.r.zadd(self.keys.cold_deferred, {story_id: time.time()})

    def deferred(self, hot_s: float) -> tuple[list[str], list[str]]:
        """The deferred stories, as (still quiet, no longer due): a story an article has joined
        since, or one already moved, is no longer due and leaves the set (see `undefer`)."""
        ids = [m.decode() for m in self.r.zrange(self.keys.cold_deferred, 0, -1)]
        if not ids:
            return [], []
        horizon = self._horizon(hot_s)
        latest = self.r.zmscore(self.keys.stories_active, ids)
        cold = self.r.zmscore(self.keys.stories_cold, ids)
        quiet: list[str] = []
        gone: list[str] = []
        for sid, at, moved in zip(ids, latest, cold, strict=True):
            due = horizon is not None and at is not None and moved is None and at <= horizon
            (quiet if due else gone).append(sid)
        return quiet, gone

    def undefer(self, *story_ids: str) -> None:
        if story_ids:
            self.r.zrem(self.keys.cold_deferred, *story_ids)

    def advance(self, story_id: str) -> None:
        """Every story up to this one's time is handled: the next pass starts there."""
        score = self.r.zscore(self.keys.stories_active, story_id)
        if score is not None:
            self.r.set(self.keys.cold_cursor, repr(float(score)))

    # -- moving out --------------------------------------------------------------------------
    def finish_interrupted(self) -> str | None:
        """A move a crash cut short after the story went cold: its heavy keys are deleted now."""
        moving = self.r.get(self.keys.cold_moving)
        if not moving:
            return None
        story_id = str(moving.decode())
        if self.r.hget(self.keys.story(story_id), "cold_at"):
            self._delete_heavy(story_id)
        self.r.delete(self.keys.cold_moving)
        return story_id

    def move_out(self, story_id: str) -> int:
        """Archive one story (call under the story's lock); returns the file's bytes (0: it was
        cold already, or gone)."""
        if not self.r.exists(self.keys.story(story_id)):
            return 0
        if self.r.hget(self.keys.story(story_id), "cold_at"):
            return 0
        members = self._members(story_id)
        pipe = self.r.pipeline(transaction=False)
        summary, versions, days, evidence = self._story_keys(story_id)
        pipe.get(summary)
        pipe.lrange(versions, 0, -1)
        pipe.lrange(days, 0, -1)
        pipe.get(evidence)
        for aid in members:
            for name in _ARTICLE_KEYS:
                pipe.get(self._article_key(aid, name))
        raw = pipe.execute()
        now = time.time()
        archive = StoryArchive(story_id, now, raw[0], list(raw[1]), list(raw[2]), raw[3])
        values = iter(raw[4:])
        for aid in members:
            got = {name: next(values) for name in _ARTICLE_KEYS}
            archive.articles[aid] = {name: v for name, v in got.items() if v is not None}
        size = self.files.write(archive)  # on disk before anything is deleted
        self.r.set(self.keys.cold_moving, story_id)
        self.r.hset(self.keys.story(story_id), "cold_at", f"{now:.3f}")
        self.r.zadd(self.keys.stories_cold, {story_id: now})
        self._delete_heavy(story_id, members)
        self.r.delete(self.keys.cold_moving)
        log.info("story.archived", story_id=story_id, articles=len(members), bytes=size)
        return size

    def _delete_heavy(self, story_id: str, members: list[str] | None = None) -> None:
        members = self._members(story_id) if members is None else members
        pipe = self.r.pipeline(transaction=False)
        for aid in members:
            for name in _ARTICLE_KEYS:
                pipe.delete(self._article_key(aid, name))
        for key in self._story_keys(story_id):
            pipe.delete(key)
        pipe.execute()

    # -- reading and coming back -------------------------------------------------------------
    def archived(self, story_id: str) -> StoryArchive:
        found = self.files.read(story_id)
        if found is None:
            raise ArchiveMissing(
                f"story {story_id!r} is in the archive, but {self.files.path(story_id)} is not "
                "there: every process must be given the same STORYFOLD_ARCHIVE_DIR"
            )
        return found

    def revive(self, story_id: str) -> bool:
        """Put a cold story's keys back (call under the story's lock); False if it was hot."""
        if not self.r.hget(self.keys.story(story_id), "cold_at"):
            return False
        archive = self.archived(story_id)
        summary, versions, days, evidence = self._story_keys(story_id)
        pipe = self.r.pipeline(transaction=True)  # the story's slot
        pipe.delete(summary, versions, days, evidence)
        if archive.summary is not None:
            pipe.set(summary, archive.summary)
        if archive.versions:
            pipe.rpush(versions, *archive.versions)
        if archive.version_days:
            pipe.rpush(days, *archive.version_days)
        if archive.evidence is not None:
            pipe.set(evidence, archive.evidence)
        pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for aid, values in archive.articles.items():
            for name, value in values.items():
                pipe.set(self._article_key(aid, name), value)
        pipe.execute()
        self.r.hdel(self.keys.story(story_id), "cold_at")
        self.r.zrem(self.keys.stories_cold, story_id)
        # Looked at again by every pass while quiet: the pass's cursor went past its time, and an
        # article dated back then (a late feed item) does not bring the story past the cursor.
        self.defer(story_id)
        log.info("story.revived", story_id=story_id, articles=len(archive.articles))
        return True

    def count(self) -> int:
        return int(self.r.zcard(self.keys.stories_cold))
