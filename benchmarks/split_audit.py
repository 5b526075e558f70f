"""Which of the repair's name splits were right: each split labelled against the dev set's events.

    .venv/bin/python -m benchmarks.split_audit /work/shared/benchmarks [--dataset ecbplus] \
        [--max-cos 0.85] [--min-group 4] [--cover 0.5] [--repair-every 200]

Streams the set through benchmarks.clustering's loop (the product's assignment, a repair every
--repair-every articles, cached onnx-int8 vectors) and watches workers.name_split.with_name_splits:
a split is **right** when the reports that left are mostly of another event than the story they
left (majority event of each side, after the repair's plan), **wrong** when both sides are mostly
the same event (one event cut in two). Also counted: merges back the split vetoed. Prints one line
per split and a summary table with the run's BCubed scores.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

import benchmarks.clustering as bc
from benchmarks.datasets import LOADERS, embed
from workers.assign.scoring import AssignParams
from workers.name_split import NameSplitParams, with_name_splits
from workers.repair import RepairParams, RepairPlan

console = Console()


def _no_model(_: object) -> npt.NDArray[np.float32]:
    raise SystemExit("vectors not cached: run benchmarks.clustering on this set first")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir", type=Path)
    p.add_argument("--dataset", default="ecbplus", choices=sorted(LOADERS))
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache/storyfold/bench/onnx-int8")
    shipped = NameSplitParams()
    p.add_argument("--max-cos", type=float, default=shipped.max_cos)
    p.add_argument("--min-group", type=int, default=shipped.min_group)
    p.add_argument("--cover", type=float, default=shipped.cover)
    p.add_argument("--repair-every", type=int, default=bc.REPAIR_EVERY)
    args = p.parse_args(argv)

    ds = embed(LOADERS[args.dataset](args.data_dir), _no_model, args.cache)
    events = ds.labels
    chosen = NameSplitParams(min_group=args.min_group, cover=args.cover, max_cos=args.max_cos)
    count: Counter[str] = Counter()
    repairs = [0]

    def audited(plan: RepairPlan, current: Mapping[str, str], names: Mapping[str, frozenset[str]],
                vectors: Mapping[str, npt.NDArray[np.float32]], new_id: Callable[[], str],
                params: NameSplitParams = chosen) -> RepairPlan:
        out = with_name_splits(plan, current, names, vectors, new_id, params)
        repairs[0] += 1
        after = out.apply(current)
        for child, parent in sorted(out.splits.items()):
            if child in plan.splits:  # reconcile's own split, not the name split's
                continue
            left = Counter(events[int(a)] for a, s in after.items() if s == child)
            stayed = Counter(events[int(a)] for a, s in after.items() if s == parent)
            right = not stayed or left.most_common(1)[0][0] != stayed.most_common(1)[0][0]
            count["right" if right else "wrong"] += 1
            console.print(f"repair {repairs[0]}: {parent} -> {child} {'right' if right else 'WRONG'}"
                          f"  left {dict(left)}  stayed {dict(stayed)}")
        count["merges vetoed"] += len(set(plan.merges) - set(out.merges))
        return out

    # The loop looks with_name_splits up in its own module at each repair.
    bc.with_name_splits = audited  # type: ignore[attr-defined]  # (imported there, not exported)
    run = bc.storyfold(bc.vectors(ds), [d.ts for d in ds.docs], ds.leads, AssignParams(),
                       RepairParams(), args.repair_every, False, "", titles=ds.titles, split=chosen)
    prec, rec, f1 = bc.bcubed(events, run.labels)
    t = Table(title=f"Name splits on {args.dataset} (max_cos {chosen.max_cos}, min_group "
                    f"{chosen.min_group}, cover {chosen.cover}; {run.repairs} repairs)")
    for col in ("splits", "right", "wrong (one event cut)", "merges vetoed", "B3 P", "B3 R", "B3 F1"):
        t.add_column(col, justify="right")
    t.add_row(str(count["right"] + count["wrong"]), str(count["right"]), str(count["wrong"]),
              str(count["merges vetoed"]), f"{prec:.3f}", f"{rec:.3f}", f"{f1:.3f}")
    console.print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
