"""Operational numbers that travel through Redis.

The API and the workers are separate processes (separate containers), so a worker cannot update a
Prometheus counter the API serves. Workers add to counters and histogram buckets in one Redis hash;
the API's /metrics reads that hash, the queue and the live heartbeats (core.storage.liveness) with a
custom collector.

  {p}:metrics  hash: `articles_<what>` counters; per histogram `<name>:<bucket>` counts (bucket i
               counts values <= bounds[i], the last one the rest) and `<name>:sum`
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import structlog
from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

from core.keys import WORKER_GROUP, Keys
from core.queue import Queue
from core.storage.liveness import live_workers

if TYPE_CHECKING:
    from core.storage.stories import Stories

log = structlog.get_logger(__name__)

COUNTERS = {
    "articles_accepted": "Articles stored and queued by POST /articles.",
    "articles_existing": "Posted articles answered with one already stored (same id, URL or text).",
    "posts_recovered": "Articles whose POST was cut short before queueing them, queued by a worker.",
    "posts_dropped": (
        "Articles half-stored by a POST cut short and posted again under a new id: removed."
    ),
    "articles_processed": "Articles a worker finished: in their story and reflected in its summary.",
    "articles_failed": "Articles given up on (no text left, or too many processing errors).",
}


@dataclass(frozen=True)
class Histogram:
    name: str
    doc: str
    bounds: tuple[float, ...]  # upper bounds, ascending; +Inf is implied

    def bucket(self, value: float) -> int:
        return bisect.bisect_left(self.bounds, value)  # first bound >= value; len(bounds) = +Inf

    def family(self, values: dict[str, float]) -> HistogramMetricFamily:
        cumulative, buckets = 0.0, []
        for i, le in enumerate([*self.bounds, math.inf]):
            cumulative += values.get(f"{self.name}:{i}", 0.0)
            buckets.append(("+Inf" if math.isinf(le) else repr(float(le)), cumulative))
        return HistogramMetricFamily(
            f"storyfold_{self.name}", self.doc, buckets, values.get(f"{self.name}:sum", 0.0)
        )


LATENCY = Histogram(
    "article_latency_seconds",
    "Seconds from POST to processed: in its story and reflected in the story's summary.",
    (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)
EMBED_BATCH = Histogram(
    "embed_batch_texts",
    "Texts (titles and sentences) embedded in one model call.",
    (1, 8, 32, 64, 128, 256, 512, 1024, 2048),
)
EMBED_TIME = Histogram(
    "embed_seconds",
    "Seconds one model call took.",
    (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HISTOGRAMS = (LATENCY, EMBED_BATCH, EMBED_TIME)


def _observe(pipe: Any, keys: Keys, hist: Histogram, values: Sequence[float]) -> None:
    for bucket, n in Counter(hist.bucket(v) for v in values).items():
        pipe.hincrby(keys.metrics, f"{hist.name}:{bucket}", n)
    if values:
        pipe.hincrbyfloat(keys.metrics, f"{hist.name}:sum", float(sum(values)))


# -- recording (API: posts; workers: batches, model calls) -------------------------------------
def record_batch(
    r: redis.Redis,
    keys: Keys,
    processed: Sequence[str],
    failed: Sequence[str],
    received_at: dict[str, float],
) -> None:
    """Count a finished batch; latency is measured from each article's `received_at`."""
    if not processed and not failed:
        return
    now = time.time()
    pipe = r.pipeline(transaction=False)
    pipe.hincrby(keys.metrics, "articles_processed", len(processed))
    pipe.hincrby(keys.metrics, "articles_failed", len(failed))
    latencies = [max(0.0, now - received_at[a]) for a in processed if a in received_at]
    _observe(pipe, keys, LATENCY, latencies)
    pipe.execute()


@contextmanager
def timed_embed(r: redis.Redis, keys: Keys, texts: int) -> Iterator[None]:
    """Wrap one model call: records how many texts it embedded and how long it took."""
    started = time.perf_counter()
    yield
    if texts:
        pipe = r.pipeline(transaction=False)
        _observe(pipe, keys, EMBED_BATCH, [texts])
        _observe(pipe, keys, EMBED_TIME, [time.perf_counter() - started])
        pipe.execute()


class Recorder:
    """What a worker records: finished batches and model calls (the functions above, bound to
    one database)."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def batch(
        self, processed: Sequence[str], failed: Sequence[str], received_at: dict[str, float]
    ) -> None:
        record_batch(self.r, self.keys, processed, failed, received_at)

    def embed(self, texts: int) -> AbstractContextManager[None]:
        return timed_embed(self.r, self.keys, texts)


def queue_oldest_age_s(r: redis.Redis, keys: Keys) -> float:
    """Age of the oldest entry not yet acknowledged (pending, or never delivered): how far behind
    the workers run, in seconds. Stream ids start with the XADD time in milliseconds."""
    stream, oldest = keys.articles_stream, []
    try:
        summary = r.xpending(stream, WORKER_GROUP)
        groups = r.xinfo_groups(stream)
    except redis.ResponseError:  # no stream or group yet
        return 0.0
    if summary["pending"]:
        oldest.append(summary["min"])
    for g in groups:
        if g["name"] in (WORKER_GROUP, WORKER_GROUP.encode()):
            last = g["last-delivered-id"]
            last = last.decode() if isinstance(last, bytes) else last
            oldest += [e[0] for e in r.xrange(stream, min=f"({last}", count=1)]
    if not oldest:
        return 0.0
    first_ms = min(int((i.decode() if isinstance(i, bytes) else i).split("-")[0]) for i in oldest)
    return round(max(0.0, time.time() - first_ms / 1000), 3)


# -- reading (the API's /metrics) --------------------------------------------------------------
class RedisCollector:
    """Reads the shared numbers at scrape time; Redis down reads as storyfold_redis_up 0."""

    def __init__(self, r: redis.Redis, keys: Keys, queue: Queue, stories: Stories) -> None:
        self.r, self.keys, self.queue, self.stories = r, keys, queue, stories

    def collect(self) -> Iterable[Metric]:
        try:
            raw = self.r.hgetall(self.keys.metrics)
            queue = self.queue.stats()
            summaries = Queue.summaries(self.r, self.keys).stats()
            age = queue_oldest_age_s(self.r, self.keys)
            stories = self.stories.count()
            workers = live_workers(self.r, self.keys)
        except redis.RedisError as exc:
            log.warning("metrics.redis_unavailable", error=str(exc))
            yield GaugeMetricFamily("storyfold_redis_up", "Redis answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("storyfold_redis_up", "Redis answered this scrape.", value=1)
        values = {k.decode(): float(v) for k, v in raw.items()}
        for name, doc in COUNTERS.items():
            yield CounterMetricFamily(f"storyfold_{name}", doc, value=values.get(name, 0.0))
        for hist in HISTOGRAMS:
            yield hist.family(values)
        gauges = {
            "queue_lag": ("Stream entries not yet delivered to any worker.", queue["lag"]),
            "queue_pending": (
                "Entries delivered to a worker, not yet acknowledged.",
                queue["pending"],
            ),
            "queue_length": ("Entries in the article stream.", queue["length"]),
            "queue_oldest_age_seconds": ("Age of the oldest unacknowledged entry.", age),
            "summary_queue_lag": (
                "Placed articles whose summary job no worker has read yet.",
                summaries["lag"],
            ),
            "summary_queue_pending": (
                "Summary jobs delivered to a worker, not yet acknowledged.",
                summaries["pending"],
            ),
            "stories": ("Stories stored.", stories),
            "workers_live": ("Workers with a live heartbeat.", len(workers)),
            "workers_model_loaded": (
                "Live workers whose model is loaded and verified.",
                sum(w["model_loaded"] for w in workers),
            ),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(f"storyfold_{name}", doc, value=float(value))


def registry(r: redis.Redis, keys: Keys, queue: Queue, stories: Stories) -> CollectorRegistry:
    """One registry per app: the shared numbers plus this API process's own CPU and memory."""
    reg = CollectorRegistry()
    reg.register(RedisCollector(r, keys, queue, stories))
    ProcessCollector(registry=reg)
    return reg
