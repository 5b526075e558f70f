"""Bounded cost for stories of hundreds of articles.

Alignment compares every clause with every other: its time and memory grow with the square of the
story's clauses. A story is therefore read in two parts: its core, the earliest articles up to
CORE_SENTENCES sentences, aligned pairwise as before; and the rest, each of whose clauses is
compared only with the chosen consensus facts' centroids (one dot product per fact), so that each
article beyond the core costs work in proportion to its own length. The later articles still
count: they back or vary the consensus lines (under the same citation check), they are counted
among the outlets, but their own facts are not itemised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from workers.summarize.source import SourceDoc
from workers.summarize.units import FactUnit

# Sentences aligned pairwise: ~60 ordinary articles; the matrices of pair scores it needs take
# about 100 MB at this size, ~1 s of work on one core.
CORE_SENTENCES = 1500
# Average cosine (clause vector against a fact's members) at which a later clause reports the
# fact: alignment's same-fact score, without the lexical corrections it cannot afford here.
ATTACH_COSINE = 0.7

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def split_core(docs: Sequence[SourceDoc]) -> tuple[list[SourceDoc], list[SourceDoc]]:
    """(core, later): the earliest articles (by publication, then id) up to CORE_SENTENCES, so the
    core of a growing story does not change as later articles arrive. Near-duplicate copies stay
    with the core: they add no clauses, only credit to their original."""
    originals = [d for d in docs if not d.duplicate_of]
    if sum(len(d.sentences) for d in originals) <= CORE_SENTENCES:
        return list(docs), []
    ordered = sorted(originals, key=lambda d: (d.published_at or _EARLIEST, d.article_id))
    core: list[SourceDoc] = []
    total = 0
    for doc in ordered:
        if len(core) >= 2 and total + len(doc.sentences) > CORE_SENTENCES:
            break
        core.append(doc)
        total += len(doc.sentences)
    core_ids = {d.article_id for d in core}
    later = [d for d in ordered if d.article_id not in core_ids]
    return core + [d for d in docs if d.duplicate_of], later


def attach(
    later: Sequence[FactUnit],
    later_vectors: npt.NDArray[np.float32],
    fact_vectors: Sequence[npt.NDArray[np.float32]],
) -> list[list[FactUnit]]:
    """For each fact (its members' vectors), the later clauses that report it: those whose
    average cosine with the fact's members is ATTACH_COSINE or more, each to its best fact."""
    found: list[list[FactUnit]] = [[] for _ in fact_vectors]
    if not later or not fact_vectors:
        return found
    centroids = np.vstack([v.mean(axis=0) for v in fact_vectors]).astype(np.float32)
    for start in range(0, len(later), 2048):  # bounded memory
        scores = later_vectors[start : start + 2048] @ centroids.T
        best = scores.argmax(axis=1)
        for k in np.flatnonzero(scores[np.arange(len(best)), best] >= ATTACH_COSINE):
            found[int(best[k])].append(later[start + int(k)])
    return found
