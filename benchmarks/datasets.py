"""Loaders for the labelled benchmark data in /work/shared/benchmarks, plus an embedding cache.

Texts are read from DATA_DIR at run time and never copied into the repository; only vectors are
cached, outside the repo (default ~/.cache/storyfold/bench/), keyed by a hash of the texts.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workers.assign.scoring import (
    LEAD_SENTENCES,  # body sentences embedded per article, as in the product
)

SEED_TS = datetime(2025, 7, 1, 12, tzinfo=UTC).timestamp()
GOOGLENEWS_TS = datetime(2013, 11, 27, tzinfo=UTC).timestamp()


@dataclass
class Doc:
    doc_id: str
    title: str
    text: str  # body text (empty for headline-only items)
    ts: float
    label: str


@dataclass
class Dataset:
    name: str
    docs: list[Doc]
    # Filled by embed(): one title vector per doc (zero row when there is no headline) and the
    # lead-sentence vectors per doc.
    title_vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))
    sent_vecs: list[np.ndarray] = field(default_factory=list)
    leads: list[str] = field(default_factory=list)  # the embedded lead sentences, joined
    titles: list[str] = field(default_factory=list)  # the headlines as extract() found them

    @property
    def labels(self) -> list[str]:
        return [d.label for d in self.docs]


_SENT_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])")


def _simple_lead(title: str, text: str) -> tuple[str, list[str]]:
    sents: list[str] = []
    for para in text.split("\n"):
        para = para.strip()
        if len(para) >= 25:  # captions, bylines, "Read more" stubs are shorter lines
            sents.extend(s.strip() for s in _SENT_END.split(para) if len(s.strip()) >= 25)
    return title, sents


def lead(title: str, text: str) -> tuple[str, list[str]]:
    """(headline, clean body sentences) the way the product gets them: workers.extract if present."""
    if not text:
        return title, []
    try:
        from workers.extract import extract
    except ImportError:
        return _simple_lead(title, text)
    got = extract(text=text, title=title or None)
    return got.title or "", list(got.sentences)


def _iso_ts(value: str | None) -> float | None:
    if not value or value == "None":
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def load_giveme(data_dir: Path) -> Dataset:
    docs = []
    for path in sorted((data_dir / "giveme5w1h-dev").glob("*.json")):
        raw = json.loads(path.read_text())
        cluster = raw["newsCluster"]
        if isinstance(cluster, str):  # usually a Python-literal string, sometimes already parsed
            cluster = ast.literal_eval(cluster)
        ts = _iso_ts(raw.get("date_publish")) or _iso_ts(raw.get("date_download")) or 0.0
        docs.append(Doc(raw["dId"], raw["title"] or "", raw["text"] or "", ts,
                        f"ev{cluster['EventId']}"))
    docs.sort(key=lambda d: (d.ts, d.doc_id))
    return Dataset("giveme5w1h-dev", docs)


def load_ecbplus(data_dir: Path) -> Dataset:
    """ECB+: two different same-kind events per topic; the label is `event_id`, not the topic.

    Two thirds of the documents (every `ecb` one) have no date, and which half is dated follows
    the label split, so any date would hand the two events apart for free. Every document gets
    one shared timestamp (time plays no part, as for GoogleNews) and the stream order is a fixed
    pseudo-random one (sha1 of the doc id), not topic by topic.
    """
    docs = []
    for path in sorted((data_dir / "ecbplus").glob("*.json")):
        raw = json.loads(path.read_text())
        title = raw.get("title") or ""
        docs.append(Doc(raw["dId"], "" if title == "None" else title, raw["text"] or "",
                        GOOGLENEWS_TS, str(raw["event_id"])))
    docs.sort(key=lambda d: hashlib.sha1(d.doc_id.encode()).hexdigest())
    return Dataset("ecbplus", docs)


def load_seeds(seed_dir: Path, ts: float = SEED_TS) -> list[Doc]:
    """The five seed reports as posted: plain text, headline (if any) on the first line."""
    return [Doc(f"seed:{p.stem}", "", p.read_text(), ts, "seed")
            for p in sorted(seed_dir.glob("0*.txt"))]


def with_seeds(ds: Dataset, seed_dir: Path) -> Dataset:
    docs = sorted(ds.docs + load_seeds(seed_dir), key=lambda d: (d.ts, d.doc_id))
    return Dataset(ds.name + "+seeds", docs)


def load_googlenews(data_dir: Path, part: str) -> Dataset:
    docs = []
    with open(data_dir / "googlenews" / part) as fh:
        for i, line in enumerate(fh):
            raw = json.loads(line)
            # Preprocessed bag of words: the whole text is the "headline" (one vector, no lead).
            docs.append(Doc(f"gn{part}:{i}", raw["text"], "", GOOGLENEWS_TS, str(raw["cluster"])))
    return Dataset(f"GoogleNews-{part}", docs)


def load_uci(data_dir: Path) -> Dataset:
    path = data_dir / "uci-news-aggregator-sample" / "uci-news-aggregator.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    docs = [Doc(f"uci:{r['ID']}", r["TITLE"], "", int(r["TIMESTAMP"]) / 1000.0, r["STORY"])
            for r in rows[:-1]]  # the last row is truncated in the sample
    docs.sort(key=lambda d: (d.ts, d.doc_id))
    return Dataset("UCI-sample", docs)


LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "giveme5w1h-dev": load_giveme,
    "ecbplus": load_ecbplus,
    "GoogleNews-TS": lambda p: load_googlenews(p, "TS"),
    "GoogleNews-T": lambda p: load_googlenews(p, "T"),
    "GoogleNews-S": lambda p: load_googlenews(p, "S"),
    "UCI-sample": load_uci,
}


def embed(ds: Dataset, encode: Callable[[Sequence[str]], np.ndarray], cache_dir: Path) -> Dataset:
    """Fill title_vecs / sent_vecs, through an .npz cache keyed by the exact texts embedded."""
    pairs = [lead(d.title, d.text) for d in ds.docs]
    titles = [t for t, _ in pairs]
    leads = [sents[:LEAD_SENTENCES] for _, sents in pairs]
    flat = [s for lead in leads for s in lead]
    key = hashlib.sha256(json.dumps([titles, leads]).encode()).hexdigest()[:16]
    cache = cache_dir / f"{ds.name}-{key}.npz"
    if cache.exists():
        with np.load(cache) as z:
            tv, sv = z["titles"], z["sents"]
    else:
        tv = encode(titles)
        sv = encode(flat) if flat else np.zeros((0, tv.shape[1]), np.float32)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(cache, titles=tv, sents=sv)
    ds.title_vecs = tv.astype(np.float32)
    # An empty headline says nothing when there is a body; alone, it is all there is.
    ds.title_vecs[[i for i, t in enumerate(titles) if not t.strip() and leads[i]]] = 0.0
    bounds = np.cumsum([0] + [len(lead) for lead in leads])
    ds.sent_vecs = [sv[bounds[i]:bounds[i + 1]].astype(np.float32) for i in range(len(leads))]
    ds.leads = [" ".join(lead) for lead in leads]
    ds.titles = titles
    return ds
