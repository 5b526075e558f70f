"""Checkable details of a wording: the numbers, names, calendar words and quoted words it states.

A summary line cites a source only if that source's own text states every one of them (the
citation invariant, docs/api.md): "on Tuesday" is not backed by an outlet that says Monday, "$2.1
billion" is not backed by one that says "$2 billion", "Macron" is not backed by one that never
names him. The comparison is on normalised tokens, so "48,000" meets "48,000" and "twelve" meets
"12", "Russia's" meets "Russia", while a different number or a missing name does not.
"""

from __future__ import annotations

import re
from functools import lru_cache

from workers.summarize.text import MEMO_SIZE, quotes, stem

Detail = tuple[str, str]  # (kind, key): ("number", "48000"), ("name", "macro"), ("date", "tue")

_TOKEN_RE = re.compile(
    r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’.\-]*[A-Za-zÀ-ÖØ-öø-ÿ]|[A-Za-z]|\d[\d,.]*\d|\d"
)
# fmt: off
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "dozen": "12",
}
_CALENDAR = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec",
}
# Capitalised only because of their place or a title: not a particular the reader could check.
_NOT_NAMES = {
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "in", "on", "at", "but", "and",
    "this", "that", "these", "those", "his", "her", "their", "its", "mr", "mrs", "ms", "dr",
    "for", "of", "to", "as", "by", "with", "from", "after", "while", "when", "if", "or",
}
# fmt: on


def _key(token: str) -> tuple[str, str]:
    low = token.lower().replace("’", "'").removesuffix("'s").strip(".'-")
    if token[0].isdigit():
        return "number", low.replace(",", "").rstrip(".")
    if low in _NUMBER_WORDS:
        return "number", _NUMBER_WORDS[low]
    if low in _CALENDAR:
        return "date", low[:3]
    return "word", low[:5]


@lru_cache(maxsize=MEMO_SIZE)
def details(text: str) -> frozenset[Detail]:
    """What a shown wording commits to: numbers (digits or number words), calendar words, and
    every capitalised word after the first (a name, a title, an acronym), plus the content of
    quotations (the quoted words are themselves a claim about what was said)."""
    found: set[Detail] = set()
    for position, token in enumerate(_TOKEN_RE.findall(text)):
        kind, key = _key(token)
        if kind != "word":
            found.add((kind, key))
        elif position > 0 and token[0].isupper() and token.lower() not in _NOT_NAMES:
            found.add(("name", key))
        found.update(_compound_numbers(token))
    for quote in quotes(text):
        found |= {("quoted", stem(w)) for w in _TOKEN_RE.findall(quote.lower()) if len(w) > 3}
    return frozenset(found)


@lru_cache(maxsize=MEMO_SIZE)
def stated(text: str) -> frozenset[Detail]:
    """Everything a source's text states, keyed like `details`: any word may back a name ("the
    Kremlin" backs "Kremlin" at a sentence's start too), and any word backs a quoted word."""
    found: set[Detail] = set()
    for token in _TOKEN_RE.findall(text):
        found.update(_token_states(token))
    return frozenset(found)


# Per token, not per text: a big story's texts outnumber the text memo, its words do not.
@lru_cache(maxsize=65536)
def _token_states(token: str) -> tuple[Detail, ...]:
    kind, key = _key(token)
    if kind == "word":
        quoted = ("quoted", stem(token.lower()))
        return (kind, key), ("name", key), quoted, *_compound_numbers(token)
    return ((kind, key),)


def _compound_numbers(token: str) -> tuple[Detail, ...]:
    """The number in a compound word: "six-year" states 6 as "six years" and "6-year" do (the
    token pattern keeps a hyphenated word whole, and a number word inside it was not checked: a
    line saying "a six-year deal" was cited to outlets that never said six)."""
    if "-" not in token:
        return ()
    parts = token.lower().split("-")
    return tuple(("number", _NUMBER_WORDS[p]) for p in parts if p in _NUMBER_WORDS)


def missing(shown: str, source_text: str) -> frozenset[Detail]:
    """The details of `shown` that `source_text` does not state (empty: it backs the wording)."""
    return details(shown) - stated(source_text)
