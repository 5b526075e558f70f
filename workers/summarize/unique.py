"""Unique facts: what each outlet alone reports, ranked by how much it adds."""

from __future__ import annotations

from functools import lru_cache

from core.summary import SourceFacts, UniqueFact
from workers.summarize.align import (
    NOT_REPORTED_ELSEWHERE,
    SAME_FACT,
    Alignment,
    best_elsewhere,
)
from workers.summarize.consensus import readability
from workers.summarize.standalone import framing_only, paraphrased_elsewhere, standalone
from workers.summarize.text import MEMO_SIZE, quotes, words
from workers.summarize.units import FactUnit, Story

# Enough to show what an outlet adds without re-printing its article.
MAX_PER_SOURCE = 4
# Outlets whose own facts are itemised; a story told by hundreds lists those adding the most.
MAX_OUTLETS = 12
_MIN_WORDS = 6  # shorter lines are filler ("The call's timing is noteworthy.")
# A clause adds something when it brings a new name, number, date or quote, or at least two rare
# words no other outlet uses; below that it only restates the story in other words.
MIN_INFORMATION = 0.3
# New words beyond this many add nothing more: a long sentence of commentary is not worth more
# than a short one with a name or a number in it.
_MAX_NEW_WORDS = 4.0
# What each kind of novelty is worth: a new name or value is a checkable fact; a new quote is a
# source's own words; a new rare word is weaker evidence of new content.
_NAME_WEIGHT, _VALUE_WEIGHT, _QUOTE_WEIGHT, _WORD_WEIGHT = 0.5, 0.5, 0.25, 0.15


def unique_facts(
    story: Story, alignment: Alignment, shown: set[int]
) -> tuple[list[SourceFacts], int]:
    """Each outlet's own facts (the outlets adding the most, at most MAX_OUTLETS of them), and how
    many more outlets had some. `shown`: the units the consensus lines already show (as
    wording, backers or variants)."""
    grouped_with_others = {i for g in alignment.groups if len(g) > 1 for i in g} | shown
    said_elsewhere = paraphrased_elsewhere(story, grouped_with_others)
    stems_by_outlet: dict[str, set[str]] = {}
    names_by_outlet: dict[str, set[str]] = {}
    for unit in story.units:
        stems_by_outlet.setdefault(unit.outlet, set()).update(unit.stems)
        names_by_outlet.setdefault(unit.outlet, set()).update(unit.names)

    values_by_outlet: dict[str, set[str]] = {}
    for unit in story.units:
        values_by_outlet.setdefault(unit.outlet, set()).update(value_keys(unit))

    # What the other outlets say, once per outlet.
    elsewhere: dict[str, tuple[set[str], set[str], set[str]]] = {
        outlet: (
            set().union(*(s for o, s in stems_by_outlet.items() if o != outlet)),
            set().union(*(n for o, n in names_by_outlet.items() if o != outlet)),
            set().union(*(v for o, v in values_by_outlet.items() if o != outlet)),
        )
        for outlet in stems_by_outlet
    }

    ranked: dict[str, list[tuple[float, FactUnit]]] = {}
    for unit in story.units:
        word_count, quoted = _shape(unit.text)
        if unit.index in grouped_with_others or unit.index in said_elsewhere:
            continue
        if word_count < _MIN_WORDS or framing_only(unit.text):
            continue
        elsewhere_stems, elsewhere_names, elsewhere_values = elsewhere[unit.outlet]
        new_names = unit.names - elsewhere_names
        new_values = value_keys(unit) - elsewhere_values
        closest = best_elsewhere(unit.index, alignment.scores)
        # A clause naming a person, place or number no other outlet mentions reports something
        # the others do not, even if its sentence resembles theirs; it is only ruled out when
        # another outlet states the same fact. Without such a particular, resemblance is enough.
        if closest >= (SAME_FACT if new_names or new_values else NOT_REPORTED_ELSEWHERE):
            continue
        information = (
            _NAME_WEIGHT * len(new_names)
            + _VALUE_WEIGHT * len(new_values)
            + _QUOTE_WEIGHT * quoted
            + _WORD_WEIGHT
            * min(
                sum(
                    story.stem_weight[s]
                    for s in unit.stems - elsewhere_stems
                    if not s.startswith("#")
                ),
                _MAX_NEW_WORDS,
            )
        )
        if information < MIN_INFORMATION:
            continue
        # The further the nearest report elsewhere, the surer the fact is this outlet's own; this
        # orders facts of similar information but does not let a vague line with no near
        # neighbour outrank a named, numbered one (hence the floor of one half).
        distinctness = min(max((NOT_REPORTED_ELSEWHERE - closest) / NOT_REPORTED_ELSEWHERE, 0), 1)
        # Readability breaks near-ties: "He maintained …" needs the sentence before it.
        score = information * (0.5 + 0.5 * distinctness) + readability(unit)
        ranked.setdefault(unit.outlet, []).append((score, unit))

    result: list[SourceFacts] = []
    for outlet in story.outlets:
        best = sorted(ranked.get(outlet, []), key=lambda r: (-r[0], r[1].index))[:MAX_PER_SOURCE]
        # Shown in the article's order, so an outlet's additions read as a short account.
        best.sort(key=lambda r: r[1].index)
        facts = [
            UniqueFact(text=text, article_id=u.doc.article_id, score=round(score, 3))
            for score, u in best
            if (text := standalone(u, story, grouped_with_others | said_elsewhere))
        ]
        result.append(SourceFacts(source=outlet, facts=facts))
    return _cap_outlets(result)


def _cap_outlets(result: list[SourceFacts]) -> tuple[list[SourceFacts], int]:
    """A story of hundreds of outlets lists the MAX_OUTLETS adding the most (by their best fact),
    in the usual order; the others are counted, not listed."""
    with_facts = [group for group in result if group.facts]
    if len(with_facts) <= MAX_OUTLETS:
        return result, 0
    top = sorted(with_facts, key=lambda g: (-max(f.score for f in g.facts), g.source))
    kept = {group.source for group in top[:MAX_OUTLETS]}
    return [g for g in result if g.source in kept], len(with_facts) - MAX_OUTLETS


# Asked for every clause each time a story is summarised again (text.MEMO_SIZE).
@lru_cache(maxsize=MEMO_SIZE)
def _shape(text: str) -> tuple[int, bool]:
    """The clause's word count, and whether it quotes someone at some length (3+ words)."""
    return len(words(text)), any(len(q.split()) >= 3 for q in quotes(text))


def value_keys(unit: FactUnit) -> set[str]:
    """Comparable keys of a clause's values: the same day or count written differently is one."""
    keys = {f"day:{d.day or d.weekday}" for d in unit.values.days}
    keys |= {f"since:{s.year}-{s.month}" for s in unit.values.since}
    keys |= {f"{q.slot}:{q.low:g}-{q.high:g}" for q in unit.values.quantities}
    return keys
