"""Who may change a story's membership and assigner state, and when.

Placement has no global lock. An article joining story S holds S's own lock (a key in S's slot)
while it re-reads S's state, folds itself in and commits: joins of different stories proceed in
parallel on any number of workers; joins of one story queue behind each other, each on the state
the previous one left. Opening a new story is the one decision that depends on every story (two
workers must not each open one for the same new event), so it takes the creation lock
(`lock:assign`), looks again at the stories opened meanwhile, and only then opens one. The repair
takes the creation lock and then the locks of every story it rewrites; the archive move takes the
story's lock. Order, so no two holders wait on each other: the creation lock before story locks,
story locks in sorted order, one story lock at a time outside the repair.

Every lock expires (its holder may die): a holder that outlives its lock (a stall of `timeout_s`)
finds it gone at release and logs it; the writes it made are each complete steps (Stories).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress

import redis
import structlog

from core.keys import Keys

log = structlog.get_logger(__name__)

STORY_LOCK_S = 30.0
# How often a waiter asks for a lock again. A story or creation lock is held for about a ms, so
# redis-py's default (0.1 s) left a worker idle for ~100 placements' time whenever two workers
# wanted one story at once (benchmarks/placement.py, 2 processes against 1: 1.30x with 0.1 s,
# 1.55x with this).
LOCK_POLL_S = 0.002


@contextmanager
def held(client: redis.Redis, key: str, timeout_s: float, what: str) -> Iterator[None]:
    """Hold the lock at `key` (it expires after `timeout_s`; waiting up to twice that for it)."""
    lock = client.lock(key, timeout=timeout_s, sleep=LOCK_POLL_S, blocking_timeout=timeout_s * 2)
    if not lock.acquire():
        raise TimeoutError(f"could not take {what}")
    try:
        yield
    finally:
        # LockError: it expired while held, and the next holder already moved on.
        with suppress(redis.exceptions.LockError):
            lock.release()


class StoryLocks:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys

    @contextmanager
    def story(self, story_id: str, timeout_s: float = STORY_LOCK_S) -> Iterator[None]:
        """Hold one story's lock (waiting up to twice its lifetime for it)."""
        with held(self.r, self.keys.story_lock(story_id), timeout_s, f"story {story_id}'s lock"):
            yield

    @contextmanager
    def stories(self, story_ids: Iterable[str], timeout_s: float = 120.0) -> Iterator[None]:
        """Hold the locks of all these stories (taken in sorted order: no deadlock)."""
        with ExitStack() as held:
            for sid in sorted(set(story_ids)):
                held.enter_context(self.story(sid, timeout_s))
            yield
