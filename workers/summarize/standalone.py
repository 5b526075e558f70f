"""What a unique fact must be besides unique to its outlet: unsaid elsewhere in any wording, and
readable on its own.

- Said elsewhere: alignment's scores demand a close paraphrase, so a fact another outlet words
  differently can slip through as "unique". A second, looser test catches it: a sentence very
  close to another outlet's (cosine), or a close one sharing most of its content words.
- Standalone: "This refers to Russia's previous claims …" needs the sentence before it, "From
  Paris, the president's office offered a different tone." only announces what comes next. The
  first brings its neighbour along when the neighbour is itself unsaid elsewhere, else it is
  skipped; the second is skipped.
"""

from __future__ import annotations

import re

import numpy as np

from workers.summarize.consensus import readable
from workers.summarize.details import Detail, details
from workers.summarize.units import FactUnit, Story

# A sentence this close (cosine of MiniLM vectors) to another outlet's states the same thing,
# unless their numbers differ (the 2019 recall of 9,000 pounds is not this year's 48,000-pound one):
# MiniLM puts sentence paraphrases at ~0.65-0.9 and one story's topical neighbours at ~0.5.
PARAPHRASE_COSINE = 0.7
# A fairly close sentence (cosine above this) sharing this much of its content words (Dice) too.
PARAPHRASE_SUPPORTED, PARAPHRASE_WORDS = 0.6, 0.35
# Longest line a fact and the neighbour it needs may make together.
_MAX_JOINED_WORDS = 60

_NEEDS_REFERENT_RE = re.compile(
    r"^(?:(?:This|That|These|Those)\s+(?:is|was|are|were|has|had|have|will|would|could|may|might"
    r"|can|came|comes|refers|referred|means|meant|follows|followed|marks|marked|includes|"
    r"included|reflects|reflected|led|leads|comes|became|becomes|also|all|not|after|because)\b"
    r"|(?:This|That|These|Those)\s?['’]\s?s\b"
    r"|(?:It|He|She|They|His|Her|Their|Its|Such|Him|Them)\b"
    # A fragment: the sentence splitter cut it out of a longer one ("08 percent, the officer
    # told …", "and then …").
    r"|[a-z]|0\d"
    r"|(?:Both|The two)\s+(?:men|women|leaders|sides|countries|of them)\b)"
)
_FRAMING_RE = re.compile(
    r"\b(?:offered|struck|took|sounded|adopted|set|had|striking)\s+(?:a|an)\s+(?:\w+\s+){0,2}"
    r"(?:tone|note|view|line|stance|take|position|message|picture)\s*[.:]?$"
    r"|:\s*$"
    r"|^(?:Here(?:'s| is| are)|Below|Read|Watch|Related)\b",
    re.IGNORECASE,
)


def framing_only(text: str) -> bool:
    """A sentence that only sets up what follows: no fact of its own to report."""
    return bool(_FRAMING_RE.search(text.strip()))


def needs_referent(text: str) -> bool:
    return bool(_NEEDS_REFERENT_RE.match(readable(text)))


def paraphrased_elsewhere(story: Story, skip: set[int]) -> set[int]:
    """Units (outside `skip`) whose statement another outlet makes in other words."""
    candidates = [u for u in story.units if u.index not in skip]
    if not candidates or len(story.outlets) < 2:
        return set()
    outlet_of = np.array([story.outlets.index(u.outlet) for u in story.units])
    found: set[int] = set()
    for start in range(0, len(candidates), 256):  # bounded memory on big stories
        chunk = candidates[start : start + 256]
        rows = np.array([u.index for u in chunk])
        cosine = story.vectors[rows] @ story.vectors.T
        cosine[outlet_of[rows][:, None] == outlet_of[None, :]] = -1.0
        for k, unit in enumerate(chunk):
            close = np.flatnonzero(cosine[k] >= PARAPHRASE_SUPPORTED)
            if (
                unit.is_whole_sentence
                and close.size
                and cosine[k, close].max() >= PARAPHRASE_COSINE
            ):
                found.add(unit.index)
                continue
            mine = _words(unit)
            for j in close:
                theirs = _words(story.units[j])
                dice = 2 * len(mine & theirs) / max(len(mine) + len(theirs), 1)
                if dice >= PARAPHRASE_WORDS:
                    found.add(unit.index)
                    break
    return found


def _numbers(text: str) -> frozenset[Detail]:
    return frozenset(d for d in details(text) if d[0] == "number")


def _words(unit: FactUnit) -> frozenset[str]:
    return frozenset(s for s in unit.stems if not s.startswith("#"))


def standalone(unit: FactUnit, story: Story, elsewhere: set[int]) -> str:
    """The fact as a reader can take it alone: its clause, or its sentence preceded by the one it
    leans on; "" when it cannot stand alone (framing only, or its referent is reported elsewhere,
    so the pair would repeat another line)."""
    text = readable(unit.text)
    if framing_only(text):
        return ""
    if not needs_referent(text):
        return text
    if unit.clause_index > 0 or unit.sentence_index == 0:
        return ""
    before = [
        u for u in story.units if u.doc is unit.doc and u.sentence_index == unit.sentence_index - 1
    ]
    if not before or any(u.index in elsewhere for u in before):
        return ""
    previous = readable(before[0].sentence)
    if needs_referent(previous) or framing_only(previous):
        return ""
    joined = f"{previous} {unit.sentence}"
    return joined if len(joined.split()) <= _MAX_JOINED_WORDS else ""
