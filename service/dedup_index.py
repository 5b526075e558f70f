"""Redis side of near-duplicate detection: LSH band keys → the first article that had them.

One hash per day of story time, expiring after the story window: syndicated copies run within
days of the original, and an index that forgets old days stays the size of the window (about
3 kB per article) instead of growing with the archive.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from service.keys import Keys

DAY_S = 86_400


class DedupIndex:
    def __init__(self, client: redis.Redis, keys: Keys, window_days: float) -> None:
        self.r = client
        self.keys = keys
        self.window_days = max(1, int(window_days + 0.999))
        self.ttl_s = (self.window_days + 2) * DAY_S

    def _days(self, ts: float) -> list[int]:
        today = int(ts // DAY_S)
        return list(range(today - self.window_days, today + 2))

    def candidates(self, bands: Sequence[str], ts: float) -> dict[str, bytes]:
        """Articles sharing a band key with these, around time `ts`: id -> stored signature."""
        pipe = self.r.pipeline(transaction=False)
        for day in self._days(ts):
            pipe.hmget(self.keys.dedup_bands(day), list(bands))
        ids = sorted({v.decode() for row in pipe.execute() for v in row if v})
        if not ids:
            return {}
        sigs = self.r.mget([self.keys.article_minhash(i) for i in ids])
        return {i: s for i, s in zip(ids, sigs, strict=True) if s}

    def register(self, article_id: str, signature: bytes, bands: Sequence[str], ts: float) -> None:
        """Remember this article's bands (first one wins a band) and its signature."""
        key = self.keys.dedup_bands(int(ts // DAY_S))
        pipe = self.r.pipeline(transaction=False)
        for band in bands:
            pipe.hsetnx(key, band, article_id)
        pipe.expire(key, self.ttl_s)
        pipe.set(self.keys.article_minhash(article_id), signature, ex=self.ttl_s)
        pipe.execute()
