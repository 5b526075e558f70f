"""A headline for the story: the most central of the outlets' own titles, else the lead fact."""

from __future__ import annotations

import re

from core.summary import ConsensusFact
from workers.summarize.text import content_stems, words
from workers.summarize.units import Story

# Titles outside this length read as a label or as a paragraph.
_TITLE_WORDS = (4, 16)
_MAX_HEADLINE_WORDS = 18
_LEADING_PHRASE_RE = re.compile(r"^(?:In|On|At|After|Amid|During|Following)\b[^,]{0,60},\s+")


def choose_headline(central: str | None, story: Story, consensus: list[ConsensusFact]) -> str:
    """`central`: central_title(story), computed once per core of a big story (parts.py)."""
    if central is not None:
        return central
    if consensus:
        lead = max(consensus, key=lambda c: c.support)  # max keeps the earliest of equals
        return trim_to_headline(lead.text)
    return trim_to_headline(next((d.sentences[0] for d in story.docs if d.sentences), ""))


def central_title(story: Story) -> str | None:
    """The most central of the outlets' own titles that reads as a headline, if any."""
    stems_by_outlet: dict[str, set[str]] = {}
    for unit in story.units:
        stems_by_outlet.setdefault(unit.outlet, set()).update(unit.stems)
    best: tuple[float, str] | None = None
    for doc in story.docs:
        title = (doc.title or "").strip()
        stems = content_stems(title)
        if not stems or not _TITLE_WORDS[0] <= len(words(title)) <= _TITLE_WORDS[1]:
            continue
        # Central = made of words most outlets use: a title about the shared event rather than
        # about one outlet's angle on it.
        spread = sum(sum(s in used for used in stems_by_outlet.values()) for s in stems)
        score = spread / (len(stems) * max(len(stems_by_outlet), 1))
        if best is None or score > best[0]:
            best = (score, title)
    return best[1] if best is not None else None


def trim_to_headline(sentence: str) -> str:
    """A sentence cut to headline length: no scene-setting opener, no trailing clauses."""
    text = _LEADING_PHRASE_RE.sub("", sentence.strip()).rstrip(".")
    text = text[:1].upper() + text[1:]
    if len(words(text)) <= _MAX_HEADLINE_WORDS:
        return text
    for boundary in (" — ", "; ", ", "):
        head = text.split(boundary)[0]
        if 5 <= len(words(head)) <= _MAX_HEADLINE_WORDS:
            return head
    return " ".join(text.split()[:_MAX_HEADLINE_WORDS]) + " …"
