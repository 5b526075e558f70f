"""Placement alone, 1 worker process against N: does placing scale with workers (issue #16)?

    .venv/bin/python -m benchmarks.placement /work/shared/benchmarks --rounds 8 --workers 1 2

End to end (benchmarks/throughput.py --workers N), the model takes every core of a small machine,
so a second worker cannot go faster there whatever placement does. This isolates placement, the
step the global lock used to serialise: the articles are stored and embedded beforehand (as
benchmarks/scale.py does: giveme5w1h-dev's 179 full articles, embedded once with the packaged
model, reposted in rounds with rotated vectors, each round's dates squeezed into --round-days),
then N processes, each with its own Storage and StoryOps as a worker has, place them through
StoryOps.assign (workers.placement: per-story locks, the creation lock, the story index),
process i taking articles i, i+N, i+2N… in story-time order, --batch at a time (one
StoryOps.assign_many call, as a worker places its batch). Timed from a common start to the last
placement; no summaries, no repair. The same file runs on an older tree (PYTHONPATH=<worktree>)
to compare with the global lock it had.

Checked after each run: every article is a member of exactly one story, the number of stories,
and the BCubed F1 of the N-process placement against the one-process placement of the same
articles (different interleavings may place a borderline article differently).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.scale_data import Item, embed_items, load_items, rotation, squeezed_time

console = Console()


def _articles(items: list[Item], rounds: int) -> list[tuple[int, int]]:
    """(round, item index) in story-time order."""
    order = sorted(range(len(items)), key=lambda i: (items[i].ts, items[i].doc_id))
    return [(k, i) for k in range(rounds) for i in order]


def _prepared(data_dir: Path, rounds: int, round_days: float) -> list[Any]:
    from workers.story_ops import Prepared

    items = embed_items(load_items(data_dir, full_only=True))
    out = []
    qs = {k: rotation(k, len(items[0].vector)) for k in range(rounds)}
    for k, i in _articles(items, rounds):
        it = items[i]
        ts = float(f"{squeezed_time(items, k, it.ts, round_days):.3f}")
        p = Prepared(f"r{k}-{it.doc_id}", it.clean_title or "", it.sentences, it.vector @ qs[k], ts)
        out.append((p, it, qs[k]))
    return out


def _store_all(url: str, prepared: list[Any]) -> None:
    from core.config import Settings
    from core.keys import Keys
    from core.records import ArticleIn
    from core.storage import Storage
    from core.storage.connection import connect

    settings = Settings(redis_url=url, _env_file=None)
    storage = Storage(connect(url), Keys(settings.key_prefix))
    for p, it, q in prepared:
        k = p.article_id.split("-", 1)[0]
        storage.articles.add_article(
            ArticleIn(
                id=p.article_id,
                source=f"{it.source}-{k}",
                text=it.text,
                title=it.title,
                published_at=datetime.fromtimestamp(p.ts, UTC),
            )
        )
        storage.articles.save_extracted(
            p.article_id, it.clean_title, it.sentences, it.sentence_vecs @ q, p.vector
        )


def _place(url: str, data_dir: str, rounds: int, round_days: float, batch: int, me: int,
           n: int, start: Any, out: Any) -> None:
    from core.config import Settings
    from core.keys import Keys
    from core.logs import configure_logging
    from core.storage import Storage
    from core.storage.connection import connect
    from workers.runner import one_blas_thread
    from workers.story_ops import StoryOps

    configure_logging(json_logs=True, level="WARNING")
    one_blas_thread()  # as a worker process runs
    mine = _prepared(Path(data_dir), rounds, round_days)[me::n]
    settings = Settings(redis_url=url, _env_file=None)
    ops = StoryOps(Storage(connect(url), Keys(settings.key_prefix)), settings)
    start.wait()
    t = time.perf_counter()
    for i in range(0, len(mine), batch):  # as a worker takes its stream entries
        ops.assign_many([p for p, _, _ in mine[i : i + batch]])
    out.put((me, len(mine), time.perf_counter() - t))


def _membership(url: str) -> tuple[dict[str, str], int]:
    """article -> story, from the stories' member sets; the number of articles in two stories."""
    from core.config import Settings
    from core.keys import Keys
    from core.storage.connection import connect

    client = connect(url)
    keys = Keys(Settings(redis_url=url, _env_file=None).key_prefix)
    of: dict[str, str] = {}
    twice = 0
    for sid in (s.decode() for s in client.zrange(keys.stories_active, 0, -1)):
        for a in client.zrange(keys.story_articles(sid), 0, -1):
            twice += a.decode() in of
            of[a.decode()] = sid
    return of, twice


def _bcubed_f1(pred: dict[str, str], gold: dict[str, str]) -> float:
    from collections import defaultdict

    def groups(m: dict[str, str]) -> dict[str, set[str]]:
        g: dict[str, set[str]] = defaultdict(set)
        for a, s in m.items():
            g[s].add(a)
        return g

    gp, gg = groups(pred), groups(gold)
    ids = sorted(set(pred) & set(gold))
    p = statistics.fmean(len(gp[pred[a]] & gg[gold[a]]) / len(gp[pred[a]]) for a in ids)
    r = statistics.fmean(len(gp[pred[a]] & gg[gold[a]]) / len(gg[gold[a]]) for a in ids)
    return 2 * p * r / (p + r)


def run_once(args: argparse.Namespace, prepared: list[Any], n: int) -> dict[str, Any]:
    from core.storage.embedded import EmbeddedRedis

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="sf-place-") as tmp, EmbeddedRedis(
        Path(tmp) / "redis"
    ) as server:
        _store_all(server.url, prepared)
        start, out = ctx.Barrier(n + 1), ctx.Queue()
        procs = [
            ctx.Process(
                target=_place,
                args=(server.url, str(args.data_dir), args.rounds, args.round_days, args.batch,
                      i, n, start, out),
            )
            for i in range(n)
        ]
        for proc in procs:
            proc.start()
        start.wait()  # every process has its articles and its connections: go
        t = time.perf_counter()
        results = [out.get() for _ in procs]
        wall = time.perf_counter() - t
        for proc in procs:
            proc.join()
        of, twice = _membership(server.url)
    return {
        "workers": n,
        "placed": sum(r[1] for r in results),
        "wall": wall,
        "rate": sum(r[1] for r in results) / wall,
        "members": len(of),
        "twice": twice,
        "stories": len(set(of.values())),
        "of": of,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("data_dir", type=Path, nargs="?", default=Path("/work/shared/benchmarks"))
    p.add_argument("--rounds", type=int, default=8, help="reposts of the 179 articles")
    p.add_argument("--round-days", type=float, default=7.0)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=16, help="articles per assign_many call, as a "
                   "worker's batch (Settings.worker_batch)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each, interleaved")
    args = p.parse_args(argv)

    from core.logs import configure_logging

    configure_logging(json_logs=True, level="WARNING")
    prepared = _prepared(args.data_dir, args.rounds, args.round_days)
    console.print(
        f"{len(prepared)} articles; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    runs: list[dict[str, Any]] = []
    for rep in range(args.repeats):
        for n in args.workers:
            r = run_once(args, prepared, n)
            runs.append(r)
            console.print(
                f"run {rep + 1}, {n} process(es): {r['rate']:.1f} placements/s, "
                f"{r['stories']} stories, {r['members']} members, {r['twice']} in two stories"
            )
    one = next((r["of"] for r in runs if r["workers"] == 1), None)
    t = Table(title=f"Placement alone: {len(prepared)} articles, median of {args.repeats} runs")
    for c in ("processes", "placements/s (runs)", "median", "stories", "lost / twice",
              "BCubed F1 vs 1 process"):
        t.add_column(c)
    for n in args.workers:
        mine = [r for r in runs if r["workers"] == n]
        t.add_row(
            str(n),
            ", ".join(f"{r['rate']:.1f}" for r in mine),
            f"{statistics.median(r['rate'] for r in mine):.1f}",
            ", ".join(str(r["stories"]) for r in mine),
            f"{sum(len(prepared) - r['members'] for r in mine)} / "
            f"{sum(r['twice'] for r in mine)}",
            ", ".join(f"{_bcubed_f1(r['of'], one):.3f}" for r in mine) if one else "-",
        )
    console.print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
