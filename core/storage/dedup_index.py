"""Redis side of near-duplicate detection: LSH band keys → the first article that had them.

One hash per day of story time, expiring after the story window: syndicated copies run within
days of the original, and an index that forgets old days stays the size of the window (about
3 kB per article) instead of growing with the archive.

A worker asks for a whole batch at once (one round trip to look up, one to register), so the
check costs the same whether a batch holds one article or fifty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from core.keys import Keys

DAY_S = 86_400


@dataclass(frozen=True)
class Probe:
    """One article's entry in the index: its MinHash bytes, LSH band keys and story time."""

    article_id: str
    signature: bytes
    bands: list[str]
    ts: float


class DedupIndex:
    def __init__(self, client: redis.Redis, keys: Keys, window_days: float) -> None:
        self.r = client
        self.keys = keys
        self.window_days = max(1, int(window_days + 0.999))
        self.ttl_s = (self.window_days + 2) * DAY_S

    def days(self, ts: float) -> range:
        """The days whose articles an article at `ts` may copy (or be copied by)."""
        today = int(ts // DAY_S)
        return range(today - self.window_days, today + 2)

    def candidates(self, probes: Sequence[Probe]) -> list[dict[str, bytes]]:
        """For each probe, the stored articles sharing a band key with it around its time:
        id -> stored signature (the probe itself excluded, should it be registered already)."""
        pipe = self.r.pipeline(transaction=False)
        for p in probes:
            for day in self.days(p.ts):
                pipe.hmget(self.keys.dedup_bands(day), p.bands)
        rows = iter(pipe.execute())
        found: list[set[str]] = []
        for p in probes:
            ids = {v.decode() for _ in self.days(p.ts) for v in next(rows) if v}
            found.append(ids - {p.article_id})
        every = sorted(set().union(*found))
        if not every:
            return [{} for _ in probes]
        # GETs, not one MGET: each signature lives in its article's slot (Redis Cluster).
        pipe = self.r.pipeline(transaction=False)
        for i in every:
            pipe.get(self.keys.article_minhash(i))
        raw = dict(zip(every, pipe.execute(), strict=True))
        return [{i: raw[i] for i in sorted(ids) if raw[i]} for ids in found]

    def register(self, probes: Sequence[Probe]) -> None:
        """Remember these articles' bands (first one wins a band, in this order) and signatures."""
        pipe = self.r.pipeline(transaction=False)
        for p in probes:
            key = self.keys.dedup_bands(int(p.ts // DAY_S))
            for band in p.bands:
                pipe.hsetnx(key, band, p.article_id)
            pipe.expire(key, self.ttl_s)
            pipe.set(self.keys.article_minhash(p.article_id), p.signature, ex=self.ttl_s)
        pipe.execute()
