"""Bounded cost for stories of hundreds of articles.

Alignment compares every clause with every other: its time and memory grow with the square of the
story's clauses. A story is therefore read in two parts: its core, the earliest articles up to
CORE_SENTENCES sentences, aligned pairwise (parts.py); and the rest, each of whose clauses is
compared only with the chosen consensus facts' centroids (one dot product per fact), so that each
article beyond the core costs work in proportion to its own length. The later articles still
count: they back or vary the consensus lines (under the same citation check), they are counted
among the outlets, but their own facts are not itemised.

Once full, a core no longer changes as articles arrive, and what one later article adds depends
only on that core and the article: memo.py keeps both, so an update reads and compares the new
article alone.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from workers.summarize.consensus import readable
from workers.summarize.source import SourceDoc
from workers.summarize.units import FactUnit, build_story
from workers.summarize.wording import Said

# Sentences aligned pairwise: ~60 ordinary articles; the matrices of pair scores it needs take
# about 100 MB at this size, ~1 s of work on one core.
CORE_SENTENCES = 1500
# Average cosine (clause vector against a fact's members) at which a later clause reports the
# fact: alignment's same-fact score, without the lexical corrections it cannot afford here.
ATTACH_COSINE = 0.7

_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Member(Protocol):
    """An article of a story as far as choosing its core goes: known without its text (a
    SourceDoc, or the storage's member record)."""

    @property
    def article_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def duplicate_of(self) -> str | None: ...
    @property
    def sentence_count(self) -> int: ...
    @property
    def vector_rows(self) -> int: ...


M = TypeVar("M", bound=Member)


def identity(member: Member) -> Hashable:
    """What tells one stored version of an article from another: an article's clean sentences
    and their vectors are written once, so these fields stand for its text in the memo."""
    return (
        member.article_id,
        member.source,
        member.title,
        member.published_at,
        member.duplicate_of,
        member.sentence_count,
        member.vector_rows,
    )


def split_core(docs: Sequence[M]) -> tuple[list[M], list[M]]:
    """(core, later): the earliest articles (by publication, then id) up to CORE_SENTENCES, so the
    core of a growing story does not change as later articles arrive. Near-duplicate copies stay
    with the core: they add no clauses, only credit to their original. `later` is in article_id
    order, the order their clauses are read in."""
    originals = [d for d in docs if not d.duplicate_of]
    if sum(d.sentence_count for d in originals) <= CORE_SENTENCES:
        return list(docs), []
    ordered = sorted(originals, key=lambda d: (d.published_at or _EARLIEST, d.article_id))
    core: list[M] = []
    total = 0
    for doc in ordered:
        if len(core) >= 2 and total + doc.sentence_count > CORE_SENTENCES:
            break
        core.append(doc)
        total += doc.sentence_count
    core_ids = {d.article_id for d in core}
    later = sorted((d for d in ordered if d.article_id not in core_ids), key=lambda d: d.article_id)
    return core + [d for d in docs if d.duplicate_of], later


@dataclass(frozen=True)
class LaterFacts:
    """What one article beyond the core adds: per consensus fact of the core, its clauses that
    report it (their doc kept without vectors: only its words are read from here on)."""

    source: str
    has_clauses: bool  # it counts among the story's outlets
    by_fact: tuple[tuple[Said, ...], ...]


def later_facts(doc: SourceDoc, centroids: npt.NDArray[np.float32]) -> LaterFacts:
    """`centroids`: one row per consensus fact of the core (parts.CorePart.centroids)."""
    own = build_story([doc])
    found = attach(own.units, own.vectors, centroids)
    slim = replace(doc, vectors=np.zeros((0, doc.vectors.shape[1]), np.float32))
    return LaterFacts(
        source=doc.source,
        has_clauses=bool(own.units),
        by_fact=tuple(
            tuple(Said.of(replace(u, doc=slim), readable(u.text)) for u in units) for units in found
        ),
    )


def attach(
    later: Sequence[FactUnit],
    later_vectors: npt.NDArray[np.float32],
    centroids: npt.NDArray[np.float32],
) -> list[list[FactUnit]]:
    """For each fact (a row of `centroids`: the mean of its members' vectors), the later clauses
    that report it: those whose average cosine with the fact's members is ATTACH_COSINE or more,
    each to its best fact."""
    found: list[list[FactUnit]] = [[] for _ in range(len(centroids))]
    if not later or not len(centroids):
        return found
    for start in range(0, len(later), 2048):  # bounded memory
        scores = later_vectors[start : start + 2048] @ centroids.T
        best = scores.argmax(axis=1)
        for k in np.flatnonzero(scores[np.arange(len(best)), best] >= ATTACH_COSINE):
            found[int(best[k])].append(later[start + int(k)])
    return found
