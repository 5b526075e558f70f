"""An open-loop HTTP load generator and its report (benchmarks/load.py runs it; tests/test_load.py
runs it small). See benchmarks/load.py for what it measures and why it is built this way."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
from rich.table import Table

from harness.news import news
from harness.procs import RedisServer, Service, service_env

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.I)
GOAL_P99_MS = 50.0
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.I)


@dataclass
class Sample:
    kind: str
    due: float
    sent: float
    done: float
    status: int  # 0: the connection failed


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    duration_s: float = 0.0
    late_starts: int = 0  # requests that could not even be sent when due (no free connection)
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core, per process group


class Connection:
    """One keep-alive HTTP/1.1 connection: send a prepared request, read the status and body."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            if m := _LENGTH.search(head):
                await self.reader.readexactly(int(m[1]))
            elif _CHUNKED.search(head):
                while True:
                    size = int((await self.reader.readline()).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            if b"\r\nconnection: close" in head.lower():
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            return 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request(method: str, path: str, host: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def post_bodies(seed: int) -> Iterator[bytes]:
    """Distinct articles of about 1 KB (a short news item): every POST stores a new article."""
    rng = random.Random(seed)
    words = ["council", "river", "bridge", "vote", "budget", "storm", "police", "court", "school"]
    for n in itertools.count():
        filler = " ".join(rng.choice(words) for _ in range(120))
        yield json.dumps(
            {
                "source": f"load-{n % 50}",
                "title": f"Load report {seed}-{n}",
                "text": f"Report {seed}-{n}: the city {filler}.",
            }
        ).encode()


async def run_load(
    base_url: str,
    duration_s: float,
    post_rate: float,
    get_rate: float,
    story_ids: list[str],
    connections: int,
    seed: int,
) -> LoadResult:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    hostport = f"{host}:{port}"
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    result = LoadResult()
    bodies = post_bodies(seed)
    rng = random.Random(seed)
    tasks: set[asyncio.Task[None]] = set()

    async def one(kind: str, raw: bytes, due: float) -> None:
        conn = await pool.get()
        sent = time.perf_counter()
        try:
            status = await conn.request(raw)
        finally:
            pool.put_nowait(conn)
        result.samples.append(Sample(kind, due, sent, time.perf_counter(), status))

    def reads() -> tuple[str, bytes]:
        if story_ids and rng.random() < 0.5:
            path = f"/stories/{rng.choice(story_ids)}"
            return "GET /stories/{id}", _request("GET", path, hostport)
        return "GET /stories", _request("GET", "/stories?limit=20", hostport)

    # Both streams of requests interleaved on one clock: each is due at its own fixed interval.
    def posts() -> tuple[str, bytes]:
        return "POST /articles", _request("POST", "/articles", hostport, next(bodies))

    streams: list[tuple[float, Callable[[], tuple[str, bytes]]]] = []
    if post_rate > 0:
        streams.append((1.0 / post_rate, posts))
    if get_rate > 0:
        streams.append((1.0 / get_rate, reads))
    start = time.perf_counter() + 0.05
    next_due = [start] * len(streams)
    end = start + duration_s
    while True:
        i = min(range(len(streams)), key=next_due.__getitem__)
        due = next_due[i]
        if due >= end:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            result.late_starts += 1
        kind, raw = streams[i][1]()
        task = asyncio.create_task(one(kind, raw, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_due[i] = due + streams[i][0]
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    result.duration_s = duration_s
    while not pool.empty():
        pool.get_nowait().close()
    return result


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


@dataclass
class Row:
    kind: str
    target_per_s: float
    done_per_s: float  # 2xx answers that arrived inside the window, whenever they were due
    count: int  # requests due inside the window
    errors: int  # of those: not a 2xx, or the connection failed
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def summarise(result: LoadResult, targets: dict[str, float], warmup_s: float) -> list[Row]:
    """Per request kind, over the window after the warm-up; latency counts from when it was due."""
    first = min((s.due for s in result.samples), default=0.0)
    t0, t1 = first + warmup_s, first + result.duration_s
    window = max(1e-9, t1 - t0)
    rows = []
    for kind in sorted({s.kind for s in result.samples}, key=lambda k: (k[0] != "P", k)):
        of_kind = [s for s in result.samples if s.kind == kind]
        due = [s for s in of_kind if t0 <= s.due]
        ok = sorted((s.done - s.due) * 1000 for s in due if 200 <= s.status < 300)
        done = sum(t0 <= s.done <= t1 and 200 <= s.status < 300 for s in of_kind)
        rows.append(
            Row(
                kind=kind,
                target_per_s=targets.get(kind, 0.0),
                done_per_s=done / window,
                count=len(due),
                errors=sum(not 200 <= s.status < 300 for s in due),
                p50_ms=percentile(ok, 0.5),
                p90_ms=percentile(ok, 0.9),
                p99_ms=percentile(ok, 0.99),
                max_ms=ok[-1] if ok else float("nan"),
            )
        )
    return rows


def table(rows: list[Row], duration_s: float, warmup_s: float) -> Table:
    t = Table(title=f"storyfold load ({duration_s:.0f} s, first {warmup_s:.0f} s not counted)")
    columns = ("request", "target/s", "done/s", "count", "errors", "p50 ms", "p90 ms", "p99 ms")
    for col in (*columns, "max ms"):
        t.add_column(col, justify="left" if col == "request" else "right")
    for r in rows:
        t.add_row(
            r.kind,
            f"{r.target_per_s:.0f}",
            f"{r.done_per_s:.0f}",
            str(r.count),
            str(r.errors),
            *(f"{v:.1f}" for v in (r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms)),
        )
    return t


@contextmanager
def cpu_meter(pids: dict[str, list[int]]) -> Iterator[dict[str, float]]:
    """Share of one core each group of processes used while the block ran."""
    procs = {name: [psutil.Process(p) for p in ps] for name, ps in pids.items()}

    def total(ps: list[psutil.Process]) -> float:
        out = 0.0
        for p in ps:
            with suppress(psutil.Error):
                t = p.cpu_times()
                out += t.user + t.system
        return out

    before = {name: total(ps) for name, ps in procs.items()}
    me_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    shares: dict[str, float] = {}
    yield shares
    wall = time.monotonic() - started
    for name, ps in procs.items():
        shares[name] = (total(ps) - before[name]) / wall
    me = resource.getrusage(resource.RUSAGE_SELF)
    shares["load generator (this script)"] = (
        me.ru_utime + me.ru_stime - me_before.ru_utime - me_before.ru_stime
    ) / wall


def _fold_stories(workdir: Path, redis: RedisServer, base_url: str, articles: int) -> list[str]:
    """Post generated articles and let one burst worker fold them: real stories to read."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        http.post("/articles", json=news(articles, seed=3)).raise_for_status()
        worker = Service("fold", ["worker", "--burst"], service_env(redis.url), workdir)
        worker.start()
        assert worker.process is not None
        if worker.process.wait(timeout=300) != 0:
            raise RuntimeError(f"the burst worker failed:\n{worker.log_tail()}")
        page = http.get("/stories", params={"limit": 200}).json()
    return [s["id"] for s in page["stories"]]
