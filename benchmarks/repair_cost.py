"""What one repair costs, by part, with the name split and without it.

    .venv/bin/python -m benchmarks.repair_cost /work/shared/benchmarks [--dataset ecbplus]

Posts a labelled dev set through the HTTP layer into a fresh embedded Redis, places every article
with one in-process worker (the int8 model; no summaries, no repair while placing), then runs the
worker's repair a few times in a row, timing its parts: the window read, the vectors, HDBSCAN, reconcile, the
lead sentences read for the names, the name split, and applying the plan (summaries of the stories
it touched included). Each repair after the first finds what the one before left, as a steady worker would. Once
with the shipped NameSplitParams, once with the split off (max_cos 0), each on its own stack.
ECB+ by default: `benchmarks.datasets` gives all its documents one timestamp, so the whole set
(982 articles) is one repair window, larger than a busy day's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.datasets import LOADERS, Doc  # noqa: E402
from benchmarks.throughput_e2e import POST_CHUNK, body  # noqa: E402
from benchmarks.throughput_parts import Timers  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
console = Console()
PARTS = ("window read", "article vectors", "HDBSCAN", "reconcile", "lead sentences read",
         "name split", "apply + summaries")


def run(docs: list[Doc], work: Path, split_on: bool, repairs: int) -> list[dict[str, float]]:
    """Per repair, seconds by part and in all."""
    from fastapi.testclient import TestClient

    import workers.story_ops as story_ops
    from core.config import Settings
    from core.keys import Keys
    from core.storage import Storage
    from core.storage.connection import connect
    from core.storage.embedded import EmbeddedRedis
    from service.app import create_app
    from storyfold.compose import build_worker

    with EmbeddedRedis(work / f"redis-{split_on}") as server:
        settings = Settings(redis_url=server.url, repair_every=10**9, _env_file=None)
        r = connect(server.url)
        with TestClient(create_app(settings)) as http:
            bodies = [body(d, "r-") for d in docs]
            for i in range(0, len(bodies), POST_CHUNK):
                http.post("/articles", json=bodies[i:i + POST_CHUNK]).raise_for_status()
        w = build_worker(settings, Storage(r, Keys(settings.key_prefix)), name="repair-cost")
        if not split_on:
            w.ops.name_split_params = replace(w.ops.name_split_params, max_cos=0.0)
        w.queue.ensure_group()
        while jobs := w.queue.read_new(w.name, settings.worker_batch, None):
            w.place(jobs)
        w.summary_queue.ensure_group()  # the summaries queued by placing are left unread
        out = []
        saved = {name: getattr(story_ops, name) for name in ("recluster", "reconcile",
                                                             "with_name_splits")}
        try:
            for _ in range(repairs):
                timers = Timers()
                for fn, part in (("recluster", "HDBSCAN"), ("reconcile", "reconcile"),
                                 ("with_name_splits", "name split")):
                    setattr(story_ops, fn, timers.wrap(part, saved[fn]))
                for obj, attr, part in ((w.ops.repairs, "window", "window read"),
                                        (w.ops.store, "article_vectors", "article vectors"),
                                        (w.ops.repairs, "signal_rows", "lead sentences read"),
                                        (w.ops, "_apply", "apply"), (w.ops, "summarise", "summaries")):
                    # the class's own method each time, not the wrapper the last round put there
                    setattr(obj, attr, timers.wrap(part, getattr(type(obj), attr).__get__(obj)))
                t = time.perf_counter()
                outcome = w.ops.repair()
                timers.s["all"] = time.perf_counter() - t
                timers.s["apply + summaries"] = timers.s.pop("apply", 0.0) + timers.s.pop("summaries", 0.0)
                timers.s["articles"] = float(outcome.articles if outcome else 0)
                timers.s["splits"] = float(len(outcome.split) if outcome else 0)
                timers.s["merges"] = float(len(outcome.merged) if outcome else 0)
                timers.s["moves"] = float(outcome.moved if outcome else 0)
                out.append(timers.s)
        finally:
            for name, fn in saved.items():
                setattr(story_ops, name, fn)
        r.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir", type=Path, help="the shared benchmark data (/work/shared/benchmarks)")
    p.add_argument("--dataset", default="ecbplus", choices=sorted(LOADERS))
    p.add_argument("--repairs", type=int, default=2, help="repairs one after the other (default 2)")
    args = p.parse_args(argv)

    from core.logs import configure_logging

    configure_logging(json_logs=True, level="WARNING")
    docs = LOADERS[args.dataset](args.data_dir).docs
    console.print(f"{args.dataset}: {len(docs)} articles; {os.cpu_count()} CPUs, load average "
                  f"{os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="sf-repair-") as tmp:
        runs = {on: run(docs, Path(tmp), on, args.repairs) for on in (True, False)}
    t = Table(title=f"One repair over {args.dataset}, seconds (each repair in turn)")
    t.add_column("part")
    for on in runs:
        t.add_column("name split on" if on else "name split off", justify="right")
    for part in (*PARTS, "all"):
        t.add_row(part, *(" / ".join(f"{r.get(part, 0.0):.3f}" for r in rs) for rs in runs.values()))
    for key in ("articles", "moves", "merges", "splits"):
        t.add_row(key, *(" / ".join(f"{r[key]:.0f}" for r in rs) for rs in runs.values()))
    console.print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
