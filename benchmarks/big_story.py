"""A big story through the real worker: update latency and memory at 1,000 articles, and a steady
stream into it.

    .venv/bin/python -m benchmarks.big_story                       # 1,000 articles, 20 updates
    .venv/bin/python -m benchmarks.big_story --stream-seconds 600  # plus 10 minutes at 1 art/s

What runs: an embedded Redis (as `storyfold serve` owns one), the product's worker
(storyfold.compose.build_worker: onnx-int8 model, both stages), articles posted through
Store.add_article as the API does. The story: distinct rewrites of one invented event
(benchmarks._summary_data.synthetic_articles, 5-7 sentences each, every one its own wording and
quote, so none is a near-duplicate copy: the table says how many were marked so anyway).

1. Fill: `--size` articles posted and processed (burst worker).
2. Updates: `--updates` more articles, one at a time, each processed by a burst worker. Per
   update: placed → processed (the summary rewrite: load the members, summarise, write), and the
   worker process's peak RSS over the phase above its RSS before it.
3. Stream (`--stream-seconds N`): a worker runs in a thread while one article a second joins the
   big story and, every fifth second, one article of other news (giveme5w1h-dev, real articles)
   arrives beside it. Per article: received → processed, for the big story and for the others,
   and how many took over 5 s or failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from benchmarks._summary_data import synthetic_articles
from core.config import Settings
from core.logs import configure_logging
from core.records import ArticleIn
from core.storage import Storage
from core.storage.embedded import EmbeddedRedis
from storyfold.compose import build_storage, build_worker

console = Console()
OTHER = Path("/work/shared/benchmarks/giveme5w1h-dev")


def big_story_article(k: int) -> ArticleIn:
    ((source, body),) = synthetic_articles(1, start=k)
    return ArticleIn(source=source, title=f"Stadium bond vote delayed ({k})", text=" ".join(body))


def other_articles(folder: Path) -> Iterator[ArticleIn]:
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        text = (doc.get("text") or "")[:6000]
        if doc.get("title") and len(text) > 400:
            yield ArticleIn(source=doc["source_domain"], title=doc["title"], text=text)


def times(storage: Storage, article_id: str) -> dict[str, float]:
    fields = storage.client.hmget(
        storage.keys.article(article_id), "received_at", "placed_at", "processed_at", "status"
    )
    names = ("received_at", "placed_at", "processed_at")
    out = {n: float(v) for n, v in zip(names, fields[:3], strict=True) if v}
    out["failed"] = float(fields[3] == b"failed")
    return out


class PeakRss:
    """This process's resident memory, sampled every 20 ms while in use."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.before = self.process.memory_info().rss
        self.peak = self.before
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--stream-seconds", type=int, default=0)
    args = parser.parse_args()
    configure_logging(level="WARNING")

    with (
        tempfile.TemporaryDirectory(prefix="big-story-") as tmp,
        EmbeddedRedis(Path(tmp)) as server,
    ):
        settings = Settings(redis_url=server.url, _env_file=None)
        storage = build_storage(settings, server.url)
        worker = build_worker(settings, storage)
        store = storage.articles

        started = time.perf_counter()
        ids = [
            store.add_article(big_story_article(k)).id
            for k in tqdm(range(args.size), desc="post", unit="art")
        ]
        worker.run(burst=True)
        fill_s = time.perf_counter() - started
        story_ids = {store.article(i).story_id for i in ids}
        copies = sum(1 for i in ids if storage.client.hget(storage.keys.article(i), "duplicate_of"))
        biggest = max(story_ids, key=lambda s: storage.stories.story(s or "").article_count)
        size = storage.stories.story(biggest or "").article_count
        console.print(
            f"fill: {args.size} articles in {fill_s:.0f} s; {len(story_ids)} stories, the biggest "
            f"{size} articles; {copies} marked near-duplicate copies"
        )

        placed: list[float] = []
        whole: list[float] = []
        with PeakRss() as rss:
            for k in tqdm(range(args.size, args.size + args.updates), desc="updates", unit="art"):
                aid = store.add_article(big_story_article(k)).id
                worker.run(burst=True)
                t = times(storage, aid)
                placed.append(t["processed_at"] - t["placed_at"])
                whole.append(t["processed_at"] - t["received_at"])
        table = Table(
            title=f"One article into a {size}-article story (burst worker, one at a time)"
        )
        for col in (
            "updates",
            "placed→processed p50 s",
            "p95 s",
            "max s",
            "received→processed p50 s",
            "peak extra RSS MiB",
            "RSS MiB",
        ):
            table.add_column(col, justify="right")
        table.add_row(
            str(len(placed)),
            f"{pct(placed, 50):.2f}",
            f"{pct(placed, 95):.2f}",
            f"{max(placed):.2f}",
            f"{pct(whole, 50):.2f}",
            f"{(rss.peak - rss.before) / 2**20:.0f}",
            f"{rss.peak / 2**20:.0f}",
        )
        console.print(table)
        if args.stream_seconds:
            stream(storage, worker, args.size + args.updates, args.stream_seconds)


def stream(storage: Storage, worker: Any, first: int, seconds: int) -> None:
    store = storage.articles
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, kwargs={"stop": stop}, daemon=True)
    runner.start()
    others = other_articles(OTHER)
    big, other = [], []
    begin = time.monotonic()
    for second in tqdm(range(seconds), desc="stream", unit="s"):
        big.append(store.add_article(big_story_article(first + second)).id)
        if second % 5 == 0:
            article = next(others, None)
            if article is not None:
                other.append(store.add_article(article).id)
        time.sleep(max(0.0, begin + second + 1 - time.monotonic()))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(
            "processed_at" in times(storage, a) or times(storage, a)["failed"] for a in big + other
        ):
            break
        time.sleep(0.5)
    stop.set()
    runner.join(timeout=30)
    table = Table(
        title=f"{seconds} s at one article a second into the big story, other news beside"
    )
    for col in (
        "articles",
        "count",
        "received→processed p50 s",
        "p95 s",
        "max s",
        "over 5 s",
        "failed",
        "unfinished",
    ):
        table.add_column(col, justify="right")
    for name, group in (("big story", big), ("other stories", other)):
        rows = [times(storage, a) for a in group]
        lat = [t["processed_at"] - t["received_at"] for t in rows if "processed_at" in t]
        table.add_row(
            name,
            str(len(group)),
            f"{statistics.median(lat):.2f}" if lat else "-",
            f"{pct(lat, 95):.2f}",
            f"{max(lat):.2f}" if lat else "-",
            str(sum(x > 5 for x in lat)),
            str(failed := int(sum(t["failed"] for t in rows))),
            str(len(group) - len(lat) - failed),
        )
    console.print(table)


if __name__ == "__main__":
    main()
