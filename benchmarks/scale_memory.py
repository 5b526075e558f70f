"""benchmarks/scale.py: where the bytes go (processes, the index, Redis keys by kind)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import redis

from benchmarks.scale_data import (
    Item,
)


def rss_mb(pid: int | None) -> float:
    try:
        for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


@dataclass
class Slice:
    assign_ms: list[float] = field(default_factory=list)
    summarise_ms: list[float] = field(default_factory=list)
    index_ms: list[float] = field(default_factory=list)
    scan_ms: list[float] = field(default_factory=list)
    quiet: list[int] = field(default_factory=list)  # quiet stories the old scan read
    disagree: int = 0


@dataclass
class Row:
    articles: int
    stories: int
    sl: Slice
    used_mb: float
    redis_rss_mb: float
    self_rss_mb: float
    index_mb: float
    bytes_per_article: float
    elapsed_s: float


def index_mb(ops: object) -> float:
    index = ops.stories.index  # type: ignore[attr-defined]
    arrays = index._centroids.nbytes + index._times.nbytes
    return float(arrays + 120 * len(index._ids)) / 1e6  # + ids, dict and list entries (approx.)


ARTICLE_KEYS = {
    None: "article hash",
    "sentences": "article :sentences (JSON)",
    "vectors": "article :vectors (sentence rows)",
    "vector": "article :vector (float32)",
    "minhash": "article :minhash",
}
STORY_KEYS = {
    None: "story hash",
    "state": "story :state (centroid sum, 64 members)",
    "articles": "story :articles (zset)",
    "summary": "story :summary (JSON)",
    "versions": "story :versions (list of JSON)",
}


def key_type(key: str) -> str:
    """The kind of a key (article and story ids here have no ':'); a single key is its own kind."""
    parts = key.split(":")
    suffix = parts[3] if len(parts) > 3 else None
    if key.startswith("sf:article:"):
        return ARTICLE_KEYS.get(suffix, f"article :{suffix}")
    if key.startswith("sf:story:"):
        return STORY_KEYS.get(suffix, f"story :{suffix}")
    for prefix in ("sf:idx:content:", "sf:idx:url:", "sf:dedup:", "{sf}:feed:size:", "{sf}:worker:"):
        if key.startswith(prefix):
            return prefix + "*"
    return key


def breakdown(
    client: redis.Redis, articles: int, sample: int = 300
) -> list[tuple[str, int, float, float]]:
    """(key type, keys, mean bytes per key, bytes per article) from MEMORY USAGE samples."""
    by_type: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for raw in client.scan_iter(count=2000):
        key = raw.decode()
        kind = key_type(key)
        counts[kind] += 1
        if len(by_type[kind]) < sample:
            by_type[kind].append(key)
    out = []
    small = 0.0
    for kind, keys in by_type.items():
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        mean = float(np.mean([int(s or 0) for s in pipe.execute()]))
        if counts[kind] * mean < 10_000:
            small += counts[kind] * mean
        else:
            out.append((kind, counts[kind], mean, mean * counts[kind] / articles))
    out.sort(key=lambda row: -row[3])
    out.append(("other keys (< 10 kB per kind)", 0, small, small / articles))
    return out


def article_bytes(
    client: redis.Redis, items: list[Item]
) -> list[tuple[str, int, float, dict[str, float]]]:
    """Per dataset (short GoogleNews items vs full giveme5w1h articles): how many round-0 articles
    were sampled, their mean sentence count and mean MEMORY USAGE of each per-article key."""
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        name = "GoogleNews-TS" if it.doc_id.startswith("gn") else "giveme5w1h-dev (full articles)"
        if len(groups[name]) < 300:
            groups[name].append(it)
    suffixes = {"hash": "", "sentences": ":sentences", "vectors": ":vectors", "vector": ":vector"}
    out = []
    for name, group in groups.items():
        pipe = client.pipeline(transaction=False)
        for it in group:
            for suffix in suffixes.values():
                pipe.memory_usage(f"sf:article:{{r0-{it.doc_id}}}{suffix}", samples=0)
        raw = pipe.execute()
        rows = [raw[i : i + len(suffixes)] for i in range(0, len(raw), len(suffixes))]
        kept = [(it, row) for it, row in zip(group, rows, strict=True) if row[0]]
        if not kept:
            continue
        means = {
            kind: float(np.mean([int(row[j] or 0) for _, row in kept]))
            for j, kind in enumerate(suffixes)
        }
        sentences = float(np.mean([len(it.sentences) for it, _ in kept]))
        out.append((name, len(kept), sentences, means))
    return out
