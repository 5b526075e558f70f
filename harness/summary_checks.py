"""Independent checks of a summary (what a line commits to, what an article states, whether a
fact is paraphrased elsewhere): the summary benchmark reports with them and the tests check the
detector with them. Written apart from workers/summarize, so they do not share its blind spots."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

Encode = Callable[[Sequence[str]], np.ndarray]

# --- details a line commits to (the citation check) -------------------------------------------
_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’.-]*[A-Za-z]|[A-Za-z]|\d[\d,.]*\d|\d")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_CALENDAR_NAMES = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_CALENDAR = {w[:3] for w in _CALENDAR_NAMES}
_NOT_NAME = {
    "the",
    "a",
    "an",
    "he",
    "she",
    "it",
    "they",
    "we",
    "i",
    "in",
    "on",
    "at",
    "but",
    "and",
    "this",
    "that",
    "his",
    "her",
    "their",
    "its",
    "mr",
    "mrs",
    "ms",
    "dr",
}


def _norm(token: str) -> tuple[str, str] | None:
    low = token.lower().replace("’", "'").removesuffix("'s").strip(".'")
    if token[0].isdigit():
        return "num", low.replace(",", "").rstrip(".")
    if low in _NUMBER_WORDS:
        return "num", _NUMBER_WORDS[low]
    if low[:3] in _CALENDAR and low.rstrip(".") in _CALENDAR_WORDS:
        return "date", low[:3]
    return "word", low[:5]


_CALENDAR_WORDS = {
    *_CALENDAR_NAMES,
    *(_CALENDAR - {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}),
    "sept",
}


def details(line: str) -> set[tuple[str, str]]:
    """Numbers, dates and capitalised names (after the first word) a line states."""
    found: set[tuple[str, str]] = set()
    for k, token in enumerate(_TOKEN_RE.findall(line)):
        key = _norm(token)
        if key is None:
            continue
        if key[0] in ("num", "date"):
            found.add(key)
        elif k > 0 and token[0].isupper() and token.lower() not in _NOT_NAME:
            found.add(("name", key[1]))
        found |= _compound_numbers(token)
    return found


def _compound_numbers(token: str) -> set[tuple[str, str]]:
    """"six-year" states 6: the token pattern keeps a hyphenated word whole."""
    parts = token.lower().split("-") if "-" in token else []
    return {("num", _NUMBER_WORDS[p]) for p in parts if p in _NUMBER_WORDS}


def stated(article: str) -> set[tuple[str, str]]:
    """Everything an article states, keyed like `details` (names in any position)."""
    found: set[tuple[str, str]] = set()
    for token in _TOKEN_RE.findall(article):
        key = _norm(token)
        if key is not None:
            found.add(key)
            if key[0] == "word":
                found.add(("name", key[1]))
        found |= _compound_numbers(token)
    return found


# --- paraphrase detector (unique facts that are not unique) -----------------------------------
_WORD_RE = re.compile(r"[a-z][a-z'-]+")
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "said",
        "says",
        "that",
        "this",
        "with",
        "by",
        "from",
        "as",
        "it",
        "its",
        "their",
        "his",
        "her",
        "they",
        "he",
        "she",
        "will",
        "would",
        "not",
        "after",
        "over",
        "also",
        "which",
        "who",
    ]
)
# all-MiniLM-L6-v2 puts sentence paraphrases at cosine ~0.65-0.9; topical neighbours of one story
# reach ~0.5. A close sentence sharing a third of the content words is a paraphrase too.
PARAPHRASE_COSINE, PARAPHRASE_SUPPORTED, PARAPHRASE_WORDS = 0.65, 0.55, 0.3
_NUMBER_RE = re.compile(r"\d[\d,.]*\d|\d")


def content_words(text: str) -> set[str]:
    return {w[:6] for w in _WORD_RE.findall(text.lower()) if w not in _STOP}


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER_RE.findall(text)}


def paraphrased(line: str, vector: np.ndarray, others: Sequence[str], vectors: np.ndarray) -> bool:
    """Another outlet states it: a close sentence, or a fairly close one sharing content words
    (Dice over 6-letter prefixes); never one whose numbers are all different (the 2019 recall of
    9,000 pounds is not this year's 48,000-pound one)."""
    if not len(others):
        return False
    cosine = vectors @ vector
    mine, my_numbers = content_words(line), _numbers(line)
    for k in np.flatnonzero(cosine >= PARAPHRASE_SUPPORTED):
        other = others[int(k)]
        numbers = _numbers(other)
        if my_numbers and numbers and not my_numbers & numbers:
            continue
        theirs = content_words(other)
        dice = 2 * len(mine & theirs) / max(len(mine) + len(theirs), 1)
        if cosine[k] >= PARAPHRASE_COSINE or dice >= PARAPHRASE_WORDS:
            return True
    return False
    cosine = vectors @ vector
    mine = content_words(line)
    for k in np.flatnonzero(cosine >= PARAPHRASE_SUPPORTED):
        theirs = content_words(others[int(k)])
        dice = 2 * len(mine & theirs) / max(len(mine) + len(theirs), 1)
        if cosine[k] >= PARAPHRASE_COSINE or dice >= PARAPHRASE_WORDS:
            return True
    return False
