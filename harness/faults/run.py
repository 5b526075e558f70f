"""The fault run: the stream, the faults at random points, then the checks."""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.faults.cluster import Cluster
from harness.faults.config import KEYS, Event, FaultConfig, FaultReport
from harness.faults.traffic import Producer, Reader
from harness.faults.verify import _scan, verify
from harness.news import news
from harness.procs import Service, wait_for


def schedule(cfg: FaultConfig, rng: random.Random) -> list[Event]:
    kinds = ["worker-kill"] * cfg.worker_kills
    kinds += ["redis-clean" if i % 2 == 0 else "redis-hard" for i in range(cfg.redis_restarts)]
    kinds += ["api-term" if i % 2 == 0 else "api-kill" for i in range(cfg.api_restarts)]
    # Spread over the stream, none in its first or last tenth, in a random order.
    rng.shuffle(kinds)
    n = len(kinds)
    return [
        Event(kind, 0.1 + 0.8 * (i + rng.uniform(0.1, 0.9)) / n) for i, kind in enumerate(kinds)
    ]


@contextmanager
def _progress(
    enabled: bool, total: int
) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    if not enabled:
        yield (lambda n: None), (lambda n: None)
        return
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        posted = bar.add_task("posted", total=total)
        done = bar.add_task("processed", total=total)
        yield (lambda n: bar.advance(posted, n)), (lambda n: bar.update(done, completed=n))


def run_faults(cfg: FaultConfig) -> FaultReport:
    rng = random.Random(cfg.seed)
    own_dir = cfg.workdir is None
    workdir = cfg.workdir or Path(tempfile.mkdtemp(prefix="storyfold-faults-"))
    report = FaultReport(workdir=workdir)
    started = time.monotonic()
    hard_deadline = started + cfg.max_run_s
    items = news(cfg.articles, cfg.per_event, cfg.seed)
    for i, item in enumerate(items):
        if i % 2 == 0:  # half carry a client id; the others rely on content de-duplication
            item["id"] = f"f{cfg.seed}-{i:05d}"
    cluster = Cluster(cfg, workdir)
    events = schedule(cfg, rng)
    report.events = events
    try:
        cluster.start()
        wait_for(
            "the workers' models",
            lambda: all(cluster.model_loaded(w) for w in cluster.workers),
            180,
            0.25,
        )
        ready_at = time.monotonic()
        with _progress(cfg.progress, cfg.articles) as (tick_posted, set_processed):
            producer = Producer(
                cluster.base_url, items, cfg.rate, hard_deadline, cfg.seed, cfg.batch_share,
                tick_posted,
            )  # fmt: skip
            reader = Reader(cluster.base_url, producer, cfg.seed + 1)
            producer.start()
            reader.start()
            hard_kills: list[float] = []
            last_poll = 0.0

            def tend() -> None:
                nonlocal last_poll
                cluster.supervise()
                if time.monotonic() - last_poll > 1.0:
                    last_poll = time.monotonic()
                    with suppress(redis.RedisError):
                        ids = list(producer.accepted)
                        set_processed(len(ids) - cluster.unfinished(ids))

            for n, event in enumerate(events):
                while producer.is_alive() and producer.posted < event.at * cfg.articles:
                    tend()
                    time.sleep(0.05)
                time.sleep(rng.uniform(0, 0.5))
                if event.kind == "worker-kill":
                    event.detail = cluster.kill_worker(rng, n)
                elif event.kind.startswith("redis"):
                    if event.kind == "redis-hard":
                        hard_kills.append(time.monotonic())
                    event.detail = cluster.restart_redis(event.kind == "redis-hard", rng)
                else:
                    event.detail = cluster.restart_api(event.kind == "api-kill")
                event.done_at = time.monotonic() - started
            while producer.is_alive():
                tend()
                producer.join(0.2)
            posted_at = time.monotonic()
            settle_deadline = min(hard_deadline, time.monotonic() + cfg.settle_timeout_s)
            while time.monotonic() < settle_deadline:
                tend()
                try:
                    keys = _scan(cluster.r, KEYS.article("*"), 3)
                    stored = [k.split(":")[2].strip("{}") for k in keys]  # sf:article:{<id>}
                    queue = cluster.queue_stats()
                    if not cluster.unfinished(stored) and not queue["pending"] and not queue["lag"]:
                        break
                except redis.RedisError:
                    pass
                time.sleep(0.5)
            with suppress(redis.RedisError):
                set_processed(len(producer.accepted) - cluster.unfinished(list(producer.accepted)))
            reader.stop.set()
            reader.join(15)
        settled_at = time.monotonic()
        # Quiet workers before the census: SIGTERM finishes (and acknowledges) the batch in hand.
        # One the supervisor has just restarted may still be importing, before its handler is
        # installed: let it come up first, so the check is about stopping, not about starting.
        for w in cluster.workers:

            def ready(w: Service = w) -> bool:
                return not w.alive or cluster.model_loaded(w)

            with suppress(TimeoutError):
                wait_for(f"{w.name} ready", ready, 60)
        for w in cluster.workers:
            code = w.stop(timeout_s=60)
            if code not in (0, None):
                report.problems.append(f"{w.name} exited with {code} on SIGTERM")

        s, p = cluster.stats, producer.stats
        report.add("articles generated", cfg.articles, "articles")
        report.add("POST requests (with retries)", p["requests"], "post_requests")
        report.add("POST retries", p["retries"], "post_retries")
        report.add("  503 (Redis down)", p["http_503"], "post_503")
        report.add("  connection errors (API down)", p["transport_errors"], "post_transport_errors")
        report.add("POST 5xx other than 503", p["http_5xx"], "post_5xx")
        report.add("POST rejected (4xx)", p["rejected"], "post_rejected")
        report.add("articles given up on (run deadline)", p["gave_up"], "post_gave_up")
        report.add("  answered new (202)", p["new"], "new")
        report.add(
            "  answered existing (200: an earlier try was stored)", p["existing"], "existing"
        )
        verify(cluster, producer.accepted, reader.seen, hard_kills, report)
        report.add("worker SIGKILLs", s["worker_kills"], "worker_kills")
        report.add(
            "  while holding unacknowledged entries",
            s["worker_kills_holding"],
            "worker_kills_holding",
        )
        report.add(
            "  restarted as the same consumer / a new one",
            f"{s['worker_restarts_same_name']} / {s['worker_restarts_new_name']}",
        )
        report.add("worker exits nobody asked for", s["worker_exits"], "worker_exits")
        report.add(
            "Redis restarts: clean (SIGTERM) / hard (SIGKILL)",
            f"{s['redis_clean']} / {s['redis_hard']}",
        )
        report.counts["redis_clean"], report.counts["redis_hard"] = (
            s["redis_clean"],
            s["redis_hard"],
        )
        report.add("API restarts: SIGTERM / SIGKILL", f"{s['api_term']} / {s['api_kill']}")
        report.counts["api_restarts"] = s["api_term"] + s["api_kill"]
        rs = reader.stats
        report.add(
            "reads during the run: ok / failed (down) / 5xx",
            f"{rs['ok']} / {rs['failed']} / {rs['http_5xx']}",
        )
        report.counts["read_5xx"] = rs["http_5xx"]
        report.add(
            "Redis appendfsync / worker max deliveries", f"{cfg.fsync} / {cfg.max_deliveries}"
        )
        report.add(
            "seconds: start (models) / posting / then until drained",
            f"{ready_at - started:.0f} / {posted_at - ready_at:.0f} / {settled_at - posted_at:.0f}",
        )
        for err in producer.server_errors[:5] + reader.server_errors[:5]:
            report.problems.append(f"server error: {err}")
        if p["http_5xx"] or rs["http_5xx"]:
            report.problems.append(
                f"{p['http_5xx'] + rs['http_5xx']} responses were 5xx other than 503"
            )
        for why in producer.rejected[:5]:
            report.problems.append(f"rejected: {why}")
        if p["gave_up"]:
            report.problems.append(f"{p['gave_up']} articles never got a 2xx before the deadline")
        # The supervisor restarts them as compose's `restart: unless-stopped` would; they cost
        # time, not data, so they are reported, not failed on.
        report.notes += cluster.exits
    finally:
        cluster.close()
        if own_dir and report.ok:
            shutil.rmtree(workdir, ignore_errors=True)
    return report
