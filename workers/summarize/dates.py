"""Days and dates a statement commits to: "on Tuesday", "on July 1, 2025", "since September 2022".

A weekday is resolved against the article's publication date (news says "on Tuesday" of the past
week), so "Tuesday" and "July 1, 2025" compare as the same day when 1 July 2025 was a Tuesday.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9

_DATE_RE = re.compile(
    r"(?P<prep>\b(?:on|since|in|from|until|by)\s+)?(?:"
    r"(?P<m1>[A-Z][a-z]{2,8})\.?\s+(?P<d1>\d{1,2})(?!\d)(?:st|nd|rd|th)?(?:,\s*(?P<y1>\d{4}))?"
    r"|(?P<d2>(?<!\d)\d{1,2})(?:st|nd|rd|th)?\s+(?P<m2>[A-Z][a-z]{2,8})(?:,?\s+(?P<y2>\d{4}))?"
    r"|(?P<m3>[A-Z][a-z]{2,8})\.?\s+(?P<y3>\d{4})"
    r"|(?P<y4>(?:19|20)\d{2})(?!\s*(?:-|\s)(?:hour|day|year|km|people)))",
)
_DIGIT_RE = re.compile(r"\d")
_WEEKDAY_RE = re.compile(
    r"(?P<prep>\b(?:on|last|next|this)\s+)?\b(?P<day>" + "|".join(WEEKDAYS) + r")\b", re.IGNORECASE
)


@dataclass(frozen=True)
class DayValue:
    """When something happened, to the day: a weekday, an explicit date, or both once resolved."""

    text: str
    weekday: int | None  # 0 = Monday
    day: date | None


@dataclass(frozen=True)
class SinceValue:
    """A "since <month> <year>" reference, at month or year granularity."""

    text: str
    year: int
    month: int | None

    def meets(self, other: SinceValue) -> bool:
        if self.year != other.year:
            return False
        return self.month is None or other.month is None or self.month == other.month


def parse_dates(
    text: str, published: datetime | None
) -> tuple[list[DayValue], list[SinceValue], str]:
    """Days and "since" dates in the text, and the text with them blanked out (so their digits
    are not read again as counts)."""
    days: list[DayValue] = []
    since: list[SinceValue] = []
    masked = text
    # Every form of date has a digit in it: most clauses have none, and the search is skipped.
    for match in _DATE_RE.finditer(text) if _DIGIT_RE.search(text) else ():
        month_name = match.group("m1") or match.group("m2") or match.group("m3")
        month = _MONTHS.get(month_name.lower().rstrip(".")) if month_name else None
        if month_name and month is None:
            continue
        year_text = match.group("y1") or match.group("y2") or match.group("y3") or match.group("y4")
        day_text = match.group("d1") or match.group("d2")
        year = int(year_text) if year_text else (published.year if published else None)
        prep = (match.group("prep") or "").strip().lower()
        span = match.group(0).strip()
        masked = masked.replace(match.group(0), " " * len(match.group(0)), 1)
        if day_text and month and year:
            try:
                when = date(year, month, int(day_text))
            except ValueError:
                continue
            if prep in ("", "on"):
                days.append(DayValue(span.removeprefix("on ").strip(), when.weekday(), when))
        elif prep == "since" and year:
            since.append(SinceValue(span, year, month))
    for match in _WEEKDAY_RE.finditer(masked):
        weekday = WEEKDAYS.index(match.group("day").lower())
        days.append(DayValue(match.group("day"), weekday, _resolve_weekday(weekday, published)))
    return days, since, masked


def _resolve_weekday(weekday: int, published: datetime | None) -> date | None:
    """News says "on Tuesday" of the past week: the latest such day on or before publication."""
    if published is None:
        return None
    back = (published.weekday() - weekday) % 7
    return published.date() - timedelta(days=back)


def days_agree(a: DayValue, b: DayValue) -> bool:
    """Two weekday names agree when they name the same weekday, whatever the articles' dates (two
    reports a week apart both saying "Tuesday" mean one Tuesday); a weekday and an explicit date
    are compared as dates once the weekday is resolved, else by weekday."""
    if a.text.lower() in WEEKDAYS and b.text.lower() in WEEKDAYS:
        return a.weekday == b.weekday
    if a.day is not None and b.day is not None:
        return a.day == b.day
    return a.weekday is None or b.weekday is None or a.weekday == b.weekday
