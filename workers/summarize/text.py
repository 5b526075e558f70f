"""Surface features of a statement: content-word stems, named things, quoted words, clause split.

The sentence vectors say what a statement is about; these features say which particular people,
places, numbers and words it commits to, which is what separates two reports of the same fact from
two different facts on the same topic.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Words of reporting and attribution carry no fact of their own: two sentences that share only
# "said" and "statement" do not report the same thing.
# fmt: off
_REPORTING_WORDS = frozenset({
    "said", "says", "say", "told", "tell", "added", "according", "reported", "reports",
    "statement", "statements", "noted", "confirmed", "claims", "claimed", "stated", "stating",
    "also", "including", "however", "while", "although", "mr", "mrs", "ms", "dr"
})
# fmt: on
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | _REPORTING_WORDS

# Sentences and clauses remembered per process by the per-text caches below and in units.py
# (least recently used first out): a story of ~1,000 articles (7-8,000 clauses), whose every
# update reads them all again: a memo smaller than that is swept through in order and keeps
# nothing (it was 4,096, and a 1,000-article story's update took 0.7 s more). ~56 MB when full.
MEMO_SIZE = 16384

_WORD_RE = re.compile(r"(?:[A-Z]\.){2,}|[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’\-]*|\d[\d,.]*\d|\d")
_QUOTE_RE = re.compile(r"[\"“”]([^\"“”]{3,}?)[\"“”]|(?<![A-Za-z])['‘]([^'‘’]{3,}?)['’](?![A-Za-z])")

# Determiners, pronouns and sentence adverbs that are capitalised only because they open a
# sentence or clause: never a named thing.
# fmt: off
_NOT_NAMES = frozenset({
    "the", "a", "an", "this", "that", "these", "those", "it", "its", "he", "she", "they", "we",
    "i", "his", "her", "their", "our", "in", "on", "at", "by", "for", "from", "of", "to",
    "with", "as", "after", "before", "during", "since", "while", "when", "but", "and", "or",
    "if", "however", "meanwhile", "nevertheless", "despite", "although", "though", "both",
    "other", "another", "president", "minister", "prime", "mr", "mrs", "ms", "dr", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december"
})
# fmt: on


def words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light suffix stripper: enough to meet "urges"/"urged"/"urging" and "talks"/"talk"; it
    does not have to produce dictionary words, only the same key for a word's inflections."""
    w = unicodedata.normalize("NFKD", word.lower().replace("’", "'"))
    w = "".join(ch for ch in w if not unicodedata.combining(ch))
    if w.endswith("'s"):
        w = w[:-2]
    w = w.strip("'-")
    for suffix, min_rest in (
        ("ations", 4),
        ("ation", 4),
        ("ings", 4),
        ("ing", 4),
        ("edly", 4),
        ("ies", 3),
        ("ied", 3),
        ("ed", 4),
        ("es", 4),
        ("ly", 4),
        ("s", 3),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= min_rest:
            w = w[: -len(suffix)]
            if suffix in ("ies", "ied"):
                w += "y"
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def content_stems(text: str) -> frozenset[str]:
    """Stems of the words that carry content (not stop or reporting words, not bare numbers)."""
    return frozenset(
        stem(w)
        for w in words(text)
        if w.lower() not in STOP_WORDS and not w[0].isdigit() and len(w) > 1
    )


def names(
    text: str,
    capitalised_inside: frozenset[str] | None = None,
    acronyms: frozenset[str] | None = None,
) -> frozenset[str]:
    """Named things: capitalised words and acronyms, keyed by stem so "Russia"/"Russian" and
    "Kyiv"/"Kyiv's" meet.

    A clause's first word is capitalised anyway; it counts as a name only when the story also
    capitalises it mid-sentence ("Putin said", not "Consumers should" or "According to"). A run of
    capitalised words ("U.S. Department of Agriculture") also yields its initials when the story
    uses them as an acronym, so it meets "USDA"."""
    first = _WORD_RE.search(text)
    first_is_name = first is not None and _is_name(first.group(0), True, capitalised_inside)
    # Added in the order the text yields them: the set, and so the order the frozenset iterates
    # in, is the one a single pass over the text builds.
    found: set[str] = set()
    for key, initials, whole in _name_candidates(text, first_is_name):
        if (
            initials is None
            or (acronyms is None and whole)
            or (acronyms is not None and initials in acronyms)
        ):
            found.add(key)
    return frozenset(found)


# A worker summarises a growing story again with each new article: most clauses it reads have been
# read before. What a clause yields on its own is remembered here; only what the rest of the story
# decides (is the first word a name, which initials are acronyms) is settled per call.
@lru_cache(maxsize=MEMO_SIZE)
def _name_candidates(text: str, first_is_name: bool) -> tuple[tuple[str, str | None, bool], ...]:
    """(key, None, _) for each name, (key, initials, whole run) for each stretch of a run of names
    that may be an acronym, in text order."""
    found: list[tuple[str, str | None, bool]] = []
    run: list[str] = []
    previous_end = 0

    def close_run() -> None:
        # Any stretch of the run may be the acronym: "U.S. Department of Agriculture's Food
        # Safety and Inspection Service" holds both USDA and FSIS.
        letters = [_initials(word) for word in run]
        for begin in range(len(run)):
            initials = letters[begin]
            for end in range(begin + 2, len(run) + 1):
                initials += letters[end - 1]
                upper = initials.upper()
                found.append((name_key(upper), upper, begin == 0 and end == len(run)))
        run.clear()

    for position, match in enumerate(_WORD_RE.finditer(text)):
        token = match.group(0)
        if run and text[previous_end : match.start()].strip():
            close_run()  # punctuation between two words ends a run of names
        previous_end = match.end()
        if run and token in _NAME_CONNECTORS:
            continue  # "Department of Agriculture", "Food Safety and Inspection Service"
        if not (first_is_name if position == 0 else _is_name(token, False, None)):
            if run:
                close_run()
            continue
        found.append((name_key(token), None, False))
        if _bare(token).isupper() and len(_bare(token)) > 1 and "." not in token:
            close_run()  # an acronym is a name of its own, not part of a longer one
        else:
            run.append(token)
    close_run()
    return tuple(found)


_NAME_CONNECTORS = frozenset({"of", "and", "for", "the", "de", "du", "la", "von", "van"})


def _initials(word: str) -> str:
    if "." in word:  # "U.S." stands for its letters
        return "".join(ch for ch in word if ch.isalpha())
    return "".join(part[0] for part in word.split("-") if part)


def _is_name(token: str, first: bool, capitalised_inside: frozenset[str] | None) -> bool:
    if not token[0].isupper() or token.lower() in _NOT_NAMES:
        return False
    if not first or capitalised_inside is None:
        return True
    return token in capitalised_inside and token.lower() not in STOP_WORDS


def capitalised_inside_sentences(sentences: list[str]) -> frozenset[str]:
    """Words the story capitalises somewhere other than at a sentence's start."""
    return frozenset().union(*(_capitals(s)[0] for s in sentences))


def acronyms_used(texts: list[str]) -> frozenset[str]:
    return frozenset().union(*(_capitals(t)[1] for t in texts))


@lru_cache(maxsize=MEMO_SIZE)
def _capitals(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The words a text capitalises after its first, and the acronyms it uses."""
    found = words(text)
    inside = frozenset(w for w in found[1:] if w[0].isupper())
    acronyms = frozenset(
        bare.replace(".", "") for w in found if (bare := _bare(w)).isupper() and len(bare) > 1
    )
    return inside, acronyms


def _bare(token: str) -> str:
    return token.removesuffix("'s").removesuffix("’s")


def name_key(token: str) -> str:
    # Demonyms and possessives share a country's first five letters ("Russia", "Russian",
    # "Ukrainian"): cut there, long enough that distinct names stay apart.
    key = stem(token)
    return key[:5] if len(key) > 5 else key


# "according to the Elysee Palace", ", the Kremlin said", ", the statement noted": who reported a
# fact is not part of the fact; leaving it in makes two outlets citing different offices look like
# two different facts.
_ATTRIBUTION_RE = re.compile(
    r"\b[Aa]ccording to (?:the )?[^,.;]{2,60}(?:,\s*|(?=[.;]))"
    r"|,\s*(?:the |a )?[A-Z]?[\w’' ]{2,40}\s(?:said|added|noted|confirmed|reported|stated)"
    r"(?: in a statement)?(?=[.,;]?$)"
)


def without_attribution(text: str) -> str:
    return _ATTRIBUTION_RE.sub(" ", text)


def quotes(text: str) -> list[str]:
    return [(m.group(1) or m.group(2)).strip() for m in _QUOTE_RE.finditer(text)]


def quote_share(text: str) -> float:
    """Fraction of the characters that sit inside quotation marks."""
    quoted = sum(len(q) for q in quotes(text))
    return quoted / max(len(text), 1)
