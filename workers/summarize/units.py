"""Fact units: the clauses of every article's sentences, with what alignment needs to know.

A unit is a full clause (most often a whole sentence). It borrows its sentence's vector — the
summariser may not call the model — and carries its own surface features, which tell apart the
two facts of a sentence that joins them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain

import numpy as np
import numpy.typing as npt

from workers.summarize.clauses import split_clauses
from workers.summarize.source import SourceDoc
from workers.summarize.text import (
    MEMO_SIZE,
    acronyms_used,
    capitalised_inside_sentences,
    content_stems,
    names,
    quote_share,
    without_attribution,
)
from workers.summarize.values import Values, parse_values


@dataclass(frozen=True)
class FactUnit:
    index: int  # position in the story's unit list
    doc: SourceDoc
    outlet: str  # the independent source: near-duplicates resolve to the copied doc's source
    sentence_index: int
    clause_index: int
    clause_count: int
    position: float  # 0 = the article's first sentence, 1 = its last
    text: str  # the clause
    sentence: str  # the sentence it comes from
    stems: frozenset[str]
    names: frozenset[str]
    values: Values
    quote_share: float

    @property
    def is_whole_sentence(self) -> bool:
        return self.clause_count == 1


@dataclass(frozen=True)
class Story:
    docs: list[SourceDoc]  # sorted by article_id, for deterministic output
    units: list[FactUnit]
    vectors: npt.NDArray[np.float32]  # one (sentence) vector per unit
    outlets: list[str]  # independent sources, sorted
    copies: dict[str, list[str]]  # article_id -> article_ids of its near-duplicates
    stem_weight: dict[str, float]  # rarity of a content word across the story's units
    name_weight: dict[str, float]  # rarity of a named thing across the story's units


def build_story(docs: Sequence[SourceDoc]) -> Story:
    ordered = sorted(docs, key=lambda d: d.article_id)
    by_id = {d.article_id: d for d in ordered}
    copies: dict[str, list[str]] = {}
    originals: list[SourceDoc] = []
    for doc in ordered:
        original = _original(doc, by_id)
        if original is doc:
            originals.append(doc)
        else:
            copies.setdefault(original.article_id, []).append(doc.article_id)

    texts = [s for doc in originals for s in doc.sentences]
    capitalised, acronyms = capitalised_inside_sentences(texts), acronyms_used(texts)
    units: list[FactUnit] = []
    blocks: list[npt.NDArray[np.float32]] = []
    for doc in originals:
        last = max(len(doc.sentences) - 1, 1)
        offset = _offset(doc.published_at)  # once per doc: utcoffset() is not free
        rows: list[int] = []
        # A sentence without a vector (a doc whose vectors were cut short) cannot be aligned.
        for s_index, sentence in enumerate(doc.sentences[: len(doc.vectors)]):
            clauses = _clauses(sentence)
            for c_index, clause in enumerate(clauses):
                found = _clause_features(clause, doc.published_at, offset)
                units.append(
                    FactUnit(
                        index=len(units),
                        doc=doc,
                        outlet=doc.source,
                        sentence_index=s_index,
                        clause_index=c_index,
                        clause_count=len(clauses),
                        position=s_index / last,
                        text=clause,
                        sentence=sentence,
                        stems=found.stems,
                        names=names(found.unattributed, capitalised, acronyms),
                        values=found.values,
                        quote_share=found.quote_share,
                    )
                )
                rows.append(s_index)
        if rows:
            blocks.append(np.asarray(doc.vectors, dtype=np.float32)[rows])
    matrix = np.vstack(blocks) if blocks else np.zeros((0, 1), dtype=np.float32)
    outlets = sorted({u.outlet for u in units})
    return Story(
        docs=ordered,
        units=units,
        vectors=matrix,
        outlets=outlets,
        copies=copies,
        stem_weight=_rarity([u.stems for u in units]),
        name_weight=_rarity([u.names for u in units]),
    )


def value_tokens(values: Values) -> frozenset[str]:
    """Values as words for the lexical comparison: two clauses that count the same thing, or give
    the same count, share a word the way they share "hospitalized". Marked with "#" so they are
    never mistaken for prose."""
    tokens = {f"#{q.slot}" for q in values.quantities}
    tokens |= {f"#{q.slot}={q.low:g}-{q.high:g}" for q in values.quantities}
    tokens |= {f"#day={d.day or d.weekday}" for d in values.days}
    tokens |= {f"#since={v.year}-{v.month}" for v in values.since}
    return frozenset(tokens)


# A worker summarises a growing story again with each new article, so most clauses it reads it
# has read before: what a sentence or clause yields on its own is remembered (text.MEMO_SIZE).
@lru_cache(maxsize=MEMO_SIZE)
def _clauses(sentence: str) -> tuple[str, ...]:
    return tuple(split_clauses(sentence))


@dataclass(frozen=True)
class _ClauseFeatures:
    unattributed: str  # the clause without "according to …" / ", … said"
    stems: frozenset[str]
    values: Values
    quote_share: float


def _offset(published: datetime | None) -> timedelta | None:
    return published.utcoffset() if published else None


@lru_cache(maxsize=MEMO_SIZE)
def _clause_features(
    clause: str, published: datetime | None, offset: timedelta | None
) -> _ClauseFeatures:
    """What a clause says on its own. `offset` only completes the key: two aware datetimes are
    equal when they are the same instant, but they may fall on different dates (which weekday
    resolution reads) when their UTC offsets differ."""
    unattributed = without_attribution(clause)
    values = parse_values(clause, published)
    return _ClauseFeatures(
        unattributed=unattributed,
        stems=content_stems(unattributed) | value_tokens(values),
        values=values,
        quote_share=quote_share(clause),
    )


def _original(doc: SourceDoc, by_id: dict[str, SourceDoc]) -> SourceDoc:
    seen = {doc.article_id}
    while doc.duplicate_of and doc.duplicate_of in by_id and doc.duplicate_of not in seen:
        doc = by_id[doc.duplicate_of]
        seen.add(doc.article_id)
    return doc


def _rarity(features: list[frozenset[str]]) -> dict[str, float]:
    """Inverse document frequency over the story's units, scaled to 0..1: 1 for a word one clause
    uses, near 0 for one nearly every clause uses. Words the whole story repeats ("Putin", "call")
    say nothing about which fact a clause states; words few clauses use ("ceasefire", "Izhevsk")
    do."""
    count = Counter(chain.from_iterable(features))  # first-seen order, as a dict keeps it
    total = max(len(features), 2)
    span = math.log(total)
    return {item: math.log(total / n) / span for item, n in count.items()}


def outlets_of(units: Sequence[FactUnit]) -> list[str]:
    return sorted({u.outlet for u in units})
