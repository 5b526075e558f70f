"""Extract/clean stage: turn a posted article (plain text or HTML) into a title and the clean
reporting sentences a reader would count as the article's content.

Published text carries furniture that is not reporting: photo captions and agency credits, "Read
more" links, bylines, datelines, subheads, share/cookie prompts. Left in, captions become "facts"
that every outlet seems to report (they all run the same wire photo), so they are dropped here,
before anything is embedded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pysbd


@dataclass(frozen=True)
class Extracted:
    # given title, else the first line if it reads like a headline, else html metadata
    title: str | None
    sentences: list[str]  # clean reporting sentences in reading order
    # What the clean text was cut from, for workers.extract_quality: the posted text's lines
    # (after the headline) and how many of them were headings, links or page furniture.
    lines: int = 0
    page_lines: int = 0
    dropped: tuple[str, ...] = ()  # those lines themselves (a paywall prompt is one of them)


# A line (paragraph) that matches any of these is photo furniture, not reporting. The markers are
# the conventions agencies and outlets use for captions and credits; each is specific enough that a
# reporting sentence does not carry it ("an AFP analysis" is reporting, "(AFP)" closing a line is a
# credit).
_CAPTION_MARKERS = [
    r"\bvia\s+(?:REUTERS|Reuters|AP|AFP|Getty Images|EPA|ANADOLU|Anadolu)\b",
    r"\bATTENTION EDITORS\b",
    r"\bTHIS IMAGE (?:WAS|HAS BEEN) (?:PROVIDED|SUPPLIED)\b",
    r"^\s*FILE PHOTO\b",
    r"/\s*File Photo\s*$",
    r"\((?:AFP|AP|Reuters|REUTERS|EPA|Getty Images|Anadolu|Xinhua)(?:\s+Photo)?\)\s*\.?\s*$",
    r"\b(?:Photo|Image|Picture|Photograph)s?\s*(?:credit|courtesy)?\s*:\s*\S",
    r"^\s*(?:Photo|Image|Picture)s?\s+by\b",
    r"\bCollected photo\b",
    r"^\s*This (?:combination|handout|picture|photo|image|file photo)\b.{0,200}"
    r"\b(?:shows|taken|created|released)\b",
    r"\b(?:Getty Images|Shutterstock|AP Photo|AFP Photo|Reuters Photo)\b",
    r"\b[A-Z][A-Za-z.\- ]+/(?:Pool|Handout|Kremlin|Sputnik|AFP|AP|Reuters)\b",
]
_CAPTION_RE = re.compile("|".join(f"(?:{p})" for p in _CAPTION_MARKERS))

# Links, prompts and page chrome: whole-line patterns.
_CHROME_RE = re.compile(
    r"^\s*(?:"
    r"Read (?:more|also|next)\s*:?|See also\s*:|Related\s*:|Also read\s*:|Watch\s*:|Listen\s*:"
    r"|Share (?:this|on)\b|Follow us\b|Sign up\b|Subscribe\b|Click here\b|Advertisement\s*$"
    r"|We use cookies\b|This (?:site|website) uses cookies\b|Accept (?:all )?cookies\b"
    r"|(?:Reporting|Writing|Editing|Additional reporting) by\b"
    r"|By [A-Z][\w'.\-]+(?: [A-Z][\w'.\-]+){0,3}\s*(?:,|\||$)"
    r"|Updated\b.{0,40}\d|Published\b.{0,40}\d"
    r"|Copyright\b|©"
    r")",
    re.IGNORECASE,
)

# "MOSCOW (Reuters) -", "PARIS, July 1 (AFP) —": a dateline prefix is stripped, the rest is kept.
_DATELINE_RE = re.compile(
    r"^[A-Z][A-Z .'\-]{2,40}(?:,\s*[A-Z][A-Za-z.]*(?:\s+\d{1,2})?)?\s*"
    r"(?:\((?:Reuters|AP|AFP|Xinhua|Anadolu|dpa|UPI)\))?\s*[-—–]\s+"
)

_TERMINAL = (".", "!", "?", '"', "”", "’", "'", ")", ":", "…")
# A line without a final stop and at most this many words reads as a heading/subhead, not as
# reporting (news sentences end in a stop; subheads never do). Longer unterminated lines are kept:
# they are more likely body text whose stop was lost than a 16-word heading.
_HEADING_MAX_WORDS = 15
_MIN_SENTENCE_WORDS = 4  # below this a "sentence" is a fragment (a lone "-", "Photo", a name)


def extract(
    text: str | None = None, html: str | None = None, title: str | None = None
) -> Extracted:
    """Clean an article: drop furniture, split into sentences, find a title."""
    html_title: str | None = None
    if html:
        body, html_title = _from_html(html)
        if not text:
            text = body
    lines = [_normalise_line(line) for line in (text or "").splitlines()]
    lines = [line for line in lines if line]

    found_title = _headline(title)
    # The first line of posted text is the headline when it reads like one; it is not a sentence
    # of the body either way. Page furniture above it ("Advertisement") is no headline: the
    # first line after it is looked at, and the furniture stays to be dropped (and counted).
    first = next((i for i, line in enumerate(lines) if not _is_furniture(line)), None)
    if first is not None and _reads_like_heading(lines[first]):
        if found_title is None:
            found_title = _headline(lines[first])
        lines = lines[:first] + lines[first + 1 :]
    if found_title is None:
        found_title = _headline(html_title)

    sentences: list[str] = []
    dropped: list[str] = []
    for line in lines:
        if _is_furniture(line) or _reads_like_heading(line):
            dropped.append(line)
            continue
        if not sentences:  # a dateline opens the body's first paragraph, nowhere else
            line = _DATELINE_RE.sub("", line)
        for raw in _split_sentences(line):
            sentence = _clean_sentence(raw)
            if sentence and not _is_furniture(sentence) and _is_reporting_sentence(sentence):
                sentences.append(sentence)
    return Extracted(found_title, sentences, len(lines), len(dropped), tuple(dropped))


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


# pysbd splits only at these (and brackets/quotes around them); a line with none of them before its
# last character is one sentence, and most lines of news text are.
_MAY_SPLIT_RE = re.compile(r"[.!?…;:)\]\"”]")


# pysbd's abbreviation pass is quadratic in a line's length (180 kB: 11 s; 1 MB: minutes, past a
# job's claim time-out, so worker after worker took the same article): a longer line is first cut
# where a sentence plainly ends (a word of three or more lower-case letters, then ".", "!" or
# "?", a space and a capital: not "Dr. Jones" or "U.S. Senate") into pieces of about this size,
# which pysbd then splits as usual.
_PIECE_CHARS = 4000
_PLAIN_END_RE = re.compile(r"(?<=[a-z]{3}[.!?])\s+(?=[\"“‘'(]?[A-Z])")


def _split_sentences(line: str) -> list[str]:
    if len(line) <= _PIECE_CHARS:
        return _split_piece(line)
    out: list[str] = []
    piece_start = 0
    for end in _PLAIN_END_RE.finditer(line):
        if end.start() - piece_start >= _PIECE_CHARS:
            out += _split_piece(line[piece_start : end.start()])
            piece_start = end.end()
    tail = line[piece_start:]
    for start in range(0, len(tail), 4 * _PIECE_CHARS):  # (no plain end at all: cut blindly)
        out += _split_piece(tail[start : start + 4 * _PIECE_CHARS])
    return out


def _split_piece(line: str) -> list[str]:
    """pysbd's sentences of `line`, as slices of it. Its own `segment()` maps each sentence back
    onto the text with a regex compiled per sentence (a third of extraction time, as every
    pattern is new); a forward `str.find` gives the same slices, trailing spaces aside, which
    `_clean_sentence` strips anyway."""
    if not _MAY_SPLIT_RE.search(line, 0, len(line) - 1):
        return [line]
    out, pos = [], 0
    for sentence in _segmenter().processor(line).process():
        start = line.find(sentence, pos)
        if start < 0:  # pysbd drops a sentence it cannot find in the original, as here
            continue
        pos = start + len(sentence)
        out.append(line[start:pos])
    return out


def _from_html(html: str) -> tuple[str, str | None]:
    """Main text (paragraphs on their own lines) and title via trafilatura."""
    import trafilatura

    body = (
        trafilatura.extract(
            html,
            include_comments=False,
            include_tables=False,
            include_images=False,
            favor_precision=True,
        )
        or ""
    )
    meta = trafilatura.extract_metadata(html)
    meta_title = meta.title.strip() if meta is not None and meta.title else None
    return body, meta_title or None


_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([.,;:!?%](?=\s|$|[\"”’)])|[)\]”’](?=\s|$|[.,;:]))")


def _normalise_line(line: str) -> str:
    line = line.replace("\u00a0", " ").replace("\u200b", "")
    line = re.sub(r"[ \t]+", " ", line).strip()
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", line)


def _clean_sentence(raw: str) -> str:
    sentence = _normalise_line(raw)
    return sentence.strip(" -—–•*|")


def _is_furniture(line: str) -> bool:
    return bool(_CAPTION_RE.search(line) or _CHROME_RE.match(line))


# What a page's date stamp is made of: dates, times, zones and the words around them.
_STAMP_RE = re.compile(
    r"\b(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
    r"|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    r"|\d+(?:st|nd|rd|th|[ap]m)?|[ap]\.?\s?m\b\.?|gmt|utc|bst|cet|cest|[ecmp][sd]?t"
    r"|posted|updated|last|published|modified|on|at|of|by)\b",
    re.IGNORECASE,
)


def _headline(title: str | None) -> str | None:
    """The title, unless it is empty or a page's date stamp ("18 September 2013 Last updated at
    13:59 GMT", "11 / 28 / 05", "INDONESIA, July 2, 2013"): a headline says what happened. A
    stamp taken for one made reports of unrelated events look alike (they share their form)."""
    title = title.strip() if title else ""
    if not title:
        return None
    rest = _STAMP_RE.sub(" ", title)
    words = re.findall(r"[^\W\d_]{2,}", rest)
    stamp = any(ch.isdigit() for ch in title) and (
        not words or (len(words) <= 2 and all(w.isupper() for w in words))
    )
    return None if stamp else title


def _reads_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= _HEADING_MAX_WORDS
        and not line.endswith(_TERMINAL)
        and any(ch.isalpha() for ch in line)
    ) or not any(ch.isalpha() for ch in line)


def _is_reporting_sentence(sentence: str) -> bool:
    words = sentence.split()
    if len(words) < _MIN_SENTENCE_WORDS:
        return False
    # A sentence needs lower-case words; an all-caps or all-title-case run is a banner or a caption
    # tail ("ATTENTION EDITORS", "Sputnik/Kremlin/Pool").
    return any(word[:1].islower() for word in words)
