"""Typed values a statement commits to — the day something happened, a count, a duration, an
amount — parsed with enough meaning to tell compatible wording from a contradiction.

Every quantity is an interval: "two-hour" is [2h, 2h], "over two hours" is [2h, ∞), "nearly three
years" is [2.4y, 3y]. Two reports agree when their intervals meet; "12 injured" and "15 injured"
do not meet and are a conflict, "two-hour" and "over two hours" meet and are not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from workers.summarize.dates import DayValue, SinceValue, parse_dates
from workers.summarize.magnitudes import magnitudes, names_past_year
from workers.summarize.quantity import Quantity, last_digit_unit
from workers.summarize.text import content_stems, stem

__all__ = ["Quantity", "Values", "parse_values"]

# fmt: off
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "a dozen": 12, "a hundred": 100,
    "a thousand": 1000,
}
# fmt: on
# Vague plurals as the ranges readers take them to mean.
# fmt: off
_VAGUE = {
    "dozens": (24.0, 99.0), "scores": (40.0, 99.0), "hundreds": (200.0, 999.0),
    "thousands": (2000.0, 9999.0), "millions": (2e6, 9.99e8),
}
# fmt: on
# fmt: off
_SCALE = {
    "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3, "m": 1e6,
    "mn": 1e6, "bn": 1e9, "tn": 1e12,
}
# fmt: on
# "pounds" is left out: in news it is as often a weight ("48,000 pounds of dumplings") as money,
# and "£" marks the money.
# fmt: off
_CURRENCY = {
    "$": "USD", "€": "EUR", "£": "GBP", "dollars": "USD", "dollar": "USD", "euros": "EUR",
    "euro": "EUR", "usd": "USD",
    "eur": "EUR", "gbp": "GBP",
}
# fmt: on

# Seconds per time unit; durations in different ranges (minutes vs days vs years) are kept in
# separate slots because a sentence's "two-hour call" and "12-day war" are not one quantity.
# fmt: off
_TIME_UNITS = {
    "second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0,
    "month": 2629800.0, "year": 31557600.0,
}
# fmt: on
# fmt: off
_TIME_RANGE = {
    "second": "short", "minute": "short", "hour": "short", "day": "days", "week": "days",
    "month": "days", "year": "years",
}
# fmt: on
_TIME_UNIT_BY_STEM = {stem(unit): unit for unit in _TIME_UNITS}
# Count nouns that are one quantity under several words.
# fmt: off
_COUNT_SYNONYMS = {
    "injured": "injured", "wounded": "injured", "injury": "injured", "injuri": "injured",
    "hurt": "injured", "dead": "dead", "killed": "dead", "kill": "dead", "death": "dead",
    "died": "dead", "fatality": "dead", "fataliti": "dead", "kilometr": "km",
    "kilometer": "km", "km": "km", "mile": "mile", "vote": "vote", "votes": "vote",
}
# fmt: on
_SKIP_AFTER_NUMBER = frozenset(
    ["people", "persons", "of", "the", "more", "than", "were", "was", "have", "been", "had"]
)

_QUALIFIER_RE = (
    r"(?P<qual>more than|over|at least|upwards of|above|nearly|almost|just under|under|"
    r"less than|fewer than|up to|about|around|roughly|some|approximately|an estimated)?\s*"
)
_NUMBER_RE = (
    r"(?P<num>\d[\d,]*(?:\.\d+)?|(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-)?"
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|a dozen|a hundred|a thousand)(?: and a half)?|dozens|scores|hundreds|"
    r"thousands|millions)"
)
_QUANTITY_RE = re.compile(
    r"(?<![\w-])"
    + _QUALIFIER_RE
    + r"(?P<cur>[$€£])?"
    + _NUMBER_RE
    + r"(?:(?:\s*|-)(?P<scale>thousand|million|billion|trillion|bn|mn|m|k)\b)?"
    + r"(?:(?P<sep>-|\s+)(?P<after>(?:[A-Za-z'’]+\s+){0,3}[A-Za-z'’]+))?",
    re.IGNORECASE,
)

# fmt: off
_CLOCK = frozenset([
    "pm", "am", "p", "a", "p.m", "a.m", "gmt", "bst", "utc", "et", "edt", "est", "pst", "pdt",
    "cet", "cest", "hrs", "h",
])
# fmt: on
_REFERENCE_RE = re.compile(r"\b(?:the|their|its|our|both)\s*$")


@dataclass(frozen=True)
class Values:
    days: tuple[DayValue, ...]
    since: tuple[SinceValue, ...]
    quantities: tuple[Quantity, ...]


def parse_values(text: str, published: datetime | None = None) -> Values:
    days, since, masked = parse_dates(text, published)
    # A clause that names a past year ("In 2004, a magnitude 9.1 quake...") tells of another
    # quake: its magnitude is not this one's (the year itself is masked by now).
    quakes, masked = ([], masked) if names_past_year(text, published) else magnitudes(masked)
    quantities = [q for m in _QUANTITY_RE.finditer(masked) if (q := _quantity(m)) is not None]
    return Values(tuple(days), tuple(since), tuple(quakes + quantities))


def _quantity(match: re.Match[str]) -> Quantity | None:
    if match.group("num").endswith(",") and match.string[match.end("num") :][:4].strip().isdigit():
        return None  # "$1, 199": a thousands separator the text split, not the number 1
    number = _number(match.group("num"))
    if number is None:
        return None
    low, high = number
    scale = match.group("scale")
    if scale:
        factor = _SCALE[scale.lower()]
        low, high = low * factor, high * factor
    before = match.string[max(0, match.start() - 6) : match.start()].lower()
    if before.endswith(":") or match.string[match.end() : match.end() + 4].lower() == "-old":
        return None  # "10:40", "a 37-year-old": a clock time or an age, not a reported quantity
    if low < 10 and _REFERENCE_RE.search(before):
        return None  # "the two leaders": a reference to known things, not a reported count
    # A comma after the digits ends the phrase: "injuring 80, the country's institute said"
    # counts nothing named "country" (a currency still says what the number is).
    cut = match.group("num").endswith(",")
    after = [] if cut else [w.lower() for w in (match.group("after") or "").split()]
    vague = match.group("num").lower() in _VAGUE
    percent = _percent(match, after)
    slot = percent or _slot(match.group("cur"), after, hyphenated=match.group("sep") == "-",
                            vague=vague)
    if slot is None:
        return None
    name, factor, used_words = slot
    qualifier = (match.group("qual") or "").lower()
    if percent and not qualifier:
        # "52 percent" is how one writes 52.3% rounded: anything that rounds to it.
        unit = last_digit_unit(match.group("num"))
        low, high = low - unit / 2, high + unit / 2
    elif not qualifier and (scale or name.startswith("amount:")):
        # "$2 billion" is how one writes $2.1 billion rounded: a sum of money or a scaled number
        # stands for any value that rounds to it at its last written digit.
        unit = last_digit_unit(match.group("num")) * (_SCALE[scale.lower()] if scale else 1)
        # Rounded either way ($2.1 billion as "$2 billion") or cut down to the round figure
        # ($13.9 billion as "$13 billion"): anything from half a unit below to a unit above.
        low, high = low - unit / 2, high + unit
    low, high = _qualify(qualifier, low * factor, high * factor)
    # Shown as written, up to the word that says what is counted ("three people dead").
    shown = (
        match.group(0)[: match.start("after") - match.start()]
        if match.group("after")
        else (match.group(0))
    )
    shown = (shown + " ".join(match.group("after").split()[:used_words])) if used_words else shown
    if percent and not used_words:  # "61%": the sign, not what follows it
        shown = match.group(0)[: match.end("num") - match.start()] + "%"
    about = _around_percent(match) if percent else _around(match)
    return Quantity(shown.strip(" -,"), name, low, high, about)


def _percent(match: re.Match[str], after: list[str]) -> tuple[str, float, int] | None:
    """A share ("52.3%", "52 percent", "52.3 per cent") is slot "percent"; which share it is
    comes from the words around it (`about`), as for a sum of money."""
    if match.string[match.end("num") :].lstrip(" ").startswith("%"):
        return "percent", 1.0, 0
    if after[:1] == ["percent"] or after[:1] == ["pct"]:
        return "percent", 1.0, 1
    if after[:2] == ["per", "cent"]:
        return "percent", 1.0, 2
    return None


def _around_percent(match: re.Match[str]) -> frozenset[str]:
    """What a share is of: the content stems of the four words before it and the three after,
    the clause's opening word included ("Turnout was 61%")."""
    before = match.string[: match.start()].split()[-4:]
    rest = match.string[match.end("num") :].replace("%", " ").replace("-", " ").split()[:5]
    after = [w for w in rest if w.lower().strip(".,") not in _PERCENT_WORDS][:3]
    return content_stems(" ".join(before + after).lower()) - _NOT_ABOUT


_PERCENT_WORDS = frozenset(["percent", "per", "cent", "pct"])


_NOT_ABOUT = frozenset(_SCALE) | frozenset(_CURRENCY) | {"percent", "cent", "worth", "valu"}


def _around(match: re.Match[str]) -> frozenset[str]:
    """Content stems of the three words before the number and the two after it."""
    before = match.string[: match.start()].split()[-3:]
    after = match.string[match.end("num") :].replace("-", " ").split()[:3]
    # Common nouns say what the sum is of ("bond", "share", "cash"); names ("AMD") say whose.
    common = [w for w in before + after if w[:1].islower()]
    return content_stems(" ".join(common)) - _NOT_ABOUT


def _number(text: str) -> tuple[float, float] | None:
    lowered = text.lower()
    if lowered in _VAGUE:
        return _VAGUE[lowered]
    half = 0.5 if lowered.endswith(" and a half") else 0.0
    lowered = lowered.removesuffix(" and a half")
    if lowered[0].isdigit():
        value = float(lowered.replace(",", ""))
        if 1900 <= value <= 2100 and "," not in lowered:
            return None  # a year, parsed as a date elsewhere
    elif "-" in lowered:
        tens, ones = lowered.split("-", 1)
        value = float(_NUMBER_WORDS[tens] + _NUMBER_WORDS[ones])
    else:
        value = float(_NUMBER_WORDS[lowered])
    return value + half, value + half


def _slot(
    currency: str | None, after: list[str], hyphenated: bool, vague: bool
) -> tuple[str, float, int] | None:
    """What the number measures, the factor to the slot's base unit, and how many of the words
    after the number it took to say so."""
    if currency:
        return f"amount:{_CURRENCY[currency]}", 1.0, 0
    if after and after[0].rstrip(".") in _CLOCK:
        return None  # "4 p.m.", "0241 GMT": a time of day, not a quantity
    for used, word in enumerate(after, start=1):
        if word == "of" and not vague:
            return None  # "one of the", "two of them": a part of something, not a count
        if word in _CURRENCY:
            return f"amount:{_CURRENCY[word]}", 1.0, used
        key = stem(word)
        if key in _TIME_UNIT_BY_STEM:
            unit = _TIME_UNIT_BY_STEM[key]
            return f"duration:{_TIME_RANGE[unit]}", _TIME_UNITS[unit], used
        if key in _COUNT_SYNONYMS or word in _COUNT_SYNONYMS:
            return f"count:{_COUNT_SYNONYMS.get(key, _COUNT_SYNONYMS.get(word))}", 1.0, used
        if word in _SKIP_AFTER_NUMBER:
            continue
        if hyphenated or word in ("in", "to", "and", "or", "a", "an"):
            return None  # "two-thirds", "12-point plan", "one in five": not a count of things
        return f"count:{key}", 1.0, used
    return None


def _qualify(qualifier: str, low: float, high: float) -> tuple[float, float]:
    if qualifier in ("more than", "over", "at least", "upwards of", "above"):
        return low, math.inf
    if qualifier in ("nearly", "almost", "just under"):
        return low * 0.8, high
    if qualifier in ("under", "less than", "fewer than", "up to"):
        return 0.0, high
    if qualifier in ("about", "around", "roughly", "some", "approximately", "an estimated"):
        return low * 0.85, high * 1.15
    return low, high
