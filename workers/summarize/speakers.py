"""Who said it: the same quoted words put in different mouths by different outlets."""

from __future__ import annotations

import re
from collections.abc import Sequence

from workers.summarize.text import quotes, words
from workers.summarize.units import FactUnit, Story
from workers.summary_model import Claim, Conflict

_SPEECH_VERBS = r"(?:said|says|told|added|stated|noted|insisted|warned|argued|claimed|wrote)"
_NAME = r"(?:[A-Z][\w’'.-]*\s){0,3}[A-Z][\w’'.-]*"
_SPEAKER_RES = [
    re.compile(rf"\b[Aa]ccording to (?:the )?(?P<who>{_NAME})"),
    re.compile(rf"(?P<who>{_NAME})\s+{_SPEECH_VERBS}\b"),
    # "said council finance chair Tom Reyes": a few lower-case role words may precede the name.
    re.compile(rf"\b{_SPEECH_VERBS}\s+(?:[a-z]+\s+){{0,4}}(?P<who>{_NAME})"),
]
_QUOTED_RE = re.compile(r"[\"“][^\"“”]*[\"”]")
# Shorter quotes ("substantive", "new territorial realities") are stock words every outlet
# repeats, not one person's sentence.
_MIN_QUOTE_WORDS = 4
_NOT_A_SPEAKER = frozenset(["the", "a", "an", "he", "she", "they", "it", "this", "that"])


def speaker_conflicts(story: Story, groups: Sequence[list[int]]) -> list[Conflict]:
    found: list[Conflict] = []
    for group in groups:
        quoted: dict[str, list[tuple[FactUnit, str]]] = {}
        for unit in (story.units[i] for i in group):
            speaker = speaker_of(unit.sentence)
            if speaker is None:
                continue
            for quote in quotes(unit.sentence):
                key = " ".join(w.lower() for w in words(quote))
                if len(key.split()) >= _MIN_QUOTE_WORDS:
                    quoted.setdefault(key, []).append((unit, speaker))
        for key, items in sorted(quoted.items()):
            speakers = sorted({speaker for _, speaker in items})
            if len(speakers) < 2 or len({u.outlet for u, _ in items}) < 2:
                continue
            if _one_person(speakers):
                continue
            claims = [
                Claim(
                    source=u.doc.source,
                    value=who,
                    text=u.sentence,
                    article_id=u.doc.article_id,
                    side=speakers.index(who),
                )
                for u, who in items
            ]
            claims.sort(key=lambda c: (c.side, c.source))
            short = key if len(key) <= 60 else key[:57].rsplit(" ", 1)[0] + " …"
            found.append(Conflict(about=f"who said “{short}”", claims=claims))
    return found


def speaker_of(sentence: str) -> str | None:
    """The named speaker of a sentence's quote, if the sentence names one."""
    outside = _QUOTED_RE.sub(" , ", sentence)
    for pattern in _SPEAKER_RES:
        for match in pattern.finditer(outside):
            tokens = [
                t.rstrip(".,")
                for t in match.group("who").split()
                if t.lower() not in _NOT_A_SPEAKER
            ]
            if tokens:
                return " ".join(tokens)
    return None


def _one_person(speakers: list[str]) -> bool:
    """ "Mayor Lena Ortiz" and "Ortiz" are one speaker: a shared name word counts as the same."""
    token_sets = [{w.lower() for w in words(s)} for s in speakers]
    return all(a & b for i, a in enumerate(token_sets) for b in token_sets[i + 1 :])
