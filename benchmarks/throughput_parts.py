"""benchmarks/throughput.py parts 2-4: BERTopic, the embedding stage, where a worker's time goes
(see its docstring)."""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from tqdm import tqdm

from benchmarks.datasets import Doc
from benchmarks.throughput_e2e import MFLOP_PER_TOKEN, POST_CHUNK, bertopic_text, body

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

console = Console()


@dataclass
class BertopicResult:
    n: int
    embed_s: float
    fit_s: float
    topics: int

    @property
    def per_s(self) -> float:
        return self.n / (self.embed_s + self.fit_s)


def sentence_transformer() -> Any:
    from sentence_transformers import SentenceTransformer

    from embedding.torch_backend import packaged_model_path

    return SentenceTransformer(str(packaged_model_path()), device="cpu", local_files_only=True)


def run_bertopic(docs: list[Doc]) -> BertopicResult:
    from bertopic import BERTopic

    model = sentence_transformer()  # max_seq_length 256, BERTopic's default truncation
    texts = [bertopic_text(d) for d in docs]
    console.print(f"[bold]2. BERTopic[/]: warm-up fit (untimed), then {len(texts)} documents")
    warm = texts[:120]
    BERTopic(verbose=False).fit_transform(warm, model.encode(warm, show_progress_bar=False))
    t0 = time.perf_counter()
    emb = model.encode(texts, show_progress_bar=True)
    t1 = time.perf_counter()
    topics, _ = BERTopic(verbose=False).fit_transform(texts, emb)
    t2 = time.perf_counter()
    return BertopicResult(len(texts), t1 - t0, t2 - t1, len(set(topics) - {-1}))


# -- embedding stage vs the model's limit --------------------------------------------------------
def matmul_peak_flops(size: int = 2048, reps: int = 12) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


@dataclass
class EmbedRow:
    label: str
    sentences: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.sentences / self.seconds


def run_embedding(docs: list[Doc], batch_sizes: Sequence[int], worker_batch: int,
                  backends: Sequence[str] = ("torch",)) -> tuple[dict[str, float], list[EmbedRow]]:
    import torch

    from embedding.torch_backend import SentenceTransformerEmbedder
    from workers.extract import extract

    extracted = [extract(text=d.text, title=d.title or None) for d in docs if d.text]
    sentences = [s for ex in extracted for s in ex.sentences]
    emb = SentenceTransformerEmbedder()
    tok = emb._model.tokenizer
    lengths = [len(ids) for ids in tok(sentences, truncation=True, max_length=256)["input_ids"]]
    mean_tokens = statistics.fmean(lengths)
    console.print(f"[bold]3. embedding[/]: {len(sentences)} sentences, "
                  f"{mean_tokens:.1f} tokens each; torch threads {torch.get_num_threads()}")
    peak = matmul_peak_flops()
    limit = peak / (MFLOP_PER_TOKEN * mean_tokens)
    emb.encode(sentences[:64])  # warm-up
    rows = []
    for bs in tqdm(batch_sizes, desc="batch sizes"):
        emb.batch_size = bs
        t = time.perf_counter()
        emb.encode(sentences)
        rows.append(EmbedRow(f"one call, batch {bs}", len(sentences), time.perf_counter() - t))
    # As the worker calls it: one encode per stream batch of `worker_batch` articles, title first.
    emb.batch_size = 64
    calls = []
    for i in range(0, len(extracted), worker_batch):
        texts: list[str] = []
        for ex in extracted[i:i + worker_batch]:
            texts += [ex.title, *ex.sentences] if ex.title else list(ex.sentences)
        calls.append(texts)
    t = time.perf_counter()
    for texts in tqdm(calls, desc="worker-style calls"):
        emb.encode(texts)
    rows.append(EmbedRow(f"per stream batch of {worker_batch} articles (+titles), batch 64",
                         sum(map(len, calls)), time.perf_counter() - t))
    # Shuffled into one call of batch 64 vs length-sorted: sentence-transformers sorts inside
    # encode(), so this shows the padding cost only when calls are split by arrival order.
    shuffled = list(sentences)
    random.Random(3).shuffle(shuffled)
    t = time.perf_counter()
    for i in range(0, len(shuffled), 64):
        emb.encode(shuffled[i:i + 64])
    rows.append(EmbedRow("calls of 64 in arrival order (no cross-call sort)", len(shuffled),
                         time.perf_counter() - t))
    if "onnx-int8" in backends:
        from core.config import Settings
        from embedding.factory import select_backend as make_embedder

        int8 = make_embedder(Settings(_env_file=None), "onnx-int8")
        int8.encode(sentences[:64])  # warm-up
        t = time.perf_counter()
        int8.encode(sentences)
        rows.append(EmbedRow("onnx-int8, one call", len(sentences), time.perf_counter() - t))
        t = time.perf_counter()
        for texts in tqdm(calls, desc="worker-style calls (int8)"):
            int8.encode(texts)
        rows.append(EmbedRow(f"onnx-int8, per stream batch of {worker_batch} articles (+titles)",
                             sum(map(len, calls)), time.perf_counter() - t))
    info = {"sentences": len(sentences), "tokens": mean_tokens, "peak_gflops": peak / 1e9,
            "limit": limit, "p95_tokens": float(np.percentile(lengths, 95))}
    return info, rows


# -- where the worker's time goes ----------------------------------------------------------------
class Timers:
    def __init__(self) -> None:
        self.s: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.s[name] = self.s.get(name, 0.0) + time.perf_counter() - t
        return timed


class TimedEmbedder:
    def __init__(self, inner: Any, timers: Timers, name: str = "embed") -> None:
        self.inner, self.dim = inner, inner.dim
        self.encode = timers.wrap(name, inner.encode)


def run_breakdown(docs: list[Doc], work: Path) -> tuple[float, int, dict[str, float]]:
    from fastapi.testclient import TestClient

    import workers.lead as lead_stage
    import workers.runner as runner
    from core.config import Settings
    from core.keys import Keys
    from core.storage import Storage
    from core.storage.connection import connect
    from core.storage.embedded import EmbeddedRedis
    from service.app import create_app
    from storyfold.compose import build_worker

    timers = Timers()
    with EmbeddedRedis(work / "redis-breakdown") as server:
        settings = Settings(redis_url=server.url, _env_file=None)
        r = connect(server.url)
        with TestClient(create_app(settings)) as http:
            bodies = [body(d, "p-") for d in docs]
            for i in range(0, len(bodies), POST_CHUNK):
                http.post("/articles", json=bodies[i:i + POST_CHUNK]).raise_for_status()
        keys = Keys(settings.key_prefix)
        from embedding.factory import make_embedders

        lead, rest = make_embedders(settings)  # as the product builds them (default settings)
        runner.one_blas_thread()  # as `storyfold worker` does
        embedder = TimedEmbedder(lead, timers, f"embed headline + lead ({settings.embed_backend})")
        summary_embedder = TimedEmbedder(
            rest, timers, f"embed other sentences ({settings.summary_embed_backend})")
        w = build_worker(settings, Storage(r, keys), name="breakdown", embedder=embedder,
                         summary_embedder=summary_embedder)
        w.lead.originals_of = timers.wrap("near-dup check", w.lead.originals_of)  # type: ignore[method-assign]
        w.ops.assign_many = timers.wrap("assign", w.ops.assign_many)  # type: ignore[method-assign]
        w.ops.summarise = timers.wrap("summarise", w.ops.summarise)  # type: ignore[method-assign]
        w.ops.repair_if_due = timers.wrap("repair (HDBSCAN)", w.ops.repair_if_due)  # type: ignore[method-assign]
        original_extract = lead_stage.extract  # type: ignore[attr-defined]
        lead_stage.extract = timers.wrap("extract", original_extract)  # type: ignore[attr-defined]
        console.print(f"[bold]4. breakdown[/]: in-process burst worker over {len(docs)} articles")
        try:
            lead.encode(["warm-up"])
            # The stages one after the other on this thread (a worker runs them side by side),
            # so that each stage's time is its own and the parts add up to the total.
            t = time.perf_counter()
            done, batch = 0, settings.worker_batch
            for queue, stage in ((w.queue, w.place), (w.summary_queue, w.summarise)):
                queue.ensure_group()
                while jobs := queue.read_new(w.name, batch, None):
                    result = stage(jobs)
                    w.ops.repair_if_due()
                    done += len(result.failed) + (len(result.processed) if stage == w.summarise else 0)
            total = time.perf_counter() - t
        finally:
            lead_stage.extract = original_extract  # type: ignore[attr-defined]
        r.close()
    return total, done, timers.s


# -- output ----------------------------------------------------------------------------------------
