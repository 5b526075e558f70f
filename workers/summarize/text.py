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
_REPORTING_WORDS = frozenset(
    """said says say told tell added according reported reports statement statements noted
    confirmed claims claimed stated stating also including however while although
    mr mrs ms dr""".split()
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | _REPORTING_WORDS

_WORD_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’\-]*|\d[\d,.]*\d|\d")
_QUOTE_RE = re.compile(r"[\"“”]([^\"“”]{3,}?)[\"“”]|(?<![A-Za-z])['‘]([^'‘’]{3,}?)['’](?![A-Za-z])")

# Determiners, pronouns and sentence adverbs that are capitalised only because they open a
# sentence or clause: never a named thing.
_NOT_NAMES = frozenset(
    """the a an this that these those it its he she they we i his her their our
    in on at by for from of to with as after before during since while when but and or if
    however meanwhile nevertheless despite although though both other another
    president minister prime mr mrs ms dr
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december""".split()
)


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
    for suffix, min_rest in (("ations", 4), ("ation", 4), ("ings", 4), ("ing", 4), ("edly", 4),
                             ("ies", 3), ("ied", 3), ("ed", 4), ("es", 4), ("ly", 4), ("s", 3)):
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
        stem(w) for w in words(text)
        if w.lower() not in STOP_WORDS and not w[0].isdigit() and len(w) > 1
    )


def names(text: str) -> frozenset[str]:
    """Named things: capitalised words and acronyms, keyed by stem so "Russia"/"Russian" and
    "Kyiv"/"Kyiv's" meet. A capital after a sentence start counts too when the word is not a
    function word: a sentence's first word is as often a name ("Putin said") as not. A run of
    capitalised words also yields its acronym, so "International Atomic Energy Agency" meets
    "IAEA"."""
    found: set[str] = set()
    run: list[str] = []
    for token in [*words(text), "."]:
        if token[0].isupper() and token.lower() not in _NOT_NAMES:
            found.add(name_key(token))
            if not (token.isupper() and len(token) > 1):  # an acronym closes a run
                run.extend(part for part in token.split("-") if part)
                continue
        if len(run) >= 2:
            found.add(name_key("".join(part[0] for part in run).upper()))
        run = []
    return frozenset(found)


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


# Clause boundaries at which a sentence commonly joins two separately reportable facts. A split is
# kept only when both halves are full clauses; otherwise the sentence stays whole.
_CLAUSE_BOUNDARY_RE = re.compile(
    r";\s+|,\s+(?:while|whereas|but|and)\s+|\s*[—–]\s*(?:and|but)\s+|\s+[—–]\s+(?=[A-Z])"
)
_LEADING_WHILE_RE = re.compile(r"^(?:While|Whereas|Although|Though)\s+([^,]{15,}),\s+(.+)$")

# A finite-verb cue: a clause has a subject and a verb, a fragment ("their first in two years")
# does not. A closed list of auxiliaries plus past-tense/present-tense shapes catches news prose.
_FINITE_RE = re.compile(
    r"\b(?:is|are|was|were|has|have|had|will|would|can|could|must|should|may|might|did|does|do"
    r"|said|told|held|met|made|took|gave|left|came|went|saw|sought|won|lost|began|broke|ran|rose"
    r"|fell|paid|sold|built|chose|kept|led|put|set|cut|hit|spent|stood|thought|brought|bought"
    r"|says|urges|calls|warns|insists|remains|plans|wants|shows|signals|marks|follows|maintains"
    r"|supports|argues|seems|appears|continues|reflects|expects|faces|needs|believes|\w{3,}ed)\b",
    re.IGNORECASE,
)
_MIN_CLAUSE_WORDS = 5


def is_full_clause(text: str) -> bool:
    tokens = words(text)
    return len(tokens) >= _MIN_CLAUSE_WORDS and bool(_FINITE_RE.search(text))


def split_clauses(sentence: str) -> list[str]:
    """Split a sentence into the full clauses it joins; a sentence of one fact stays whole."""
    leading = _LEADING_WHILE_RE.match(sentence)
    if leading and is_full_clause(leading.group(1)) and _has_subject(leading.group(2)):
        return [_as_sentence(leading.group(1)), *split_clauses(_as_sentence(leading.group(2)))]
    pieces: list[tuple[str, str]] = []  # (separator before the piece, piece)
    start, separator = 0, ""
    for boundary in _CLAUSE_BOUNDARY_RE.finditer(sentence):
        if _inside_quotes(sentence, boundary.start()):
            continue
        pieces.append((separator, sentence[start : boundary.start()]))
        start, separator = boundary.end(), boundary.group(0)
    pieces.append((separator, sentence[start:]))
    clauses: list[str] = []
    for separator, piece in pieces:
        if clauses and not (_has_subject(piece) and is_full_clause(piece)):
            # An appositive, a list item or a subjectless verb phrase belongs to the clause
            # before it, joined back as written.
            clauses[-1] += separator + piece
        elif clauses and not is_full_clause(clauses[-1]):
            clauses[-1] += separator + piece
        else:
            clauses.append(piece)
    return [_as_sentence(c) for c in clauses] if len(clauses) > 1 else [sentence]


def _inside_quotes(text: str, position: int) -> bool:
    before = text[:position]
    return before.count('"') % 2 == 1 or before.count("“") > before.count("”")


def _has_subject(clause: str) -> bool:
    """A clause that opens with a verb ("are now pursuing …") has its subject in the clause
    before it and cannot stand alone."""
    tokens = words(clause)
    if not tokens:
        return False
    first = tokens[0].lower()
    return not (_FINITE_RE.fullmatch(first) or first.endswith("ing") or first in _VERB_OPENERS)


_VERB_OPENERS = frozenset("also then still now not never be been being".split())


def _as_sentence(clause: str) -> str:
    clause = clause.strip().rstrip(",;—– ")
    if not clause:
        return clause
    clause = clause[0].upper() + clause[1:]
    return clause if clause.endswith((".", "!", "?", '"', "”", "’")) else clause + "."
