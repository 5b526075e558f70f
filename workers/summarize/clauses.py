"""Clause split: a sentence that joins two separately reportable facts becomes two fact units.

Only at boundaries where both halves are full clauses — "; ", ", while", ", but", ", and", a dash
before a capital — and never inside quotes or an interrupted relative clause. When in doubt the
sentence stays whole: a wrong split garbles what is shown, a missed one only costs alignment.
"""

from __future__ import annotations

import re

from workers.summarize.text import words

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
_COMMA_RE = re.compile(r",\s*")


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
        if _inside_quotes(sentence, boundary.start()) or _interrupted(sentence[: boundary.start()]):
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


# "…, when Minister Lecornu, who is regarded as an ally, and Minister Shoigu held talks": a comma
# segment that opens a relative or subordinate clause leaves the sentence's structure open, so a
# following ", and" joins parts of one clause, not two clauses.
# fmt: off
_OPENS_SUBORDINATE = frozenset({
    "who", "whom", "whose", "which", "when", "where", "that", "as", "if", "because", "although",
    "though", "since", "after", "before", "until", "unless", "whether"
})
# fmt: on


def _interrupted(before: str) -> bool:
    segments = [seg for seg in _COMMA_RE.split(before) if seg.strip()]
    if len(segments) < 2:
        return False
    last = words(segments[-1])
    return bool(last) and last[0].lower() in _OPENS_SUBORDINATE


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


# fmt: off
_VERB_OPENERS = frozenset({
    "also", "then", "still", "now", "not", "never", "be", "been", "being"
})
# fmt: on


def _as_sentence(clause: str) -> str:
    clause = clause.strip().rstrip(",;—– ")
    if not clause:
        return clause
    clause = clause[0].upper() + clause[1:]
    return clause if clause.endswith((".", "!", "?", '"', "”", "’")) else clause + "."
