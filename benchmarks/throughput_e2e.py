"""benchmarks/throughput.py part 1: storyfold end to end as real processes (see its docstring)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import redis
from rich.console import Console
from tqdm import tqdm

from benchmarks.datasets import Doc, load_giveme, load_googlenews
from harness.procs import Service, free_port, service_env, wait_for, wait_healthy

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
            return bool(s.client.hget(f"sf:article:{{warmup-{label}}}", "status") == b"processed")

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
            pipe.hmget(f"sf:article:{{{aid}}}", "status", "placed_at", "processed_at")
        for aid, (status, placed, processed) in zip(ids, pipe.execute(), strict=True):
            if status in IN_STORY and placed:
                self.in_story[aid] = float(placed) - self._wall_minus_mono
            if status == b"processed" and processed:
                self.processed[aid] = float(processed) - self._wall_minus_mono
            elif status == b"failed":
                self.failed.add(aid)

    def wait_all(self, n: int, timeout_s: float, bar: tqdm) -> None:
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
