"""Scale: Redis + worker memory and per-article assignment latency up to 100k stored articles.

    .venv/bin/python -m benchmarks.scale /work/shared/benchmarks
    .venv/bin/python -m benchmarks.scale /work/shared/benchmarks --articles 30000 --old-scan-every 50
    .venv/bin/python -m benchmarks.scale /work/shared/benchmarks --full-articles --hot-days 30

--full-articles posts only giveme5w1h-dev's full-length articles (about 23 clean sentences each);
--hot-days D archives the stories quiet for D days of story time to disk at each report, as the
worker's cold pass does (workers.cold_pass), so the table shows Redis with the hot window.
--round-days D lays the rounds end to end, each round's dates squeezed into D days in their
order: news at a constant rate (179 articles per D days with --full-articles). Without it, each
round keeps the data's own dates (giveme5w1h-dev spans 5 years) shifted by 7 days per round, so
ever more rounds overlap and the news per day grows with the volume: the quiet stories within
the archive horizon (730 days) then grow with it, and so does the lookup over them.

Goal (issue "Scale"): at most 1.5 GB of Redis + worker memory per 100k stored articles, and
assignment time flat, not growing with the number of stories.

How the volume is synthesised. Pushing 100k articles through the model is out of reach on a small
machine (a few articles/s on 2 cores), and the model's per-article cost does not depend on how
much is stored, so each unique text is embedded once and then reposted:
- texts: GoogleNews-TS (11,109 preprocessed items, posted as plain text) and giveme5w1h-dev (179
  full articles), read from DATA_DIR at run time (nothing is copied into the repository). Each is
  made into a POST body as benchmarks/throughput.py does, cleaned with workers.extract.extract
  and embedded with the packaged model (embedding.torch_backend.shared_embedder, the torch backend, in a
  child process, through a vector cache outside the repository): headline vector + one vector
  per clean sentence, and the article vector from workers.assign.article_vector with the first
  LEAD_SENTENCES sentences, exactly as the worker computes them.
- rounds: round k posts every text again under a new id (`r{k}-...`), from its outlet with the
  suffix `-r{k}` (the store de-duplicates a source + text pair), published_at shifted by
  k x (story window + 4 days), and every vector of the round (headline, sentences, article)
  multiplied by one random orthogonal matrix Q_k (seeded; Q_0 = identity). Within a round the
  cosine structure is exactly the real one (the dataset's clusters, its near-misses); between
  rounds it is unrelated, so each round opens its own stories, and the number of stories grows
  with the volume as it does with real news. Each earlier round's stories are quiet but still
  within the archive horizon: every one of them is a candidate the assigner has to rule out.
- per article, through the product's own storage code, in an embedded Redis
  (core.storage.embedded.EmbeddedRedis, append-only file as the product runs it):
  Store.add_article (the POST's Lua script: article hash, content index, stream entry),
  Store.save_extracted (sentences, every sentence's vector as the store encodes it, the article
  vector) and StoryOps.assign (timed: the assign lock, the open stories' states, the quiet-story
  index, choose_story, the commit). Every 16 articles the stories they touched are summarised
  with StoryOps.summarise, as a worker batch does (timed per batch).

Measured: per-article assignment latency, per-batch summary time, Redis INFO used_memory and the
redis-server's RSS, this process's RSS and the worker's quiet-story index, bytes per article; at
the end, the bytes per key type (MEMORY USAGE on samples of each type, scaled by the counts). With
--old-scan-every N, every Nth article's quiet stories are also read the previous way (one HMGET
per quiet story), next to the index lookup, and both choices are checked to agree.

Not measured: the model (extract + embed; benchmarks/throughput.py measures it per article), the
near-duplicate check (its MinHash keys expire after the story window, so they do not grow with
the archive), the HDBSCAN repair (it runs on the open window only), the HTTP layer, metrics
counters. This process holds the benchmark's own data (texts, vectors) besides what a worker
holds: its RSS is an upper bound; the index's size is the worker's part that grows with stories.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table
from tqdm import tqdm

from benchmarks.scale_data import (
    BATCH,
    DAY,
    F32,
    GAP_DAYS,
    GOAL_BYTES_PER_ARTICLE,
    Item,
    console,
    embed_items,
    load_items,
    rotation,
    squeezed_time,
)
from benchmarks.scale_memory import (
    Row,
    Slice,
    article_bytes,
    breakdown,
    index_mb,
    pct,
    rss_mb,
)


# -- the run -------------------------------------------------------------------------------------
def run(
    items: list[Item],
    n_articles: int,
    report_every: int,
    old_every: int,
    work: Path,
    max_minutes: float | None,
    hot_days: float | None = None,
    round_days: float | None = None,
) -> tuple[
    list[Row],
    list[tuple[str, int, float, float]],
    list[tuple[str, int, float, dict[str, float]]],
    dict[str, float],
]:
    from core.config import Settings
    from core.keys import Keys
    from core.records import ArticleIn
    from core.storage import Storage
    from core.storage.connection import connect
    from core.storage.embedded import EmbeddedRedis
    from core.storage.story_codec import decode_state
    from core.storage.story_index import scan_archived_states
    from workers.assign.scoring import choose_story, threshold_for
    from workers.cold_pass import ColdPass
    from workers.story_ops import Prepared, StoryOps

    rows: list[Row] = []
    with EmbeddedRedis(work / "redis") as server:
        archive = work / "archive" if hot_days is not None else None
        settings = Settings(
            redis_url=server.url, _env_file=None, hot_days=hot_days or 30.0, archive_dir=archive
        )
        client = connect(server.url)
        keys = Keys(settings.key_prefix)
        storage = Storage(client, keys, archive_dir=archive)
        cold_pass = ColdPass(storage, settings)  # moves nothing without an archive folder
        cold_moved = 0
        store, stories = storage.articles, storage.stories
        ops = StoryOps(storage, settings)
        params = ops.params
        shift = params.window_s + GAP_DAYS * DAY

        def story_time(k: int, ts: float) -> float:
            if round_days is None:  # the data's own dates, round k shifted by k x shift
                return ts + k * shift
            return squeezed_time(items, k, ts, round_days)  # a constant news rate

        base_used = int(client.info("memory")["used_memory"])
        redis_pid = server.process.pid if server.process else None
        t_start = time.perf_counter()
        deadline = t_start + 60 * max_minutes if max_minutes else float("inf")
        stored = skipped = 0
        sl = Slice()
        touched: set[str] = set()

        def summarise_batch() -> None:
            t = time.perf_counter()
            for sid in sorted(touched):
                ops.summarise(sid)
            sl.summarise_ms.append(1000 * (time.perf_counter() - t))
            touched.clear()

        def report() -> None:
            nonlocal sl, cold_moved
            if touched:  # as a worker would have by then: no story's summary behind
                summarise_batch()
            cold_moved += cold_pass.run()  # as a worker's pass would have, every minute
            used = int(client.info("memory")["used_memory"])
            idx = index_mb(ops)
            rows.append(
                Row(
                    stored,
                    int(client.zcard(keys.stories_active)),
                    sl,
                    used / 1e6,
                    rss_mb(redis_pid),
                    rss_mb(None),
                    idx,
                    (used - base_used + idx * 1e6) / stored,
                    time.perf_counter() - t_start,
                )
            )
            bar.write(row_line(rows[-1]))
            sl = Slice()

        def reposts() -> Iterator[tuple[int, F32, Item]]:
            k = 0
            while True:
                q = rotation(k, len(items[0].vector))
                for it in items:
                    yield k, q, it
                k += 1

        bar = tqdm(total=n_articles, desc="articles", unit="art", smoothing=0.05, mininterval=5)
        rounds = 0
        try:
            for k, q, it in reposts():
                if stored >= n_articles or time.perf_counter() > deadline:
                    break
                rounds = k + 1
                aid = f"r{k}-{it.doc_id}"
                published = datetime.fromtimestamp(story_time(k, it.ts), UTC)
                accepted = store.add_article(
                    ArticleIn(
                        id=aid,
                        source=f"{it.source}-r{k}",
                        text=it.text,
                        title=it.title,
                        published_at=published,
                    )
                )
                if accepted.existing:  # the same text from the same outlet twice in the data
                    skipped += 1
                    continue
                vector = it.vector @ q
                store.save_extracted(
                    aid, it.clean_title, it.sentences, it.sentence_vecs @ q, vector
                )
                ts = float(f"{published.timestamp():.3f}")  # as the worker reads it back
                p = Prepared(aid, it.clean_title or "", it.sentences, vector, ts)
                if old_every and stored % old_every == 0:
                    signal = p.signal
                    active = stories.active_states(ts, params.window_s)
                    t = time.perf_counter()
                    new = stories.archived_states(
                        ts, params.window_s, params.archive_s, vector, threshold_for(signal, params)
                    )
                    sl.index_ms.append(1000 * (time.perf_counter() - t))
                    t = time.perf_counter()
                    old = scan_archived_states(client, keys, ts, params.window_s, params.archive_s)
                    sl.scan_ms.append(1000 * (time.perf_counter() - t))
                    sl.quiet.append(len(old))
                    choices = [
                        choose_story(
                            signal,
                            [decode_state(s, d) for s, d in (active | quiet).items()],
                            params,
                        )
                        for quiet in (new, old)
                    ]
                    sl.disagree += choices[0] != choices[1]
                t = time.perf_counter()
                touched.add(ops.assign(p))
                sl.assign_ms.append(1000 * (time.perf_counter() - t))
                stored += 1
                bar.update()
                if stored % BATCH == 0:
                    summarise_batch()
                if stored % report_every == 0:
                    report()
        except KeyboardInterrupt:
            bar.write("interrupted: reporting what was stored so far")
        bar.close()
        if touched:
            summarise_batch()
        if stored and (not rows or rows[-1].articles != stored):
            report()
        console.print("memory by key type (MEMORY USAGE samples) …")
        parts = breakdown(client, stored)
        per_dataset = article_bytes(client, items)
        aof = sum(f.stat().st_size for f in (work / "redis").glob("*.aof*") if f.is_file())
        on_disk = (
            sum(f.stat().st_size for f in archive.rglob("*") if f.is_file()) if archive else 0
        )
        info = {
            "cold_stories": float(cold_moved),
            "archive_mb": on_disk / 1e6,
            "rounds": float(rounds),
            "skipped": float(skipped),
            "aof_mb": aof / 1e6,
            "used_mb": int(client.info("memory")["used_memory"]) / 1e6,
            "base_mb": base_used / 1e6,
        }
        client.close()
    return rows, parts, per_dataset, info


def fmt(x: float, spec: str = ".1f") -> str:
    return "–" if x != x else format(x, spec)


def row_line(r: Row) -> str:
    return (
        f"{r.articles} articles, {r.stories} stories: assign p50 {fmt(pct(r.sl.assign_ms, 50), '.2f')}"
        f" / p95 {fmt(pct(r.sl.assign_ms, 95), '.2f')} ms, Redis {r.used_mb:.0f} MB, "
        f"{r.bytes_per_article:.0f} B/article, {r.elapsed_s / 60:.1f} min"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("data_dir", type=Path, nargs="?", default=Path("/work/shared/benchmarks"))
    p.add_argument("--data-dir", dest="data_dir_opt", type=Path, default=None)
    p.add_argument("--articles", type=int, default=100_000)
    p.add_argument("--report-every", type=int, default=10_000)
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this long and report what was stored (Ctrl-C does the same)",
    )
    p.add_argument(
        "--full-articles",
        action="store_true",
        help="post only the full-length articles (giveme5w1h-dev), not GoogleNews' short items",
    )
    p.add_argument(
        "--hot-days",
        type=float,
        default=None,
        metavar="D",
        help="archive stories quiet for D days of story time to disk (a cold pass at each report)",
    )
    p.add_argument(
        "--round-days",
        type=float,
        default=None,
        metavar="D",
        help="compress each round's dates into D days, rounds end to end: a constant news rate "
        "(default: the data's own dates, each round a story window + 4 days after the last)",
    )
    p.add_argument(
        "--old-scan-every",
        type=int,
        default=100,
        metavar="N",
        help="every Nth article, also time the previous full scan of quiet stories (0: never)",
    )
    args = p.parse_args(argv)
    data_dir = args.data_dir_opt or args.data_dir

    from core.logs import configure_logging

    configure_logging(json_logs=True, level="WARNING")
    items = embed_items(load_items(data_dir, args.full_articles))
    console.print(
        f"{len(items)} texts per round; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory(prefix="sf-scale-") as tmp:
        rows, parts, per_dataset, info = run(
            items,
            args.articles,
            args.report_every,
            args.old_scan_every,
            Path(tmp),
            args.max_minutes,
            args.hot_days,
            args.round_days,
        )

    t = Table(
        title=f"Scale: {rows[-1].articles} stored articles in {int(info['rounds'])} rounds of "
        f"{len(items)} texts ({rows[-1].elapsed_s / 60:.1f} min; per slice of {args.report_every})"
    )
    for c in (
        "stored articles",
        "stories",
        "assign ms p50 / p95 / max",
        "quiet stories: index / old scan ms p50 (stories scanned)",
        "summarise ms per batch p50 / p95",
        "Redis used / RSS MB",
        "process RSS / index MB",
        "bytes per article",
        "elapsed min",
    ):
        t.add_column(c)
    for r in rows:
        a = r.sl.assign_ms
        old = (
            f"{fmt(pct(r.sl.index_ms, 50), '.2f')} / {fmt(pct(r.sl.scan_ms, 50), '.1f')} "
            f"({fmt(pct(r.sl.quiet, 50), '.0f')})"
            + (f" [{r.sl.disagree} disagree]" if r.sl.disagree else "")
            if r.sl.scan_ms
            else "–"
        )
        t.add_row(
            str(r.articles),
            str(r.stories),
            f"{fmt(pct(a, 50), '.2f')} / {fmt(pct(a, 95), '.2f')} / {fmt(max(a), '.0f')}",
            old,
            f"{fmt(pct(r.sl.summarise_ms, 50))} / {fmt(pct(r.sl.summarise_ms, 95))}",
            f"{r.used_mb:.0f} / {fmt(r.redis_rss_mb, '.0f')}",
            f"{fmt(r.self_rss_mb, '.0f')} / {r.index_mb:.1f}",
            f"{r.bytes_per_article:.0f} (goal ≤ {GOAL_BYTES_PER_ARTICLE:.0f})",
            f"{r.elapsed_s / 60:.1f}",
        )
    console.print(t)
    b = Table(
        title=f"Redis memory by key type at {rows[-1].articles} articles (used_memory "
        f"{info['used_mb']:.0f} MB, {info['base_mb']:.1f} MB empty; AOF on disk {info['aof_mb']:.0f} MB)"
    )
    for c in ("key type", "keys", "mean bytes per key", "bytes per article", "share"):
        b.add_column(c)
    total = sum(x[3] for x in parts)
    for kind, count, mean, per in parts:
        b.add_row(
            kind,
            str(count) if count else "",
            f"{mean:.0f}" if count else "",
            f"{per:.0f}",
            f"{per / total:.0%}",
        )
    b.add_row("sum of the above", "", "", f"{total:.0f}", "")
    console.print(b)
    d = Table(title="Bytes per article by dataset (MEMORY USAGE of each article's own keys)")
    for c in (
        "dataset",
        "sampled",
        "sentences",
        "hash",
        ":sentences",
        ":vectors",
        ":vector",
        "sum",
    ):
        d.add_column(c)
    for name, n, sentences, means in per_dataset:
        d.add_row(
            name,
            str(n),
            f"{sentences:.1f}",
            *(f"{means[k]:.0f}" for k in ("hash", "sentences", "vectors", "vector")),
            f"{sum(means.values()):.0f}",
        )
    console.print(d)
    if args.hot_days is not None:
        console.print(
            f"hot window {args.hot_days:g} days: {int(info['cold_stories'])} stories moved to the "
            f"archive, {info['archive_mb']:.0f} MB on disk "
            f"({1e6 * info['archive_mb'] / rows[-1].articles:.0f} B per stored article); "
            "the per-dataset table samples round 0, whose stories are cold by then"
        )
    if info["skipped"]:
        console.print(
            f"{int(info['skipped'])} reposts skipped: same outlet + text twice in the data"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
