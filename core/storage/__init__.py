"""The storage layer: every line of Redis code in storyfold lives under this package.

`Storage` bundles the repositories one Redis database holds; workers and the API get theirs from
it (the composition root, storyfold/, builds it) and never see a Redis client themselves.
"""

from __future__ import annotations

from pathlib import Path

import redis

from core.keys import Keys
from core.queue import Queue
from core.storage.archive_files import ArchiveFiles
from core.storage.articles import Store
from core.storage.cold import ColdStore
from core.storage.dedup_index import DedupIndex
from core.storage.metrics import Recorder
from core.storage.repair_store import RepairStore
from core.storage.stories import Stories

# Redis could not be reached: callers back off and retry instead of failing the work in hand.
StorageDown = redis.ConnectionError
# What a caller backs off on: StorageDown, and what a Redis Cluster answers while a failover is
# under way (slots without a master, a master demoted under the client, a migrating slot), once
# the cluster client's own retries (core.storage.connection) are spent.
STORAGE_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.RedisClusterException,
)
# Any error the store reported (StorageDown among them).
StorageError = redis.RedisError

__all__ = ["STORAGE_UNAVAILABLE", "Storage", "StorageDown", "StorageError"]


class Storage:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        events_retention: int = 10_000,
        archive_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.articles = Store(client, keys)
        # Quiet stories' heavy keys on disk (core.storage.cold); None: everything stays in Redis.
        self.cold = ColdStore(client, keys, ArchiveFiles(archive_dir)) if archive_dir else None
        self.stories = Stories(client, keys, events_retention, self.cold)
        self.queue = Queue(client, keys)  # articles to place in a story
        self.summary_queue = Queue.summaries(client, keys)  # placed articles to summarise
        self.repairs = RepairStore(client, keys, self.stories)
        self.metrics = Recorder(client, keys)

    def dedup_index(self, window_days: float) -> DedupIndex:
        return DedupIndex(self.client, self.keys, window_days)
