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
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
from rich.console import Console

from harness.load import (
    GOAL_P99_MS,
    _fold_stories,
    cpu_meter,
    run_load,
    summarise,
    table,
)
from harness.procs import RedisServer, Service, free_port, service_env, wait_healthy


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
