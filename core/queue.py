"""The job queues: Redis Streams of article ids, each read by a consumer group.

Two streams, one `Queue` each: `articles` (POST adds; a worker extracts, embeds the lead and places
the article in a story) and `summaries` (the placement adds; a worker embeds the rest of the
article and rewrites its story's summary). Workers drain the first before the second, so under a
burst every article is in a story long before every summary has caught up.

Delivery is at-least-once. A worker reads new entries (`>`), re-reads its own pending ones after a
restart (`0`), and takes over entries that another worker left pending longer than
`claim_min_idle_ms` (XAUTOCLAIM, Redis >= 6.2). Entries are acknowledged only after the article's
state is written, so a crash between read and ack means the entry is delivered again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from core.keys import WORKER_GROUP, Keys


@dataclass(frozen=True)
class Job:
    entry_id: str
    article_id: str


def _jobs(entries: list[tuple[bytes | str, dict[bytes, bytes]]] | None) -> list[Job]:
    jobs = []
    for entry_id, fields in entries or []:
        if not fields:  # an entry deleted from the stream while pending
            continue
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        jobs.append(Job(eid, fields[b"article_id"].decode()))
    return jobs


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Queue:
    def __init__(self, client: redis.Redis, keys: Keys, stream: str | None = None) -> None:
        self.r = client
        self.keys = keys
        self.stream = stream or keys.articles_stream

    @classmethod
    def summaries(cls, client: redis.Redis, keys: Keys) -> Queue:
        return cls(client, keys, keys.summaries_stream)

    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(self.stream, WORKER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_new(self, consumer: str, count: int, block_ms: int | None) -> list[Job]:
        reply = self.r.xreadgroup(
            WORKER_GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return _jobs(reply[0][1]) if reply else []

    def read_own_pending(self, consumer: str, count: int) -> list[Job]:
        """Entries this consumer name read before and never acknowledged (e.g. it crashed)."""
        reply = self.r.xreadgroup(WORKER_GROUP, consumer, {self.stream: "0"}, count=count)
        return _jobs(reply[0][1]) if reply else []

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Job]:
        """Take over entries another consumer has held for too long: it is presumed dead."""
        reply = self.r.xautoclaim(
            self.stream,
            WORKER_GROUP,
            consumer,
            min_idle_time=min_idle_ms,
            start_id="0-0",
            count=count,
        )
        return _jobs(reply[1])

    def add(self, article_ids: list[str]) -> None:
        if article_ids:
            pipe = self.r.pipeline(transaction=False)
            for aid in article_ids:
                pipe.xadd(self.stream, {"article_id": aid})
            pipe.execute()

    def oldest_waiting_age_s(self) -> float:
        """Age of the oldest entry no worker has read yet (0 when none waits)."""
        first = self.peek_unread(1)
        if not first:
            return 0.0
        return max(0.0, time.time() - _entry_key(first[0].entry_id)[0] / 1000)

    def peek_unread(self, count: int, after: str = "0-0") -> list[Job]:
        """Up to `count` entries no worker has read yet (and later than `after`), left unread."""
        last = self._last_delivered()
        if last is None:
            return []
        start = max(last, after, key=_entry_key)
        return _jobs(self.r.xrange(self.stream, min=f"({start}", count=count))

    def trim_done(self) -> int:
        """Drop the entries every worker is done with (acknowledged: before both the oldest pending
        entry and the group's last delivered one), else a stream keeps an entry per article
        forever. Returns how many went. XTRIM MINID: Redis >= 6.2."""
        last = self._last_delivered()
        if last is None:
            return 0
        pending = self.r.xpending(self.stream, WORKER_GROUP)
        ms, seq = _entry_key(last)
        floor = f"{ms}-{seq + 1}"  # MINID keeps ids >= floor: the last delivered one goes too
        if pending["pending"]:  # always at or before the last delivered one
            oldest = pending["min"]
            floor = oldest.decode() if isinstance(oldest, bytes) else str(oldest)
        return int(self.r.xtrim(self.stream, minid=floor, approximate=False))

    def _last_delivered(self) -> str | None:
        try:
            groups = self.r.xinfo_groups(self.stream)
        except redis.ResponseError:
            return None
        for g in groups:
            if g["name"] in (WORKER_GROUP, WORKER_GROUP.encode()):
                last = g["last-delivered-id"]
                return last.decode() if isinstance(last, bytes) else str(last)
        return None

    def ack(self, jobs: list[Job]) -> None:
        if jobs:
            self.r.xack(self.stream, WORKER_GROUP, *[j.entry_id for j in jobs])

    def stats(self) -> dict[str, int]:
        """Queue depth for operators: entries never delivered (lag) and delivered but unacked."""
        pending = 0
        lag = 0
        try:
            groups = self.r.xinfo_groups(self.stream)
        except redis.ResponseError:
            return {"pending": 0, "lag": 0, "length": 0}
        length = int(self.r.xlen(self.stream))
        for g in groups:
            name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
            if name != WORKER_GROUP:
                continue
            pending = int(g["pending"])
            # Redis 6.2 has no `lag` field: count entries after the group's last delivered id.
            last = g["last-delivered-id"]
            last = last.decode() if isinstance(last, bytes) else last
            lag = len(
                self.r.xrange(self.stream, min=f"({last}", count=10_000)
            )  # capped: a lag past 10k reads as 10k
        return {"pending": pending, "lag": lag, "length": length}
