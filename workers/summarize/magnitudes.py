"""An earthquake's magnitude as a value of the summary ("magnitude 6.8", "a 6.8-magnitude quake",
"7.1 on the Richter scale"): one quake has one, so outlets that give two disagree."""

from __future__ import annotations

import re
from datetime import datetime

from workers.summarize.quantity import Quantity, last_digit_unit

# The scale word comes before the number as often as after it, so the count pattern of
# values.py (number, then what is counted) reads a magnitude as a count of earthquakes or misses
# it; magnitudes are read first and their numbers blanked out.
_MAGNITUDE_RE = re.compile(
    r"\b(?:[Mm]agnitude(?:\s+of)?[\s-]+|M(?=\d))(?P<before>\d{1,2}(?:\.\d{1,2})?)(?![\d.]\d)"
    r"|(?<![\w.,])(?P<after>\d{1,2}(?:\.\d{1,2})?)(?:-|\s+)(?:[Mm]agnitude|on the Richter scale)\b"
)
_AFTERSHOCK_RE = re.compile(r"\b(?:after|fore)shocks?\b", re.IGNORECASE)
_YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")
_DIGIT_RE = re.compile(r"\d")


def names_past_year(text: str, published: datetime | None) -> bool:
    this_year = published.year if published else None
    return any(int(year) != this_year for year in _YEAR_RE.findall(text))


def _cut_decimal(text: str, match: re.Match[str], group: str) -> bool:
    """A whole number that a sentence split may have cut from its decimals: "…a magnitude 6."
    ending the clause, or "1-magnitude quake…" opening it (text tokenised as "6. 1")."""
    if "." in match.group(group):
        return False
    start, end = match.span(group)
    return text[end:].strip() == "." or not text[:start].strip(" \"'“(")


def magnitudes(text: str) -> tuple[list[Quantity], str]:
    """Magnitudes in the text, and the text with their numbers blanked out. An aftershock's
    magnitude is another quantity than the main shock's ("magnitude:aftershock")."""
    found: list[Quantity] = []
    masked = text
    for match in _MAGNITUDE_RE.finditer(text) if _DIGIT_RE.search(text) else ():
        group = "before" if match.group("before") else "after"
        number = match.group(group)
        value = float(number)
        if not 0 < value <= 10 or _cut_decimal(text, match, group):
            continue
        # What the magnitude is of: the words right around it ("a magnitude 5.1 aftershock",
        # "an aftershock of magnitude 5.1"), not the rest of the sentence.
        near = " ".join(text[: match.start()].split()[-4:] + text[match.end() :].split()[:2])
        what = "aftershock" if _AFTERSHOCK_RE.search(near) else "quake"
        # Written to its last digit: "6.8" is any reading that rounds to it, "7" anything 6.5-7.5.
        half = last_digit_unit(number) / 2
        found.append(Quantity(match.group(0).strip(" -"), f"magnitude:{what}", value - half,
                              value + half))
        start, end = match.span(group)
        masked = masked[:start] + " " * (end - start) + masked[end:]
    return found, masked
