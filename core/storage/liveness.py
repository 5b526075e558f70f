"""Which processes are alive: the worker heartbeat in Redis, and the image's HEALTHCHECK.

  {p}:workers        zset: worker names scored by their last heartbeat (unix time)
  {p}:worker:{name}  hash with a TTL: model_loaded, processed, host, pid, started_at, beat_at

`python -m core.storage.liveness` is the HEALTHCHECK of the one image, for either role (exit 0 =
healthy): the API answers /healthz on this container's port, or a worker of this container has a
live heartbeat with its model loaded.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import redis
import structlog

from core.config import Settings, get_settings
from core.keys import Keys
from core.storage.connection import connect

log = structlog.get_logger(__name__)


class Heartbeat:
    """A worker's liveness key, refreshed by a daemon thread (so a long batch does not look like a
    dead worker) and expiring after three missed beats, so even a SIGKILLed worker drops out of
    /readyz. It registers while the model loads (model_loaded=0); `ready()` flips that."""

    def __init__(self, r: redis.Redis, keys: Keys, name: str, interval_s: float = 5.0) -> None:
        self.r, self.keys, self.name, self.interval_s = r, keys, name, interval_s
        self.ttl_s = max(1, math.ceil(interval_s * 3))
        self.model_loaded = False
        self.processed: Callable[[], int] = lambda: 0
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{name}", daemon=True)

    def beat(self) -> None:
        now, key = time.time(), self.keys.worker(self.name)
        fields = {
            "model_loaded": int(self.model_loaded),
            "processed": self.processed(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": f"{self.started_at:.3f}",
            "beat_at": f"{now:.3f}",
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self.ttl_s)
        pipe.zadd(self.keys.workers, {self.name: now})
        pipe.zremrangebyscore(self.keys.workers, "-inf", now - 86_400)  # names gone for a day
        pipe.execute()

    def ready(self, processed: Callable[[], int]) -> None:
        self.model_loaded, self.processed = True, processed
        self._try_beat()
        log.info("worker.ready", worker=self.name, model_loaded=True)

    def _try_beat(self) -> None:
        """A worker started or running while Redis restarts keeps going: the next beat tries
        again, and the worker loop waits for storage on its own."""
        try:
            self.beat()
        except redis.RedisError as exc:
            log.warning("worker.heartbeat_failed", worker=self.name, error=str(exc))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._try_beat()

    def __enter__(self) -> Heartbeat:
        self._try_beat()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
        try:  # a clean exit leaves at once rather than after the TTL
            # Unchained: a cluster pipeline's commands do not return the pipeline.
            pipe = self.r.pipeline()
            pipe.delete(self.keys.worker(self.name))
            pipe.zrem(self.keys.workers, self.name)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("worker.heartbeat_cleanup_failed", worker=self.name, error=str(exc))


def live_workers(r: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """Workers whose heartbeat key has not expired, with what they last reported."""
    names = [n.decode() for n in r.zrange(keys.workers, 0, -1)]
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(keys.worker(name))
    out = []
    for name, raw in zip(names, pipe.execute(), strict=True):
        if not raw:
            continue  # expired: the worker stopped beating
        f = {k.decode(): v.decode() for k, v in raw.items()}
        out.append(
            {
                "name": name,
                "host": f.get("host", ""),
                "model_loaded": f.get("model_loaded") == "1",
                "processed": int(f.get("processed") or 0),
                "last_beat_s": round(max(0.0, time.time() - float(f.get("beat_at") or 0)), 1),
            }
        )
    return out


def probe(settings: Settings) -> bool:
    """One image, two roles: healthy if this container's API answers /healthz, or a worker on
    this host (the container's hostname) has a live heartbeat with its model loaded."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/healthz", timeout=3):
            return True
    except OSError:
        pass
    if settings.redis_url is None:
        from core.storage.embedded import EmbeddedRedis

        url = EmbeddedRedis(settings.data_dir).url
    else:
        url = settings.redis_url
    try:
        r = connect(url, settings.redis_cluster, timeout_s=3, retries=1)
        workers = live_workers(r, Keys(settings.key_prefix))
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError):
        return False
    host = socket.gethostname()
    return any(w["host"] == host and w["model_loaded"] for w in workers)


if __name__ == "__main__":
    sys.exit(0 if probe(get_settings()) else 1)
