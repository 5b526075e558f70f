"""Consensus: the facts several independent outlets report, each told once, in a readable form."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from core.summary import ConsensusFact
from workers.summarize.align import (
    AVERAGE_MARGIN,
    NOT_REPORTED_ELSEWHERE,
    SAME_FACT,
    Alignment,
    particulars,
)
from workers.summarize.text import MEMO_SIZE, words
from workers.summarize.units import FactUnit, Story
from workers.summarize.wording import Said, choose_wording, without_days

__all__ = ["ChosenFact", "choose_facts", "readability", "readable", "without_days", "word_facts"]

# Enough to tell a story's shared core; beyond this a reader wants the article, not a summary.
MAX_CONSENSUS = 12
# Other wordings shown with a line: enough to see how the outlets differ; `support` counts all.
MAX_VARIANTS = 8
# Worth of concreteness against centrality (a cosine, ~0.5-0.9 here): enough to reorder facts of
# equal support whose centrality differs by less than it.
_SPECIFICITY_WEIGHT = 0.2
# Length a summary line reads best at: shorter clauses lack context, longer ones carry extra facts
# the group does not share.
_IDEAL_WORDS = (8, 35)
_PRONOUN_START = frozenset(
    ["he", "she", "they", "it", "this", "these", "those", "his", "her", "their", "its"]
)
_CONNECTOR_RE = re.compile(
    r"^(?:However|But|Meanwhile|Nevertheless|Nonetheless|Still|Also|Moreover|Furthermore|"
    r"Yet|And|So|Indeed|In addition),?\s+"
)


@dataclass
class _Fact:
    units: list[int]
    outlets: set[str]


@dataclass(frozen=True)
class ChosenFact:
    """A consensus line as the story's core decides it: its clauses there, best-reading first.
    What the articles beyond a big story's core add to it is read per line (large.py)."""

    units: tuple[int, ...]  # the core's clauses stating it
    ranked: tuple[Said, ...]  # the same clauses, the best spokesman for the line first
    main: bool  # the story's main event: the first line


def choose_facts(
    story: Story, alignment: Alignment, contested: frozenset[int], lead: Sequence[int] = ()
) -> list[ChosenFact]:
    """The facts worth a consensus line, the main event (`lead`, lead.py) first: facts several
    independent outlets report, each told once."""
    lead_set = set(lead)
    main = _Fact(sorted(lead_set), {story.units[i].outlet for i in lead_set}) if lead else None
    facts: list[_Fact] = []
    for group in alignment.groups:
        if main is not None and lead_set.intersection(group):
            # Alignment found more of the lead's paraphrases: one fact.
            main.units = sorted(set(main.units) | set(group))
            main.outlets |= {story.units[i].outlet for i in group}
        else:
            facts.append(_Fact(list(group), {story.units[i].outlet for i in group}))
    facts = [f for f in facts if len(f.outlets) >= 2]
    centre = _unit(story.vectors.mean(axis=0)) if len(story.units) else np.zeros(1)

    def relevance(fact: _Fact) -> tuple[int, float]:
        # Support first (how many independent outlets), then centrality (how close the fact is to
        # the story's centre of gravity) plus specificity (names, numbers, dates): among facts
        # equally supported, a concrete one near the story's core beats a vague generality.
        centroid = _unit(story.vectors[fact.units].mean(axis=0))
        return len(fact.outlets), float(centroid @ centre) + _specificity(fact.units, story)

    chosen: list[_Fact] = [main] if main is not None else []
    for fact in sorted(facts, key=lambda f: (relevance(f), -f.units[0]), reverse=True):
        # Maximal marginal relevance in its strict form, most relevant first: a fact that says
        # again what a chosen one says is folded into it (its outlets back the chosen wording);
        # one that a chosen fact mostly covers (it would be "reported elsewhere" in the summary
        # itself) is left out; the rest are listed.
        # Each chosen fact's pair scores with this one, read once for both tests.
        blocks = [_cross_scores(c.units, fact.units, alignment) for c in chosen]
        twin = next((c for c, block in zip(chosen, blocks, strict=True) if _same_fact(block)), None)
        if twin is not None:
            twin.units.extend(fact.units)
            twin.outlets |= fact.outlets
        elif any(_overlap(block) >= NOT_REPORTED_ELSEWHERE for block in blocks):
            continue
        elif len(chosen) < MAX_CONSENSUS:
            chosen.append(fact)
    return [
        ChosenFact(
            units=tuple(fact.units),
            ranked=tuple(
                Said.of(story.units[i], readable(story.units[i].text))
                for i in sorted(
                    fact.units,
                    key=lambda i: (-_quality(i, fact.units, story, alignment, contested), i),
                )
            ),
            main=fact is main,
        )
        for fact in chosen
    ]


def word_facts(
    chosen: Sequence[ChosenFact],
    extras: Sequence[Sequence[Said]],
    copies: Mapping[str, list[str]],
    source_of: Mapping[str, str],
) -> tuple[list[ConsensusFact], set[int]]:
    """The consensus lines, reading order; and the core units they show (as wording, backers or
    variants), which are nobody's unique fact. `extras`: per chosen fact, the clauses of a big
    story's articles beyond its core that report it (large.py): they back or vary the line.
    `copies`: article_id -> its near-duplicates' ids; `source_of`: article_id -> outlet."""
    results: list[tuple[float, int, ConsensusFact]] = []
    shown: set[int] = set()
    for fact, extra in zip(chosen, extras, strict=True):
        members = [*fact.ranked, *extra]
        wording = choose_wording(members)
        if len({u.outlet for u in wording.backers}) + len(wording.variants) < 2:
            continue
        shown.update(fact.units)
        article_ids = sorted(
            {u.doc.article_id for u in wording.backers}
            | {c for u in wording.backers for c in copies.get(u.doc.article_id, [])}
        )
        sources = sorted({source_of[a] for a in article_ids})
        backing = {u.outlet for u in wording.backers}
        # Reading order: the main event first, then what the articles report first (the lede
        # before background).
        position = -1.0 if fact.main else float(np.mean([s.unit.position for s in members]))
        results.append(
            (
                position,
                -(len(backing) + len(wording.variants)),
                ConsensusFact(
                    text=wording.text,
                    sources=sources,
                    support=len(backing) + len(wording.variants),
                    article_ids=article_ids,
                    variants=wording.variants[:MAX_VARIANTS],
                ),
            )
        )
    results.sort(key=lambda r: (r[0], r[1], r[2].text))
    return [fact for _, _, fact in results], shown


def _specificity(group: list[int], story: Story) -> float:
    """Up to _SPECIFICITY_WEIGHT for groups whose members name particular things and values."""
    counts = [
        min(len(particulars(story.units[i], story)) + value_count(story.units[i]), 3) for i in group
    ]
    return _SPECIFICITY_WEIGHT * float(np.mean(counts)) / 3.0


def value_count(unit: FactUnit) -> int:
    values = unit.values
    return len(values.days) + len(values.since) + len(values.quantities)


def _cross_scores(a: list[int], b: list[int], alignment: Alignment) -> npt.NDArray[np.float64]:
    """Pair scores between two groups' clauses of different outlets."""
    block = alignment.scores[np.ix_(a, b)]
    finite: npt.NDArray[np.float64] = block[np.isfinite(block)]
    return finite


def _overlap(finite: npt.NDArray[np.float64]) -> float:
    """Mean pair score between two groups' clauses of different outlets."""
    return float(finite.mean()) if finite.size else 0.0


def _same_fact(finite: npt.NDArray[np.float64]) -> bool:
    if finite.size == 0:
        return False
    return bool(finite.max() >= SAME_FACT and finite.mean() >= SAME_FACT - AVERAGE_MARGIN)


def _quality(
    index: int, group: list[int], story: Story, alignment: Alignment, contested: frozenset[int]
) -> float:
    """How well a member speaks for its group: close to the others (it states what they share)
    and readable on its own."""
    others = alignment.scores[index, [j for j in group if j != index]]
    finite = others[np.isfinite(others)]
    agreement = float(finite.mean()) if finite.size else 0.0
    return agreement + readability(story.units[index]) - (0.3 if index in contested else 0.0)


def readability(unit: FactUnit) -> float:
    """0 for a clean, self-contained statement of reasonable length; negative otherwise."""
    return _readability(unit.text, unit.quote_share)


# Asked for every candidate clause each time a story is summarised again (text.MEMO_SIZE).
@lru_cache(maxsize=MEMO_SIZE)
def _readability(clause: str, quote_share: float) -> float:
    text = readable(clause)
    count = len(words(text))
    score = 0.0
    if count < _IDEAL_WORDS[0]:
        score -= 0.02 * (_IDEAL_WORDS[0] - count)
    if count > _IDEAL_WORDS[1]:
        score -= 0.01 * (count - _IDEAL_WORDS[1])
    first = words(text)[0].lower() if count else ""
    if first in _PRONOUN_START:
        score -= 0.15  # "He reiterated …" needs the sentence before it
    if quote_share > 0.5:
        score -= 0.2  # mostly someone's words: a fragment of a statement, not the fact
    return score


def readable(text: str) -> str:
    """Drop a leading discourse connector ("However, …") that only made sense in the article."""
    stripped = _CONNECTOR_RE.sub("", text.strip())
    return stripped[:1].upper() + stripped[1:] if stripped else text


def _unit(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
