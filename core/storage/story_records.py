"""What the storage layer reads and makes of stories' members and story hashes (plain data and
pure functions; core/storage/stories.py does the Redis work)."""

from __future__ import annotations

import json
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.records import ArticleStatus

# The article records the story it joined (its own slot), after the story took it in. A summary
# written in between may already have taken it in and marked it processed: that status stays.
# (Overwriting it with 'clustered' left a near-duplicate waiting for a summary that had already
# happened: its own summary job found the story's summary current and wrote nothing.)
JOIN_RECORD = f"""
-- KEYS: article hash; ARGV: story id, placed_at, duplicate_of ('' for none)
redis.call('HSET', KEYS[1], 'story_id', ARGV[1], 'placed_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'duplicate_of', ARGV[3]) end
if redis.call('HGET', KEYS[1], 'status') ~= '{ArticleStatus.PROCESSED.value}' then
  redis.call('HSET', KEYS[1], 'status', '{ArticleStatus.CLUSTERED.value}')
end
redis.call('HDEL', KEYS[1], 'placing')
return 1
"""

# What a summary needs of each member (Stories.members).
MEMBER_FIELDS = (
    "source",
    "clean_title",
    "title",
    "published_at",
    "duplicate_of",
    "status",
    "sentence_count",
    "vector_rows",
    "vector_target",
    "received_at",
)


@dataclass(frozen=True)
class MemberDoc:
    """A story member as the summariser needs it (sentences and vectors come from Store)."""

    article_id: str
    source: str
    title: str | None
    published_at: datetime | None
    duplicate_of: str | None
    status: ArticleStatus
    # False while only the lead is embedded (the worker embeds the rest before summarising it).
    embedded: bool = True
    received_at: float = 0.0  # unix seconds of its POST: the POST → processed latency
    sentence_count: int = 0  # its clean sentences (the summary's core is chosen by these)
    vector_rows: int = 0  # how many of them have a vector stored


def _ready(members: list[MemberDoc]) -> list[MemberDoc]:
    """Members a summary can speak for: embedded originals, and copies whose original is one (or
    is not in this story: the copy then stands on its own sentences' absence from the summary).
    A copy of a copy counts its chain's original."""
    embedded = {m.article_id for m in members if m.embedded and not m.duplicate_of}
    copy_of = {m.article_id: m.duplicate_of for m in members if m.duplicate_of}

    def root(original: str) -> str:
        # A copy matched against another copy still being placed names that copy: follow the
        # chain to the article that speaks for both (bounded: a cycle never ends the walk).
        for _ in range(len(copy_of)):
            if original not in copy_of:
                break
            original = copy_of[original]
        return original

    member_ids = {m.article_id for m in members}
    return [
        m
        for m in members
        if m.article_id in embedded
        or (
            m.duplicate_of
            and (root(m.duplicate_of) in embedded or root(m.duplicate_of) not in member_ids)
        )
    ]


def _version(raw: bytes) -> dict[str, Any]:
    """One stored summary version: zlib-compressed JSON, or plain JSON as stored before."""
    data: dict[str, Any] = json.loads(raw if raw[:1] == b"{" else zlib.decompress(raw))
    return data


def new_story_fields(story_id: str, headline: str, parent: str | None = None) -> dict[str, str]:
    """The story hash of a story that has no summary yet."""
    now = f"{time.time():.3f}"
    fields = {
        "id": story_id,
        "created_at": now,
        "updated_at": now,
        "headline": headline,
        "summary_version": "0",
        "article_count": "0",
        "source_count": "0",
    }
    if parent:
        fields["parent"] = parent
    return fields


def new_story_id() -> str:
    return f"s_{uuid.uuid4().hex[:16]}"
