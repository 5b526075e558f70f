"""benchmarks/scale.py: its constants and the texts it posts, embedded once (see its docstring)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from tqdm import tqdm

from benchmarks.datasets import Doc, load_giveme, load_googlenews

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

console = Console(width=max(150, Console().width))  # the tables are wide; logs are not TTYs
DAY = 86400.0
GAP_DAYS = 4.0  # rounds are this much more than one story window apart
BATCH = 16  # articles per worker batch (Settings.worker_batch)
GOAL_BYTES_PER_ARTICLE = 1.5e9 / 100_000
CACHE = Path.home() / ".cache" / "storyfold" / "bench"

F32 = npt.NDArray[np.float32]


# -- the texts, embedded once --------------------------------------------------------------------
@dataclass
class Item:
    doc_id: str
    source: str
    text: str
    title: str | None
    ts: float
    clean_title: str | None = None
    sentences: list[str] = field(default_factory=list)
    sentence_vecs: F32 = field(default_factory=lambda: np.zeros((0, 384), np.float32))
    vector: F32 = field(default_factory=lambda: np.zeros(384, np.float32))


def post_body(doc: Doc) -> tuple[str, str | None]:
    """(text, title) as benchmarks/throughput.body posts a document."""
    text = (doc.text or doc.title).strip()
    return text, (doc.title.strip() or None) if doc.text and doc.title else None


def load_items(data_dir: Path, full_only: bool = False) -> list[Item]:
    """The texts of one round; `full_only`: only the full-length articles (giveme5w1h-dev)."""
    docs = load_giveme(data_dir).docs
    if not full_only:
        docs = load_googlenews(data_dir, "TS").docs + docs
    docs.sort(key=lambda d: (d.ts, d.doc_id))
    items = []
    for d in docs:
        text, title = post_body(d)
        source = f"outlet-{sum(d.doc_id.encode()) % 23}"
        doc_id = re.sub(r"[^A-Za-z0-9._\-]", "_", d.doc_id)[:100]  # no ':' (key_type)
        items.append(Item(doc_id, source, text, title, d.ts))
    return items


def _embed_child(texts: list[str], path: str) -> None:
    from embedding.torch_backend import shared_embedder

    vectors = shared_embedder().encode(texts)
    np.save(path, np.asarray(vectors, np.float32))


def embed_items(items: list[Item]) -> list[Item]:
    """Extract each text as the worker does and embed headline + sentences once (cached). The model
    runs in a child process, so this process's memory is what a worker holds besides its model."""
    from workers.assign.scoring import LEAD_SENTENCES, article_vector
    from workers.extract import extract

    kept, texts = [], []
    for it in tqdm(items, desc="extract", unit="doc"):
        ex = extract(text=it.text or None, title=it.title)
        if not ex.sentences and not ex.title:
            continue  # the worker marks it failed: never stored as clustered
        it.clean_title, it.sentences = ex.title, list(ex.sentences)
        kept.append(it)
        texts += [ex.title, *ex.sentences] if ex.title else ex.sentences
    key = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]
    cache = CACHE / f"scale-{key}.npy"
    if not cache.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        console.print(f"embedding {len(texts)} texts once (child process) → {cache}")
        t = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_embed_child, args=(texts, str(cache)))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"embedding child exited with {proc.exitcode}")
        console.print(f"  {len(texts) / (time.perf_counter() - t):.0f} texts/s")
    vectors = np.load(cache)
    row = 0
    for it in kept:
        title_vec = vectors[row] if it.clean_title else None
        row += 1 if it.clean_title else 0
        it.sentence_vecs = vectors[row : row + len(it.sentences)]
        row += len(it.sentences)
        it.vector = article_vector(title_vec, it.sentence_vecs[:LEAD_SENTENCES])
    return kept


def squeezed_time(items: list[Item], k: int, ts: float, round_days: float) -> float:
    """Round k of `items` at a constant news rate: it fills [k D, (k+1) D) days of story time
    (D = round_days) after the earliest item, its dates kept in their order."""
    t0 = min(it.ts for it in items)
    span = max(it.ts for it in items) - t0 or 1.0
    return t0 + (k + (ts - t0) / span) * round_days * DAY


def rotation(k: int, dim: int = 384) -> F32:
    if k == 0:
        return np.eye(dim, dtype=np.float32)
    q, r = np.linalg.qr(np.random.default_rng(1000 + k).normal(size=(dim, dim)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


# -- measuring -----------------------------------------------------------------------------------
