"""Load: a sustained POST rate against the API, with feed reads at the same time, on loopback.

    .venv/bin/python -m benchmarks.load                         # own Redis + api, 20 s at 500 POST/s
    .venv/bin/python -m benchmarks.load --api-workers 2         # `storyfold api --workers 2`
    .venv/bin/python -m benchmarks.load --api http://127.0.0.1:8000 --duration 10

The API only validates and enqueues (one Lua script per article plus a metrics counter), so the
goal is 500 POST/s with a p99 under 50 ms. Without `--api` the script starts what it measures: a
redis-server with the shipped AOF settings (appendonly, everysec), `storyfold api`, and, once,
`storyfold worker --burst` to fold some generated articles into real stories for the reads; no
worker runs during the measurement.

The generator is open-loop: requests are due at fixed intervals whether or not earlier ones have
finished, and a request's latency counts from when it was due, so a server that falls behind
shows it in the percentiles instead of slowing the generator down (no coordinated omission). It
speaks plain HTTP/1.1 over keep-alive connections from one asyncio loop, much cheaper per request
than an HTTP library, because it shares the machine's cores with the server it measures; the CPU
each side used is in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from benchmarks._news import news
from benchmarks._procs import RedisServer, Service, free_port, service_env, wait_healthy

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", help="measure this running API instead of starting one")
    parser.add_argument("--api-workers", type=int, default=1, help="`storyfold api --workers N`")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted")
    parser.add_argument("--post-rate", type=float, default=500.0, help="POSTs per second")
    parser.add_argument("--get-rate", type=float, default=100.0, help="feed GETs per second")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--stories", type=int, default=60, help="articles folded first (own API)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 600:
        parser.error("--duration: 0 < seconds <= 600 (the run must stop by itself)")
    if args.api and urlsplit(args.api).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--api: loopback only (127.0.0.1, localhost, ::1)")
    console = Console(width=120)
    workdir = Path(tempfile.mkdtemp(prefix="storyfold-load-"))
    redis: RedisServer | None = None
    api: Service | None = None
    try:
        if args.api:
            base_url, pids = args.api.rstrip("/"), {}
            page = httpx.get(f"{base_url}/stories", params={"limit": 200}, timeout=30).json()
            story_ids = [s["id"] for s in page["stories"]]
        else:
            redis = RedisServer(workdir / "redis")
            redis.start()
            port = free_port()
            env = service_env(redis.url, host="127.0.0.1", port=port)
            api = Service("api", ["api", "--workers", str(args.api_workers)], env, workdir)
            api.start()
            base_url = f"http://127.0.0.1:{port}"
            wait_healthy(base_url, 60, api)
            console.print(f"folding {args.stories} articles into stories for the reads…")
            story_ids = (
                _fold_stories(workdir, redis, base_url, args.stories) if args.stories else []
            )
            assert api.pid is not None and redis.pid is not None
            api_proc = psutil.Process(api.pid)
            pids = {
                f"api ({args.api_workers} worker process(es))": [
                    api.pid,
                    *(c.pid for c in api_proc.children(recursive=True)),
                ],
                "redis-server": [redis.pid],
            }
        console.print(
            f"{args.duration:.0f} s: {args.post_rate:.0f} POST/s and {args.get_rate:.0f} GET/s "
            f"({len(story_ids)} stories) on {psutil.cpu_count()} cores, {base_url}"
        )
        load_before = os.getloadavg()[0]
        with cpu_meter(pids) as cpu:
            result = asyncio.run(
                run_load(
                    base_url,
                    args.duration,
                    args.post_rate,
                    args.get_rate,
                    story_ids,
                    args.connections,
                    args.seed,
                )
            )
        result.cpu = cpu
        targets = {"POST /articles": args.post_rate}
        if args.get_rate:
            share = 0.5 if story_ids else 0.0
            targets["GET /stories/{id}"] = args.get_rate * share
            targets["GET /stories"] = args.get_rate * (1 - share)
        rows = summarise(result, targets, args.warmup)
        console.print(table(rows, args.duration, args.warmup))
        for name, share in result.cpu.items():
            console.print(f"  CPU {name}: {share * 100:.0f}% of one core", highlight=False)
        if result.late_starts:
            console.print(f"  {result.late_starts} requests were sent late (no free connection)")
        # Other work on the machine takes cores from the server too: say how busy it was.
        console.print(
            f"  load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}"
        )
        post = next((r for r in rows if r.kind == "POST /articles"), None)
        if post is not None:
            met = post.done_per_s >= 0.98 * args.post_rate and post.p99_ms < GOAL_P99_MS
            console.print(
                f"  goal {args.post_rate:.0f} POST/s with p99 < {GOAL_P99_MS:.0f} ms: "
                + ("[green]met[/]" if met else "[red]missed[/]")
            )
        errors = sum(r.errors for r in rows)
        if errors:
            console.print(f"[red]{errors} requests failed[/]")
            return 1
    finally:
        if api is not None:
            api.stop(timeout_s=20)
        if redis is not None:
            redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
