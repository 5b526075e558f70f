"""Followed feeds (sources) in Redis: the source hashes, the poll schedule, leases, seen entries.

A source is due when its score in `sources:due` is at or before now. A worker polls it only while
it holds the source's lease (SET NX with a TTL), so two workers never poll one source at once, and
a worker that dies mid-poll frees it when the TTL runs out. The feed's validators (ETag,
Last-Modified) and the set of entries already turned into articles are written only after the
entries are stored, so a poll cut short is repeated in full, and Store.add_article's idempotency
(by canonical URL) keeps the repeat from doubling anything.

Hosts (core.storage.hosts): one request in flight per host, a minimum interval between two.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import NotFound
from core.keys import Keys
from core.records import HTTP_URL_PATTERN, check_http_url
from core.storage.article_codec import decode_hash, from_ts
from core.storage.hosts import Hosts

if TYPE_CHECKING:
    from core.storage import Storage

# Record a poll unless the source was deleted meanwhile (a deleted source must not come back).
# KEYS: the source, sources:due; ARGV: id, next poll, articles it brought, then field/values. One
# script, so a source deleted meanwhile is not re-created as a stub holding only these fields.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[1], 'articles_total', ARGV[3]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


# The longest interval a source may ask for: a feed polled less than monthly is not followed, and
# a bound keeps `now + poll_seconds` a float (10**400 seconds overflowed it and stalled polling).
POLL_SECONDS_MAX = 30 * 24 * 3600


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(
        max_length=2000,
        pattern=HTTP_URL_PATTERN,
        description="An RSS 2.0, RSS 1.0, Atom or JSON Feed URL (http or https)",
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The articles' `source`; default: the feed's title",
    )
    poll_seconds: int | None = Field(
        None,
        gt=0,
        le=POLL_SECONDS_MAX,
        description="Between two polls (bounded below by the server; at most 30 days)",
    )

    @field_validator("poll_seconds", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # JSON Schema's integer: 60 and 60.0, never true or "60" (lax pydantic takes both).
        if isinstance(value, bool) or not isinstance(value, int | float | None):
            raise ValueError("must be a whole number of seconds")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class SourceOut(BaseModel):
    id: str
    url: str
    name: str | None = Field(description="As given; None: the feed's title once polled")
    poll_seconds: int
    created_at: datetime
    last_poll_at: datetime | None = None
    last_status: int | None = Field(None, description="HTTP status of the last poll's feed request")
    last_outcome: str | None = Field(
        None, description="ok | not_modified | backoff | error | blocked (refused address)"
    )
    last_error: str | None = None
    items_seen: int = Field(0, description="Entries in the feed at the last poll")
    items_new: int = Field(0, description="Entries the last poll turned into new articles")
    items_failed: int = Field(0, description="Entries the last poll could not store (retried)")
    articles_total: int = Field(0, description="New articles from this source, all polls")
    failures: int = Field(0, description="Failed polls in a row (back-off grows with it)")
    next_poll_at: datetime | None = None


class SourceList(BaseModel):
    sources: list[SourceOut]


@dataclass(frozen=True)
class PollState:
    """What the poller needs of a source."""

    id: str
    url: str
    name: str | None
    poll_seconds: int
    etag: str | None
    last_modified: str | None
    failures: int


@dataclass(frozen=True)
class PollReport:
    outcome: str
    status: int | None = None
    error: str | None = None
    seen: int = 0
    new: int = 0
    failed: int = 0
    etag: str | None = None  # validators to keep (None: keep none)
    last_modified: str | None = None
    name: str | None = None  # the feed's title, for a source given no name


def _digest(url: str) -> str:
    return hashlib.sha1(url.strip().encode()).hexdigest()


class Sources:
    @classmethod
    def of(cls, storage: Storage) -> Sources:
        """The repository over a Storage bundle's database (workers never hold a client)."""
        return cls(storage.client, storage.keys)

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._record = client.register_script(_RECORD)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self.hosts = Hosts(client, keys)

    # -- the API's side --------------------------------------------------------------------------
    def add(self, source: SourceIn, poll_seconds: int) -> tuple[SourceOut, bool]:
        """Follow a feed, due at once. The same URL again returns the source following it."""
        source_id = f"src_{uuid.uuid4().hex[:16]}"
        index = self.keys.source_index(_digest(source.url))
        if not self.r.set(index, source_id, nx=True):
            existing = (self.r.get(index) or b"").decode()
            if self.r.exists(self.keys.source(existing)):
                return self.get(existing), True
            self.r.set(index, source_id)  # a stale index entry of a half-deleted source
        now = time.time()
        fields = {
            "id": source_id,
            "url": source.url,
            "name": source.name or "",
            "poll_seconds": str(poll_seconds),
            "created_at": f"{now:.3f}",
            "next_poll_at": f"{now:.3f}",
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.source(source_id), mapping=fields)
        pipe.zadd(self.keys.sources_due, {source_id: now})
        pipe.execute()
        return self.get(source_id), False

    def get(self, source_id: str) -> SourceOut:
        f = decode_hash(self.r.hgetall(self.keys.source(source_id)))
        if not f.get("url"):  # (a stub left by an older version's late write is no source)
            raise NotFound(f"no source with id {source_id!r}", field="id")
        return _out(f)

    def all(self) -> list[SourceOut]:
        ids = [i.decode() for i in self.r.zrange(self.keys.sources_due, 0, -1)]
        pipe = self.r.pipeline(transaction=False)
        for source_id in ids:
            pipe.hgetall(self.keys.source(source_id))
        found = [decode_hash(raw) for raw in pipe.execute()]
        return sorted((_out(f) for f in found if f), key=lambda s: s.created_at)

    def delete(self, source_id: str) -> None:
        url = self.r.hget(self.keys.source(source_id), "url")
        if url is None:
            raise NotFound(f"no source with id {source_id!r}", field="id")
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(
            self.keys.source(source_id),
            self.keys.source_seen(source_id),
            self.keys.source_entry_tries(source_id),
        )
        pipe.zrem(self.keys.sources_due, source_id)
        pipe.delete(self.keys.source_index(_digest(url.decode())))
        pipe.execute()

    # -- the poller's side -------------------------------------------------------------------
    def due(self, now: float, limit: int) -> list[str]:
        ids = self.r.zrangebyscore(self.keys.sources_due, "-inf", now, start=0, num=limit)
        return [i.decode() for i in ids]

    def next_due_in(self, now: float) -> float | None:
        first = self.r.zrange(self.keys.sources_due, 0, 0, withscores=True)
        return max(0.0, first[0][1] - now) if first else None

    def lease(self, source_id: str, owner: str, ttl_s: float) -> bool:
        key = self.keys.source_lease(source_id)
        return bool(self.r.set(key, owner, nx=True, px=int(ttl_s * 1000)))

    def renew(self, source_id: str, owner: str, ttl_s: float) -> bool:
        key = self.keys.source_lease(source_id)
        return bool(self._renew(keys=[key], args=[owner, int(ttl_s * 1000)]))

    def release(self, source_id: str, owner: str) -> None:
        self._release(keys=[self.keys.source_lease(source_id)], args=[owner])

    def state(self, source_id: str) -> PollState | None:
        f = decode_hash(self.r.hgetall(self.keys.source(source_id)))
        if not f:
            return None
        return PollState(
            id=source_id,
            url=f["url"],
            name=f.get("name") or None,
            # Clamped: a source stored before the bound existed must not overflow the schedule.
            poll_seconds=min(int(f.get("poll_seconds") or 900), POLL_SECONDS_MAX),
            etag=f.get("etag") or None,
            last_modified=f.get("last_modified") or None,
            failures=int(f.get("failures") or 0),
        )

    def unseen(self, source_id: str, entry_keys: list[str]) -> list[bool]:
        if not entry_keys:
            return []
        found = self.r.smismember(self.keys.source_seen(source_id), entry_keys)
        return [not bool(x) for x in found]

    def mark_seen(self, source_id: str, entry_key: str) -> None:
        self.r.sadd(self.keys.source_seen(source_id), entry_key)
        self.r.hdel(self.keys.source_entry_tries(source_id), entry_key)

    def entry_failed(self, source_id: str, entry_key: str) -> int:
        """One more failed attempt at an entry; returns how many so far."""
        return int(self.r.hincrby(self.keys.source_entry_tries(source_id), entry_key, 1))

    def record(self, source_id: str, report: PollReport, next_at: float, failures: int) -> bool:
        """Store a poll's report and schedule the next one; False if the source is gone."""
        fields = {
            "last_poll_at": f"{time.time():.3f}",
            "last_status": str(report.status or ""),
            "last_outcome": report.outcome,
            "last_error": (report.error or "")[:500],
            "items_seen": str(report.seen),
            "items_new": str(report.new),
            "items_failed": str(report.failed),
            "failures": str(failures),
            "next_poll_at": f"{next_at:.3f}",
        }
        if report.outcome in ("ok", "not_modified"):
            fields["etag"] = report.etag or ""
            fields["last_modified"] = report.last_modified or ""
        if report.name:
            fields["feed_title"] = report.name[:200]
        argv = [source_id, f"{next_at:.3f}", report.new, *[x for kv in fields.items() for x in kv]]
        return bool(
            self._record(keys=[self.keys.source(source_id), self.keys.sources_due], args=argv)
        )

    def reschedule(self, source_id: str, at: float) -> None:
        """Move a source's next poll (xx: never re-adds a deleted one)."""
        self.r.zadd(self.keys.sources_due, {source_id: at}, xx=True)


def _out(f: dict[str, str]) -> SourceOut:
    def num(name: str) -> int:
        return int(f.get(name) or 0)

    return SourceOut(
        id=f["id"],
        url=f["url"],
        name=f.get("name") or f.get("feed_title") or None,
        poll_seconds=num("poll_seconds"),
        created_at=from_ts(f["created_at"]),
        last_poll_at=from_ts(f.get("last_poll_at")),
        last_status=num("last_status") or None,
        last_outcome=f.get("last_outcome") or None,
        last_error=f.get("last_error") or None,
        items_seen=num("items_seen"),
        items_new=num("items_new"),
        items_failed=num("items_failed"),
        articles_total=num("articles_total"),
        failures=num("failures"),
        next_poll_at=from_ts(f.get("next_poll_at")),
    )
