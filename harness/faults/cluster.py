"""The stack a fault run kills parts of: redis-server, one API, N workers, as real processes."""

from __future__ import annotations

import random
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

import redis

from core.keys import WORKER_GROUP
from core.queue import Queue
from harness.faults.config import KEYS, FaultConfig
from harness.procs import RedisServer, Service, free_port, service_env, wait_for, wait_healthy


class Cluster:
    """Redis, the API and the workers of one run, with the faults as methods."""

    def __init__(self, cfg: FaultConfig, workdir: Path) -> None:
        self.cfg, self.workdir = cfg, workdir
        self.redis = RedisServer(workdir / "redis", fsync=cfg.fsync)
        self.api_port = free_port()
        self.env = service_env(
            self.redis.url,
            host="127.0.0.1",
            port=self.api_port,
            worker_batch=cfg.worker_batch,
            claim_min_idle_ms=cfg.claim_min_idle_ms,
            max_deliveries=cfg.max_deliveries,
            heartbeat_s=1,
        )
        self.api = Service("api", ["api"], self.env, workdir)
        self.workers = [
            Service(f"worker-{i + 1}", ["worker", "--name", f"w{i + 1}"], self.env, workdir)
            for i in range(cfg.workers)
        ]
        self.stats: Counter[str] = Counter()
        self.exits: list[str] = []
        self._client: redis.Redis | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def r(self) -> redis.Redis:
        if self._client is None:
            self._client = self.redis.client()
        return self._client

    def start(self) -> None:
        self.redis.start()
        self.api.start()
        wait_healthy(self.base_url, 60, self.api)
        for w in self.workers:
            w.start()

    def close(self) -> None:
        for svc in [*self.workers, self.api]:
            svc.stop(timeout_s=20)
        self.redis.stop()
        if self._client is not None:
            self._client.close()

    # -- what a worker is doing --------------------------------------------------------------
    def _consumer(self, w: Service) -> str:
        return w.args[w.args.index("--name") + 1]

    def model_loaded(self, w: Service) -> bool:
        with suppress(redis.RedisError):
            return bool(self.r.hget(KEYS.worker(self._consumer(w)), "model_loaded") == b"1")
        return False

    def holding(self, w: Service) -> int:
        """Entries the worker has read and not acknowledged, on either stream (placements are
        done in milliseconds; a summary batch, embedding the rest of its articles, takes longer)."""
        held = 0
        for stream in (KEYS.articles_stream, KEYS.summaries_stream):
            with suppress(redis.RedisError):
                for c in self.r.xinfo_consumers(stream, WORKER_GROUP):
                    if c["name"].decode() == self._consumer(w):
                        held += int(c["pending"])
        return held

    def supervise(self) -> None:
        """Start again any worker that exited without being told to (a crash is a finding)."""
        for w in self.workers:
            code = w.exited_on_its_own()
            if code is not None:
                tail = w.log_tail(600).strip().splitlines()
                self.exits.append(f"{w.name} exited with {code}: {tail[-1] if tail else ''}")
                self.stats["worker_exits"] += 1
                w.start()

    # -- faults ------------------------------------------------------------------------------
    def kill_worker(self, rng: random.Random, number: int) -> str:
        ready = [w for w in self.workers if w.alive and self.model_loaded(w)]
        victim = rng.choice(ready or self.workers)
        # The most telling moment: it has entries it has not acknowledged. A batch takes tens of
        # milliseconds, so the kill follows the sighting at once (the random pause comes first).
        time.sleep(rng.uniform(0, 0.3))
        held = 0
        with suppress(TimeoutError):
            held = wait_for("entries in hand", lambda: self.holding(victim), 5.0, 0.002)
        victim.kill()
        self.stats["worker_kills"] += 1
        self.stats["worker_kills_holding"] += held > 0
        if number % 2:  # a new consumer name: its entries wait for XAUTOCLAIM by anyone
            victim.args = ["worker", "--name", f"{victim.name.replace('worker-', 'w')}-r{number}"]
            self.stats["worker_restarts_new_name"] += 1
        else:  # the same name: it re-reads its own pending entries first
            self.stats["worker_restarts_same_name"] += 1
        victim.start()
        return f"{victim.name} held {held}"

    def restart_redis(self, hard: bool, rng: random.Random) -> str:
        self.redis.stop(hard=hard)
        if self._client is not None:
            self._client.close()
            self._client = None
        down = rng.uniform(0.5, 2.0)
        time.sleep(down)
        self.redis.start()
        self.stats["redis_hard" if hard else "redis_clean"] += 1
        return f"down {down:.1f}s"

    def restart_api(self, hard: bool) -> str:
        if hard:
            self.api.kill()
        else:
            self.api.stop()
        self.api.start()
        wait_healthy(self.base_url, 60, self.api)
        self.stats["api_kill" if hard else "api_term"] += 1
        return ""

    # -- state -------------------------------------------------------------------------------
    def unfinished(self, ids: list[str]) -> int:
        pipe = self.r.pipeline(transaction=False)
        for aid in ids:
            pipe.hget(KEYS.article(aid), "status")
        return sum(s not in (b"processed", b"failed") for s in pipe.execute())

    def queue_stats(self) -> dict[str, int]:
        return Queue(self.r, KEYS).stats()
