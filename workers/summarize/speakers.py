"""Who said it: the same quoted words put in different mouths by different outlets."""

from __future__ import annotations

import re
from functools import lru_cache

from core.summary import Claim, Conflict
from workers.summarize.text import MEMO_SIZE, words
from workers.summarize.units import FactUnit, Story

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


def speaker_conflicts(story: Story) -> list[Conflict]:
    """The same quoted sentence attributed to different people by different outlets. A quote of
    four or more words repeated verbatim is itself the evidence that two outlets report the same
    statement, so this looks across the whole story, not only within fact groups."""
    found: list[Conflict] = []
    quoted: dict[str, list[tuple[FactUnit, str]]] = {}
    for unit in story.units:
        if unit.clause_index:
            continue  # one look per sentence
        for speaker, key in _attributed_quotes(unit.sentence):
            quoted.setdefault(key, []).append((unit, speaker))
    for key, every in sorted(quoted.items()):
        items = [(unit, speaker) for unit, speaker in every if _names_a_person(speaker)]
        # A sentence that names another claimed speaker too ("… said ABC Entertainment Group
        # prexy Paul Lee") attributes the quote ambiguously: it is not a claim against them.
        items = [
            (unit, speaker)
            for unit, speaker in items
            if not any(
                other.split()[-1] in unit.sentence
                for _, other in items
                if other.split()[-1] != speaker.split()[-1]
            )
        ]
        people = _people([speaker for _, speaker in items])
        if len(set(people.values())) < 2 or len({u.outlet for u, _ in items}) < 2:
            continue
        # Side 0 is the attribution more outlets make.
        backers: dict[int, set[str]] = {}
        for unit, speaker in items:
            backers.setdefault(people[speaker], set()).add(unit.outlet)
        order = sorted(backers, key=lambda person: (-len(backers[person]), person))
        claims = [
            Claim(
                source=u.doc.source,
                value=who,
                text=u.sentence,
                article_id=u.doc.article_id,
                side=order.index(people[who]),
            )
            for u, who in items
        ]
        claims.sort(key=lambda c: (c.side, c.source))
        short = key if len(key) <= 60 else key[:57].rsplit(" ", 1)[0] + " …"
        found.append(Conflict(about=f"who said “{short}”", claims=claims))
    return found


# A worker summarises a growing story again with each new article: the sentences it has read
# before are not parsed again (text.MEMO_SIZE).
@lru_cache(maxsize=MEMO_SIZE)
def _attributed_quotes(sentence: str) -> tuple[tuple[str, str], ...]:
    """(speaker, key) for each long-enough quote the sentence attributes right beside it: '"…,"
    said Tom Reyes', '"…," Mayor Lena Ortiz said', 'Mayor Ortiz told reporters: "…"'. A name
    further off ("… said Bensu Elianita, a resident", two quotes away) is as often someone else's
    as the quote's speaker; key: the quote's lower-case words."""
    found: list[tuple[str, str]] = []
    for match in _QUOTED_RE.finditer(sentence):
        key = " ".join(w.lower() for w in words(match.group(0)))
        if len(key.split()) < _MIN_QUOTE_WORDS:
            continue
        after = _AFTER_QUOTE_RE.match(sentence, match.end())
        before = _BEFORE_QUOTE_RE.search(sentence[: match.start()])
        who = (after.group("who") or after.group("who2")) if after else None
        who = who or (before.group("who") if before else None)
        tokens = [t.rstrip(".,") for t in (who or "").split() if t.lower() not in _NOT_A_SPEAKER]
        if tokens:
            found.append((" ".join(tokens), key))
    return tuple(found)


_AFTER_QUOTE_RE = re.compile(
    rf"\s*,?\s*(?:{_SPEECH_VERBS}\s+(?:[a-z]+\s+){{0,4}}(?P<who>{_NAME})"
    rf"|(?P<who2>{_NAME})\s+{_SPEECH_VERBS}\b)"
)
_BEFORE_QUOTE_RE = re.compile(
    rf"(?P<who>{_NAME})\s+(?:{_SPEECH_VERBS}|told reporters|said in a statement)\s*[:,]?\s*$"
)


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


_NOT_PEOPLE_RE = re.compile(
    r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|"
    r"June|July|August|September|October|November|December|Twitter|Facebook|Statement)\b|\.com\b"
)


def _names_a_person(speaker: str) -> bool:
    """A name and surname, or a title and surname ("Lena Ortiz", "Mayor Ortiz"): a lone word
    ("Us", "Meron", "Varna") is as often a magazine, a place or half a name as a speaker."""
    return len(speaker.split()) >= 2 and not _NOT_PEOPLE_RE.search(speaker)


# fmt: off
_TITLES = frozenset({
    "mayor", "president", "minister", "chair", "chairman", "chairwoman", "council", "senator",
    "governor", "secretary", "chief", "executive", "spokesman", "spokeswoman", "spokesperson",
    "director", "dr", "mr", "mrs", "ms", "sir", "general"
})
# fmt: on


def _people(speakers: list[str]) -> dict[str, int]:
    """Speaker strings that share a name word are one person ("Mayor Lena Ortiz", "Ortiz");
    titles do not count ("Mayor Ortiz" and "Mayor Reyes" are two people)."""
    names = sorted(set(speakers))
    person = list(range(len(names)))
    keys = [{w.lower() for w in words(n)} - _TITLES for n in names]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if keys[i] & keys[j]:
                old, new = person[j], person[i]
                person = [new if p == old else p for p in person]
    return {name: person[i] for i, name in enumerate(names)}
