"""The wording a consensus line shows, and who it may cite.

Each outlet of a fact group reported the fact in its own words, with its own details. The shown
wording is one member's clause, or that clause cut to its core (without its day, without its
attribution); a source is cited under it only if its own text states every checkable detail of
it (details.py). Outlets that report the fact with other or fewer details are shown beside it in
their own words, as variants. Among the candidate wordings the one the most outlets back wins,
the better-reading one on a tie: a line all five outlets can stand behind beats a more detailed
one only its author states.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.summary import Variant
from workers.summarize.dates import WEEKDAYS
from workers.summarize.details import Detail, details, stated
from workers.summarize.text import without_attribution
from workers.summarize.units import FactUnit

# Wordings tried per fact: the best-reading members' clauses (and their cuts). The backers of
# each are looked for among all members, so a big group costs (this many) x (members).
_CANDIDATE_AUTHORS = 8
_PRONOUN_START = frozenset(
    ["he", "she", "they", "it", "this", "these", "those", "his", "her", "their", "its", "that"]
)
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([,.;:])")
_DAY_PHRASE_RE = re.compile(
    r",?\s+\b(?:on|last|this|late|early)\s+(?:"
    + "|".join(w.capitalize() for w in WEEKDAYS)
    + r")(?:\s+(?:night|morning|evening|afternoon))?"
    + r"(?:,?\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:,\s*\d{4})?)?\b"
    r"|,?\s+\bon\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,\s*\d{4})?\b"
)


@dataclass(frozen=True)
class Said:
    """A member of a fact group as a wording reads it: computed once per clause (a big story's
    later clauses are kept this way between updates, large.py)."""

    unit: FactUnit
    text: str  # the clause as it would be shown (consensus.readable)
    states: frozenset[Detail]  # every detail the outlet's own text states around it

    @classmethod
    def of(cls, unit: FactUnit, text: str) -> Said:
        return cls(unit, text, stated(own_text(unit)))


@dataclass(frozen=True)
class Wording:
    text: str
    backers: list[FactUnit]  # members whose own text states every detail of `text`
    variants: list[Variant]  # one per other outlet, in its own words


def without_days(text: str) -> str:
    """The sentence without its "on Tuesday" / "on July 1, 2025" phrases."""
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", _DAY_PHRASE_RE.sub("", text)).strip()


def own_text(unit: FactUnit) -> str:
    """What an outlet says around a clause: its sentence, the ones either side, and its title. A
    name the outlet gave one sentence earlier ("Macron … The French president said …") is still
    the outlet's own statement; a number from another paragraph is not."""
    sentences = unit.doc.sentences
    window = sentences[max(unit.sentence_index - 1, 0) : unit.sentence_index + 2]
    return "\n".join([unit.doc.title or "", *window])


def candidate_texts(text: str) -> list[str]:
    cuts = [text, without_days(text)]
    unattributed = _tidy(without_attribution(text))
    cuts += [unattributed, without_days(unattributed)]
    return [c for c in dict.fromkeys(cuts) if len(c.split()) >= 5]


def _tidy(text: str) -> str:
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", " ".join(text.split())).strip(" ,")
    if text and text[-1] not in '.!?"”’':
        text += "."
    return text[:1].upper() + text[1:]


def choose_wording(ranked: Sequence[Said]) -> Wording:
    """`ranked`: the group's members, best-reading first. Every outlet of the group ends up
    either backing the wording or as a variant."""
    best: tuple[int, int, str, list[Said]] | None = None
    for rank, author in enumerate(ranked[:_CANDIDATE_AUTHORS]):
        for cut, text in enumerate(candidate_texts(author.text) or [author.text]):
            needed = details(text)
            backers = [s for s in ranked if needed <= s.states]
            if author not in backers:
                continue  # a cut must still be the author's own statement
            # A line that opens on "He …" or "This …" reads only after its article's sentence
            # before: any wording that stands alone is preferred to it.
            outlets = len({s.unit.outlet for s in backers}) - 100 * _leans_on_context(text)
            key = (outlets, -rank * 10 - cut)
            if best is None or key > (best[0], best[1]):
                best = (outlets, -rank * 10 - cut, text, backers)
    if best is None:  # no candidate the author itself states (cannot happen; kept total)
        author = ranked[0]
        best = (1, 0, author.text, [author])
    _, _, text, backers = best
    backing = {s.unit.outlet for s in backers}
    variants: dict[str, Variant] = {}
    shown = details(text)
    for said in ranked:
        unit = said.unit
        if unit.outlet in backing or unit.outlet in variants:
            continue
        values = [d.text for d in unit.values.days] + [q.text for q in unit.values.quantities]
        differing = [v for v in values if not details(v) <= shown]
        variants[unit.outlet] = Variant(
            source=unit.doc.source,
            text=said.text,
            article_id=unit.doc.article_id,
            value=", ".join(dict.fromkeys(differing)),
        )
    return Wording(
        text=text,
        backers=[s.unit for s in backers],
        variants=sorted(variants.values(), key=_by_source),
    )


def _leans_on_context(text: str) -> bool:
    first = text.split(maxsplit=1)[0].lower().strip(",") if text.strip() else ""
    return first in _PRONOUN_START


def _by_source(variant: Variant) -> tuple[str, str]:
    return variant.source, variant.article_id
