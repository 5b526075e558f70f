"""What the archive on disk saves: Redis bytes per article while a story is hot and once it is
cold, the archive's bytes per article, and what moving a story out and back costs.

    .venv/bin/python -m benchmarks.archive_cost /work/shared/benchmarks --articles 150

Real full-length articles (the first N of giveme5w1h-dev, posted as plain text, all dated within
one day) go through the product's worker (onnx-int8) into an embedded Redis; one unrelated
article dated 10 days later moves story time on; then workers.cold_pass moves every story quiet
for more than STORYFOLD_HOT_DAYS (1 here) to the archive folder. Redis INFO used_memory_dataset
is read after each step (MinHash signatures and dedup bands, which expire after the dedup
window on their own, are counted while they live: the table says how much they take).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.config import Settings
from core.logs import configure_logging
from core.records import ArticleIn
from core.storage.embedded import EmbeddedRedis
from storyfold.compose import build_storage, build_worker
from workers.cold_pass import ColdPass

console = Console()
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def articles(folder: Path, n: int) -> list[ArticleIn]:
    out: list[ArticleIn] = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        text = (doc.get("text") or "").strip()
        if doc.get("title") and len(text) > 400:
            when = (T0 + timedelta(minutes=len(out))).isoformat()
            out.append(
                ArticleIn(
                    source=doc["source_domain"], title=doc["title"], text=text, published_at=when
                )
            )
        if len(out) == n:
            break
    return out


def dataset_bytes(client: object) -> int:
    info = client.info("memory")  # type: ignore[attr-defined]
    return int(info["used_memory_dataset"])


def expiring_bytes(client: object, pattern: str) -> int:
    total = 0
    for key in client.scan_iter(match=pattern, count=1000):  # type: ignore[attr-defined]
        total += int(client.memory_usage(key) or 0)  # type: ignore[attr-defined]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=Path("/work/shared/benchmarks"))
    parser.add_argument("--articles", type=int, default=150)
    args = parser.parse_args()
    configure_logging(level="WARNING")
    docs = articles(args.data / "giveme5w1h-dev", args.articles)
    with (
        tempfile.TemporaryDirectory(prefix="archive-cost-") as tmp,
        EmbeddedRedis(Path(tmp) / "redis") as server,
    ):
        settings = Settings(
            redis_url=server.url, archive_dir=Path(tmp) / "archive", hot_days=1.0, _env_file=None
        )
        storage = build_storage(settings, server.url)
        client = storage.client
        empty = dataset_bytes(client)
        worker = build_worker(settings, storage)
        for doc in docs:
            storage.articles.add_article(doc)
        worker.run(burst=True)
        hot = dataset_bytes(client) - empty
        short_lived = expiring_bytes(client, "*:minhash") + expiring_bytes(client, "*:dedup:*")
        clock = ArticleIn(
            source="clock.example",
            title="Unrelated report ten days later",
            text="A new bridge opened to traffic on Monday after three years of building work. "
            "The city said it would cut the morning commute by twenty minutes.",
            published_at=(T0 + timedelta(days=10)).isoformat(),
        )
        storage.articles.add_article(clock)
        worker.run(burst=True)
        before_move = dataset_bytes(client) - empty
        started = time.perf_counter()
        moved = ColdPass(storage, settings).run()
        move_s = time.perf_counter() - started
        cold = dataset_bytes(client) - empty
        assert storage.cold is not None
        files, on_disk = storage.cold.files.size()
        biggest = max(
            (s.decode() for s in client.zrange(storage.keys.stories_cold, 0, -1)),
            key=lambda s: client.zcard(storage.keys.story_articles(s)),
        )
        size = client.zcard(storage.keys.story_articles(biggest))
        started = time.perf_counter()
        with storage.stories.locks.story(biggest):
            storage.cold.revive(biggest)
        revive_s = time.perf_counter() - started

    n = len(docs)
    table = Table(title=f"{n} full-length articles (giveme5w1h-dev), {moved} stories moved")
    for col in ("", "Redis dataset", "per article", "per 100k articles"):
        table.add_column(col, justify="right")

    def row(name: str, total: int) -> None:
        table.add_row(
            name,
            f"{total / 2**20:.2f} MiB",
            f"{total / n / 1024:.1f} kB",
            f"{total / n * 100_000 / 2**30:.2f} GiB",
        )

    row("hot (after processing)", hot)
    row("  of which MinHash + dedup bands (expire)", short_lived)
    row("hot, before the move", before_move)
    row("cold (after the move)", cold)
    row("archive on disk (gzip JSON)", on_disk)
    console.print(table)
    console.print(
        f"moved {moved} stories in {move_s:.2f} s ({move_s / max(moved, 1) * 1000:.0f} ms each, "
        f"assign lock held per story); {files} files; revived the biggest ({size} articles) in "
        f"{revive_s * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
