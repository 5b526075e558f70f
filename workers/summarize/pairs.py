"""The lexical and clash corrections of alignment's pair scores, for many clause pairs at once.

Alignment corrects the cosine of every reachable cross-outlet pair; visited one pair at a time in
Python that was most of the summariser's time. Here each correction is computed for arrays of
pairs (`first[k]`, `second[k]`) with the same floating-point operations, in the same order, as
the per-pair definition in each docstring, so the scores come out bit for bit as before:

- a sum of one or two weights does not depend on the order it is added in, so numpy may add
  those; a pair whose sum has three or more terms is summed in Python, over the same set, in the
  same order as the per-pair definition (so `first` < `second`: a pair's sets are intersected
  lower index first, as before);
- a pair with nothing to leave out of a sum gets the clause's whole sum, computed once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from workers.summarize.units import FactUnit

Pairs = npt.NDArray[np.intp]


def shares_of_sentence(units: Sequence[FactUnit]) -> npt.NDArray[np.float64]:
    """Each clause's share of its sentence's content words (1 for a whole sentence); a sentence
    whose clauses have no content words splits evenly."""
    siblings: dict[tuple[int, int], list[int]] = {}  # (doc, sentence) -> its clauses' stem counts
    for unit in units:
        siblings.setdefault((id(unit.doc), unit.sentence_index), []).append(len(unit.stems))
    shares = []
    for unit in units:
        if unit.is_whole_sentence:
            shares.append(1.0)
            continue
        counts = siblings[(id(unit.doc), unit.sentence_index)]
        total = sum(counts)
        shares.append(len(unit.stems) / total if total else 1.0 / len(counts))
    return np.array(shares)


def lexical(
    units: Sequence[FactUnit], weight: dict[str, float], first: Pairs, second: Pairs
) -> npt.NDArray[np.float64]:
    """Rarity-weighted Dice overlap of the pairs' content words; per pair (a, b):
    shared = sum(weight[s] for s in a.stems & b.stems)
    total = sum(weight[s] for s in a.stems) + sum(weight[s] for s in b.stems)
    2.0 * shared / total if total > 0 else 0.0"""
    n = len(units)
    column = {s: k for k, s in enumerate(weight)}
    weights = np.array(list(weight.values()))
    # Words every clause uses weigh 0 and add nothing (x + 0.0 == x): left out of the counts.
    rows = [[column[s] for s in u.stems if weight[s] != 0.0] for u in units]
    a, b, col = _sharing(rows, len(column))
    key = a * n + b
    shared_all = np.bincount(key, weights=weights[col], minlength=n * n)
    terms_all = np.bincount(key, minlength=n * n)
    shared = shared_all[first * n + second]
    for k in np.flatnonzero(terms_all[first * n + second] >= 3):
        u, v = units[first[k]], units[second[k]]
        shared[k] = sum(weight[s] for s in u.stems & v.stems)
    totals = np.array([sum(weight[s] for s in u.stems) for u in units])
    total = totals[first] + totals[second]
    with np.errstate(divide="ignore", invalid="ignore"):
        result: npt.NDArray[np.float64] = np.where(total > 0, 2.0 * shared / total, 0.0)
    return result


def _sharing(rows: list[list[int]], width: int) -> tuple[Pairs, Pairs, Pairs]:
    """Every (row a, row b, column) with a < b and the column in both rows."""
    row = np.array([r for r, cols in enumerate(rows) for _ in cols], dtype=np.intp)
    col = np.array([c for cols in rows for c in cols], dtype=np.intp)
    order = np.argsort(col, kind="stable")  # by column, rows ascending within one
    row, col = row[order], col[order]
    group_size = np.bincount(col, minlength=width)[col]
    group_start = np.searchsorted(col, col, side="left")
    later = group_size - 1 - (np.arange(col.size) - group_start)  # entries after it in its column
    entry = np.repeat(np.arange(col.size), later)
    block_start = np.repeat(np.cumsum(later) - later, later)
    partner = entry + 1 + (np.arange(entry.size) - block_start)
    return row[entry], row[partner], col[entry]


def clash(
    units: Sequence[FactUnit], found: Sequence[dict[str, float]], first: Pairs, second: Pairs
) -> npt.NDArray[np.float64]:
    """Evidence that two clauses are about different things: both name particulars the other
    lacks. Per pair (a, b), with pa, pb their particulars (`found`):
    only_a = sum(w for k, w in pa.items() if k not in pb and k not in b.names)
    only_b = sum(w for k, w in pb.items() if k not in pa and k not in a.names)
    min(only_a, only_b)"""
    n = len(units)
    # With nothing of a's in b, only_a is a's whole sum, which no pair has to recompute.
    only = np.repeat(np.array([sum(p.values()) for p in found], dtype=np.float64)[:, None], n, 1)
    holds: dict[str, list[int]] = {}  # particular -> the clauses that name or count it
    for index, (unit, p) in enumerate(zip(units, found, strict=True)):
        for key in set(p) | unit.names:
            holds.setdefault(key, []).append(index)
    wanted = np.zeros((n, n), dtype=bool)
    wanted[first, second] = wanted[second, first] = True
    for x, p in enumerate(found):
        for y in {y for key in p for y in holds[key] if y != x and wanted[x, y]}:
            pb, b = found[y], units[y]
            only[x, y] = sum(w for key, w in p.items() if key not in pb and key not in b.names)
    result: npt.NDArray[np.float64] = np.minimum(only[first, second], only[second, first])
    return result


def counts_disagree_pairs(
    units: Sequence[FactUnit], first: Pairs, second: Pairs
) -> npt.NDArray[np.bool_]:
    """counts_disagree for each pair; only clauses that count the same thing can disagree."""
    by_slot: dict[str, list[FactUnit]] = {}
    for unit in units:
        for slot in {q.slot for q in unit.values.quantities if q.slot.startswith("count:")}:
            by_slot.setdefault(slot, []).append(unit)
    disagree = np.zeros((len(units), len(units)), dtype=bool)
    for counting in by_slot.values():
        for k, a in enumerate(counting):
            for b in counting[k + 1 :]:
                if counts_disagree(a, b):  # symmetric: meets() is
                    disagree[a.index, b.index] = disagree[b.index, a.index] = True
    result: npt.NDArray[np.bool_] = disagree[first, second]
    return result


def counts_disagree(a: FactUnit, b: FactUnit) -> bool:
    """Both count the same thing, with numbers that cannot both be true."""
    return any(
        qa.slot == qb.slot and qa.slot.startswith("count:") and not qa.meets(qb)
        for qa in a.values.quantities
        for qb in b.values.quantities
    )
