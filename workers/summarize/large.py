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

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from workers.summarize.align import Alignment, align
from workers.summarize.source import SourceDoc
from workers.summarize.units import FactUnit, Story

# Sentences aligned pairwise: ~60 ordinary articles; the matrices of pair scores it needs take
# about 100 MB at this size, ~1 s of work on one core.
CORE_SENTENCES = 1500
# Average cosine (clause vector against a fact's members) at which a later clause reports the
# fact: alignment's same-fact score, without the lexical corrections it cannot afford here.
ATTACH_COSINE = 0.7

_EARLIEST = datetime.min.replace(tzinfo=UTC)
# Alignments of the cores of this many big stories, kept by the process: once a story's core is
# full it no longer changes as articles arrive (split_core), so its alignment, the one part whose
# cost grows with the square of the core, is computed once per worker instead of on every update.
# ~14 MB each (the pair-score matrix of a 1,000-sentence core).
CORES_KEPT = 4
_cores: OrderedDict[bytes, Alignment] = OrderedDict()


def align_core(core: Story) -> Alignment:
    """align(core), remembered for the last CORES_KEPT big stories. The key covers everything
    build_story reads (every doc's id, outlet, copy link, date, sentences and vectors), so a
    changed core (an article dated earlier arriving, a doc's remaining vectors embedded) is
    aligned afresh: the memo never changes what a summary says, only when it is computed."""
    digest = hashlib.blake2b(digest_size=16)
    for d in core.docs:
        fields = (d.article_id, d.source, d.duplicate_of, d.published_at, d.title, d.sentences)
        digest.update(repr(fields).encode())
        digest.update(repr(d.vectors.shape).encode() + d.vectors.tobytes())
    key = digest.digest()
    found = _cores.get(key)
    if found is None:
        found = _cores[key] = align(core)
        found.scores.setflags(write=False)  # shared by later summaries: nobody may change it
        while len(_cores) > CORES_KEPT:
            _cores.popitem(last=False)
    else:
        _cores.move_to_end(key)
    return found


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
