"""The read side of stories: a story with its articles and summary, its cards, its versions."""

from __future__ import annotations

import json

import redis

from core.errors import ArchiveMissing, NotFound
from core.keys import Keys
from core.records import ArticleRef, StoryCard, StoryOut
from core.storage.archive_files import StoryArchive
from core.storage.article_codec import decode_hash, from_ts
from core.storage.cold import ColdStore
from core.storage.story_records import MemberDoc, _version
from core.summary import Summary
from core.summary_diff import SummaryChanges, diff


class StoryReads:
    """Mixed into Stories: what the API reads."""

    r: redis.Redis
    keys: Keys
    cold: ColdStore | None  # the archive on disk, where quiet stories' summaries went

    def _archived(self, story_id: str) -> StoryArchive:
        if self.cold is None:
            raise ArchiveMissing(
                f"story {story_id!r} is in the archive on disk, and this process has no archive "
                "folder: give it the same STORYFOLD_ARCHIVE_DIR as the workers"
            )
        return self.cold.archived(story_id)

    def summaries_stored(self, story_ids: list[str]) -> list[bytes | None]:
        """Each story's current summary as stored (JSON bytes), read from the archive on disk for
        a story moved there; None where there is none (or no archive folder in this process)."""
        pipe = self.r.pipeline(transaction=False)
        for sid in story_ids:
            pipe.get(self.keys.story_summary(sid))
            pipe.hget(self.keys.story(sid), "cold_at")
        replies = pipe.execute()
        out: list[bytes | None] = []
        for sid, raw, cold_at in zip(story_ids, replies[::2], replies[1::2], strict=True):
            if cold_at and not raw and self.cold is not None:
                raw = self.cold.archived(sid).summary
            out.append(raw)
        return out

    def members(self, story_id: str) -> list[MemberDoc]:  # defined by Stories
        raise NotImplementedError

    def _card(self, f: dict[str, str]) -> StoryCard:
        return StoryCard(
            id=f["id"],
            headline=f.get("headline") or "",
            article_count=int(f.get("article_count") or 0),
            source_count=int(f.get("source_count") or 0),
            created_at=from_ts(f["created_at"]),
            updated_at=from_ts(f["updated_at"]),
            summary_version=int(f.get("summary_version") or 0),
            merged_into=f.get("merged_into") or None,
            parent=f.get("parent") or None,
            seq=int(f.get("seq") or 0),
        )

    def story(self, story_id: str) -> StoryOut:
        f = decode_hash(self.r.hgetall(self.keys.story(story_id)))
        if not f:
            raise NotFound(f"no story with id {story_id!r}", field="id")
        card = self._card(f)
        members = self.members(story_id)
        if f.get("cold_at"):
            raw_summary = self._archived(story_id).summary
        else:
            raw_summary = self.r.get(self.keys.story_summary(story_id))
        return StoryOut(
            **card.model_dump(),
            articles=[
                ArticleRef(
                    id=m.article_id,
                    source=m.source,
                    title=m.title,
                    published_at=m.published_at,
                    duplicate_of=m.duplicate_of,
                    url=(self.r.hget(self.keys.article(m.article_id), "url") or b"").decode()
                    or None,
                )
                for m in members
            ],
            summary=Summary.from_dict(json.loads(raw_summary)) if raw_summary else None,
        )

    def card(self, fields: dict[str, str]) -> StoryCard:
        """A story hash as stored → its card (the feed, service/feed.py, reads hashes in bulk)."""
        return self._card(fields)

    def versions(
        self, story_id: str, before: int | None, limit: int
    ) -> tuple[list[Summary], int | None]:
        """Summary versions newest first, up to `limit` of those stored below list index `before`
        (None: from the newest). Returns them and the index to continue below, None at the first.
        The list only grows at its end, so an index stays valid while new versions arrive.
        Versions older than the last KEEP_VERSIONS that were not their day's last are thinned
        (empty rows, skipped here): a page may hold fewer than `limit`."""
        key = self.keys.story_versions(story_id)
        pipe = self.r.pipeline(transaction=False)
        pipe.exists(self.keys.story(story_id))
        pipe.hget(self.keys.story(story_id), "cold_at")
        pipe.llen(key)
        exists, cold_at, stored = pipe.execute()
        if not exists:
            raise NotFound(f"no story with id {story_id!r}", field="id")
        archived = self._archived(story_id).versions if cold_at else None
        stored = len(archived) if archived is not None else stored
        end = stored if before is None else min(before, stored)
        start = max(0, end - limit)
        rows = archived[start:end] if archived is not None else self._version_rows(key, start, end)
        kept = [Summary.from_dict(_version(raw)) for raw in reversed(rows) if raw]
        return kept, (start or None)

    def _version_rows(self, key: str, start: int, end: int) -> list[bytes]:
        return list(self.r.lrange(key, start, end - 1)) if end > 0 else []

    def step_changes(self, story_id: str, version: int) -> SummaryChanges | None:
        """What summary `version` changed since the version before it (version 1: everything is
        new); None when either is not stored as such (a story from before versions were kept)."""
        if version < 1:
            return None
        first = max(version - 2, 0)  # list index of the version before (version - 1 is its own)
        rows = self.r.lrange(self.keys.story_versions(story_id), first, version - 1)
        if len(rows) != version - first or not all(rows):
            return None
        found = [Summary.from_dict(_version(raw)) for raw in rows]
        old, new = (found[0] if version > 1 else None), found[-1]
        if new.version != version or (old is not None and old.version != version - 1):
            return None
        return diff(story_id, old, new)

    def count(self) -> int:
        return int(self.r.zcard(self.keys.stories_updated))
