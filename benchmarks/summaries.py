"""Summary quality and cost: what a reader can trust in a story's merged summary, and what it costs.

    nice .venv/bin/python -m benchmarks.summaries /work/shared/benchmarks [--seeds seeds]
        [--cache DIR] [--sizes 10,50,200,1000] [--max-seconds 120] [--show]

Quality, on the dev events (giveme5w1h-dev and ecbplus grouped by their event labels, plus the
five seeds as one story). Every check here is written independently of the summariser:
- citation precision: of the (consensus line, listed source) pairs, the share where the source's
  own article holds every number, name, weekday/month of the shown line (`details`);
- non-empty consensus: share of stories with two or more outlets whose consensus is not empty;
- unique facts with a paraphrase elsewhere: a unique line whose fresh vector is close to some
  sentence of another outlet (`paraphrased`, checked on tests/test_summary_quality.py's
  hand-labelled pairs);
- conflicts judged real: against tests/summary_conflict_labels.json (hand-labelled; a conflict
  not in it counts as unlabelled, listed with --show).
Cost: summarize() at 10..1000 synthesised distinct rewrites of one invented story (vectors from
the torch embedder, cached), time p50/p95 and peak traced memory.
Texts are read from the data folder at run time; only vectors are cached, outside the repo.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks._summary_data import VectorCache, as_docs, load_stories, synthetic_story
from harness.summary_checks import details, paraphrased, stated
from workers.summarize import summarize

LABELS = Path(__file__).resolve().parent.parent / "tests" / "summary_conflict_labels.json"


# --- quality -----------------------------------------------------------------------------------
def conflict_key(story: str, about: str, values: Sequence[str]) -> str:
    return f"{story} | {about} | {' / '.join(sorted(set(values)))}"


def quality(
    stories: dict[str, list[tuple[str, str, str, str, str]]], cache: VectorCache, show: bool
) -> dict[str, dict[str, float]]:
    labels: dict[str, bool] = json.loads(LABELS.read_text()) if LABELS.exists() else {}
    rows: dict[str, dict[str, float]] = {}
    tally: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, items in sorted(stories.items()):
        outlets = {source for _, source, *_ in items}
        if len(outlets) < 2:
            continue
        part = name.split(":")[0]
        docs = as_docs(items, cache)
        summary = summarize(docs)
        t = tally[part]
        t["stories"] += 1
        t["consensus"] += len(summary.consensus)
        t["non-empty"] += bool(summary.consensus)
        article_by_id = {a: f"{title}\n{text}" for a, _, title, text, _ in items}
        source_of = {a: s for a, s, *_ in items}
        for fact in summary.consensus:
            shown = details(fact.text)
            holds_all = True
            for source in fact.sources:
                text = "\n".join(
                    article_by_id[a] for a in fact.article_ids if source_of[a] == source
                )
                ok = shown <= stated(text)
                t["citations"] += 1
                t["citations held"] += ok
                holds_all &= ok
                if show and not ok:
                    print(
                        f"  overclaim {name} [{source}] {sorted(shown - stated(text))}: "
                        f"{fact.text[:110]}"
                    )
            t["lines all held"] += holds_all
        sentences_by_source: dict[str, list[str]] = defaultdict(list)
        vectors_by_source: dict[str, list[np.ndarray]] = defaultdict(list)
        for doc in docs:
            sentences_by_source[doc.source].extend(doc.sentences)
            vectors_by_source[doc.source].append(doc.vectors)
        for group in summary.unique:
            others = [
                s for src, ss in sentences_by_source.items() if src != group.source for s in ss
            ]
            other_vecs = [
                v for src, vs in vectors_by_source.items() if src != group.source for v in vs
            ]
            matrix = np.vstack(other_vecs) if other_vecs else np.zeros((0, 384), np.float32)
            mine = cache([f.text for f in group.facts])
            for unique, vector in zip(group.facts, mine, strict=True):
                t["unique"] += 1
                hit = paraphrased(unique.text, vector, others, matrix)
                t["unique paraphrased"] += hit
                if show and hit:
                    print(f"  not unique {name} [{group.source}]: {unique.text[:110]}")
        for conflict in summary.conflicts:
            key = conflict_key(name, conflict.about, [c.value for c in conflict.claims])
            t["conflicts"] += 1
            if key in labels:
                t["conflicts labelled"] += 1
                t["conflicts real"] += labels[key]
            elif show:
                print(f"  unlabelled conflict: {json.dumps(key)}")
                for claim in conflict.claims:
                    print(f"      [{claim.value}] {claim.text[:160]}")
    for part, t in tally.items():
        rows[part] = {
            "stories (2+ outlets)": t["stories"],
            "consensus per story": t["consensus"] / max(t["stories"], 1),
            "non-empty consensus": t["non-empty"] / max(t["stories"], 1),
            "citation precision": t["citations held"] / max(t["citations"], 1),
            "lines with every citation held": t["lines all held"] / max(t["consensus"], 1),
            "unique facts": t["unique"],
            "unique with paraphrase elsewhere": t["unique paraphrased"] / max(t["unique"], 1),
            "conflicts": t["conflicts"],
            "conflicts labelled": t["conflicts labelled"],
            "labelled conflicts real": t["conflicts real"] / max(t["conflicts labelled"], 1),
        }
    return rows


def cost(sizes: Sequence[int], cache: VectorCache, max_seconds: float) -> list[list[str]]:
    story = synthetic_story(max(sizes), cache)
    rows = []
    for n in sizes:
        docs = story[:n]
        repeats = 5 if n <= 50 else 3
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            summary = summarize(docs)
            times.append(time.perf_counter() - start)
            if times[-1] > max_seconds:
                break
        tracemalloc.start()
        summarize(docs) if times[-1] <= max_seconds else None
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        size = len(json.dumps(summary.to_dict()))
        rows.append(
            [
                str(n),
                str(sum(len(d.sentences) for d in docs)),
                f"{statistics.median(times):.2f}",
                f"{float(np.percentile(times, 95)):.2f}",
                f"{peak:.0f}" if times[-1] <= max_seconds else "-",
                str(len(summary.consensus)),
                str(sum(len(u.facts) for u in summary.unique)),
                f"{size / 1024:.0f}",
            ]
        )
        if times[-1] > max_seconds:
            break
    return rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [
            line(header),
            "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(line(r) for r in rows),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=Path("/work/shared/benchmarks"))
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/storyfold/summaries")
    parser.add_argument("--sizes", default="10,50,200,1000")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--only", default="", help="story name prefixes, e.g. giveme,seeds")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--show", action="store_true", help="print each failed check")
    args = parser.parse_args()
    from embedding.torch_backend import shared_embedder

    cache = VectorCache(shared_embedder().encode, args.cache)
    if not args.skip_quality:
        stories = load_stories(args.data, args.seeds)
        if args.only:
            prefixes = tuple(args.only.split(","))
            stories = {k: v for k, v in stories.items() if k.startswith(prefixes)}
        rows = quality(stories, cache, args.show)
        parts = sorted(rows)
        metrics = list(next(iter(rows.values())))
        print(
            table(["metric", *parts], [[m, *(f"{rows[p][m]:.3g}" for p in parts)] for m in metrics])
        )
        print()
    if not args.skip_cost:
        sizes = [int(s) for s in args.sizes.split(",")]
        print(
            table(
                [
                    "articles",
                    "sentences",
                    "p50 s",
                    "p95 s",
                    "peak MiB",
                    "consensus",
                    "unique",
                    "summary KiB",
                ],
                cost(sizes, cache, args.max_seconds),
            )
        )


if __name__ == "__main__":
    main()
