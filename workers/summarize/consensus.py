"""Consensus: the facts several independent outlets report, each told once, in a readable form."""

from __future__ import annotations

import re
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
from workers.summarize.dates import WEEKDAYS, days_agree, parse_dates
from workers.summarize.text import MEMO_SIZE, words
from workers.summarize.units import FactUnit, Story

# Enough to tell a story's shared core; beyond this a reader wants the article, not a summary.
MAX_CONSENSUS = 12
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


def consensus_facts(
    story: Story, alignment: Alignment, contested: frozenset[int]
) -> list[ConsensusFact]:
    facts = [_Fact(list(g), {story.units[i].outlet for i in g}) for g in alignment.groups]
    facts = [f for f in facts if len(f.outlets) >= 2]
    centre = _unit(story.vectors.mean(axis=0)) if len(story.units) else np.zeros(1)

    def relevance(fact: _Fact) -> tuple[int, float]:
        # Support first (how many independent outlets), then centrality (how close the fact is to
        # the story's centre of gravity) plus specificity (names, numbers, dates): among facts
        # equally supported, a concrete one near the story's core beats a vague generality.
        centroid = _unit(story.vectors[fact.units].mean(axis=0))
        return len(fact.outlets), float(centroid @ centre) + _specificity(fact.units, story)

    chosen: list[_Fact] = []
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

    results: list[tuple[float, int, ConsensusFact]] = []
    for fact in chosen:
        best = max(
            fact.units, key=lambda i: (_quality(i, fact.units, story, alignment, contested), -i)
        )
        # A member holding the minority side of a conflict (it says "Monday" where the others
        # say "Tuesday") does not back a wording that commits to the other side. Where only the
        # day is in dispute, the day is left out of the wording (the conflicts say who said
        # which) and every outlet backs the rest; otherwise the dissenter is cited in the
        # conflict only, never under a sentence its outlet contradicts.
        rep = story.units[best]
        text = readable(rep.text)
        dissent = [
            i
            for i in fact.units
            if i in contested
            and best not in contested
            and _commits_to_same_kind(rep, story.units[i])
        ]
        if dissent and all(_only_days_differ(rep, story.units[i]) for i in dissent):
            undated = without_days(text)
            if undated != text and not parse_dates(undated, None)[0]:
                text, dissent = undated, []
        members = [story.units[i] for i in fact.units if i not in dissent]
        article_ids = sorted(
            {u.doc.article_id for u in members}
            | {c for u in members for c in story.copies.get(u.doc.article_id, [])}
        )
        sources = sorted({d.source for d in story.docs if d.article_id in article_ids})
        position = float(np.mean([u.position for u in members]))
        results.append(
            (
                position,
                -len({u.outlet for u in members}),
                ConsensusFact(
                    text=text,
                    sources=sources,
                    support=len({u.outlet for u in members}),
                    article_ids=article_ids,
                ),
            )
        )
    # Reading order: what the articles report first comes first (the lede before background).
    results.sort(key=lambda r: (r[0], r[1], r[2].text))
    return [fact for _, _, fact in results]


def _specificity(group: list[int], story: Story) -> float:
    """Up to _SPECIFICITY_WEIGHT for groups whose members name particular things and values."""
    counts = [
        min(len(particulars(story.units[i], story)) + value_count(story.units[i]), 3) for i in group
    ]
    return _SPECIFICITY_WEIGHT * float(np.mean(counts)) / 3.0


def value_count(unit: FactUnit) -> int:
    values = unit.values
    return len(values.days) + len(values.since) + len(values.quantities)


def _commits_to_same_kind(a: FactUnit, b: FactUnit) -> bool:
    """Both state a day, or both a time span, or both a quantity: where they differ, one of them
    contradicts the other."""
    va, vb = a.values, b.values
    return bool(
        (va.days and vb.days) or (va.since and vb.since) or (va.quantities and vb.quantities)
    )


def _only_days_differ(a: FactUnit, b: FactUnit) -> bool:
    """They name days that cannot be the same, and no quantity of theirs contradicts."""
    va, vb = a.values, b.values
    days_differ = bool(va.days and vb.days) and not any(
        days_agree(x, y) for x in va.days for y in vb.days
    )
    quantities_clash = any(
        x.slot == y.slot and not x.meets(y) for x in va.quantities for y in vb.quantities
    )
    return days_differ and not quantities_clash


_DAY_PHRASE_RE = re.compile(
    r",?\s+\b(?:on|last|this)\s+(?:"
    + "|".join(w.capitalize() for w in WEEKDAYS)
    + r")(?:,?\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:,\s*\d{4})?)?\b"
    r"|,?\s+\bon\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,\s*\d{4})?\b"
)

_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([,.;:])")


def without_days(text: str) -> str:
    """The sentence without its "on Tuesday" / "on July 1, 2025" phrases."""
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", _DAY_PHRASE_RE.sub("", text)).strip()


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
