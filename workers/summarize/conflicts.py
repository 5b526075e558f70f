"""Conflicts: one fact, reported by several outlets with values that cannot all be true.

Values are compared only within a fact group (and, for a value one event has once, its
magnitude, with other outlets' clauses that come close to the group), and only slot by slot — a
day with a day, a count of injured with a count of injured — so that two numbers about different
things are never set against each other. Compatible wording ("two-hour" and "over
two hours", "Tuesday" and "July 1, 2025" when that was a Tuesday) falls on one side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.summary import Claim, Conflict
from workers.summarize.align import PARTICULAR_NAME
from workers.summarize.dates import WEEKDAYS, DayValue, SinceValue, days_agree
from workers.summarize.quantity import Quantity
from workers.summarize.text import stem, words
from workers.summarize.units import FactUnit, Story

# Nouns that name the event a date or duration belongs to, to say what a conflict is about.
_EVENT_NOUNS = [
    "call",
    "conversation",
    "talks",
    "meeting",
    "summit",
    "vote",
    "attack",
    "strike",
    "election",
    "recall",
    "announcement",
    "hearing",
    "trial",
    "match",
    "session",
    "launch",
    "visit",
    "fire",
    "crash",
    "storm",
    "protest",
    "deal",
    "discussion",
]
_EVENT_STEMS = {stem(noun): noun for noun in _EVENT_NOUNS}
_COUNT_LABEL = {"km": "kilometres"}
# Counts compared across outlets: the toll of an event (people hurt, killed, taken in, moved out;
# homes lost; votes cast). Other counts in one story are more often several things counted ("207
# punches" and "369 punches" by two boxers) than one thing counted two ways.
_TOLL_COUNTS = frozenset(
    [
        "injured", "dead", "hospitaliz", "peopl", "person", "victim", "passenger", "resident",
        "worker", "student", "soldier", "child", "famili", "arrest", "evacuat", "home", "hous",
        "vote", "seat", "km", "mile", "hostag", "casualti", "survivor", "patient", "children",
        "family",
    ]
)  # fmt: skip

Value = DayValue | SinceValue | Quantity
# A clause of another outlet this close to a fact group (pair score; SAME_FACT is 0.7) is
# compared with it too.
NEAR_FACT = 0.55
SINGULAR = "magnitude:"  # slots an event has one value of, read from near clauses too
# A date that opens a sentence, bare or after "Posted on", is when the page was written (a
# dateline), not the day of the event; the parsed date stands as \0 in the pattern's input.
_DATELINE_RE = re.compile(
    r"^\W*(?:(?:First\s+)?(?:Posted|Published|Last updated|Updated)(?:\s+on)?:?\s*)?"
    r"(?:[A-Z][a-z]+day,?\s*)?\0"
)
_ON_DATE_RE = re.compile(r"\b[Oo]n\s+(?:[A-Z][a-z]+day,?\s+)?\0")


@dataclass
class _Side:
    label: str  # canonical key of the value class, to merge what several groups found
    items: list[tuple[FactUnit, Value]]

    @property
    def outlets(self) -> set[str]:
        return {unit.outlet for unit, _ in self.items}


@dataclass(frozen=True)
class FoundConflict:
    conflict: Conflict
    contested_units: frozenset[int]  # units holding a value fewer outlets back


def find_conflicts(
    story: Story, groups: Sequence[list[int]], scores: npt.NDArray[np.float64]
) -> list[FoundConflict]:
    found: dict[tuple[str, tuple[str, ...]], tuple[str, list[_Side]]] = {}
    for group in groups:
        if len({story.units[i].outlet for i in group}) < 2:
            continue
        members = [story.units[i] for i in group]
        near = _near(story, group, scores)
        for slot, items in sorted(_slot_values(members + near, {u.index for u in near}).items()):
            sides = _sides(items)
            if len(sides) < 2:
                continue
            if any(a.outlets & b.outlets for k, a in enumerate(sides) for b in sides[k + 1 :]):
                # An outlet giving both values (the Orioles' seven-year offer, the Red Sox's
                # eight-year one) reports two things, not a disagreement between outlets.
                continue
            if _different_subjects(story, sides):
                continue
            about = _about(slot, members, sides)
            if not about:
                continue  # a day or length of no named event: too vague to set against another
            key = (slot, tuple(sorted(side.label for side in sides)))
            if key in found:
                _merge_sides(found[key][1], sides)
            else:
                found[key] = (about, sides)
    results = [_as_conflict(about, sides) for about, sides in found.values()]
    return sorted(results, key=lambda f: (f.conflict.about, [c.source for c in f.conflict.claims]))


def _near(story: Story, group: list[int], scores: npt.NDArray[np.float64]) -> list[FactUnit]:
    """Each other outlet's clause closest to the group, if it comes within NEAR_FACT of it: the
    same fact told with other details around it ("The earthquake, which the institute measured
    at magnitude 7.0, struck near Arequipa" beside "A magnitude 6.8 earthquake struck southern
    Peru, killing 12") scores under the same-fact bar because the details differ. Only a value
    that one event has once (its magnitude) is read from such a clause: durations, counts and
    days in a clause merely near a fact are as often of something else (reading every slot
    added 18 conflicts on the ECB+ and giveme5w1h-dev events, most about two different things:
    an age and a sentence, two ships' passengers)."""
    held = (q for i in group for q in story.units[i].values.quantities)
    if not any(q.slot.startswith(SINGULAR) for q in held):
        return []  # nothing near could be compared (and most groups skip the scan)
    inside = {story.units[i].outlet for i in group}
    best: dict[str, tuple[float, int]] = {}
    closest = scores[group].max(axis=0)  # each clause's best score with the group
    for j in np.flatnonzero(closest >= NEAR_FACT):
        unit = story.units[int(j)]
        score = float(closest[j])
        if unit.outlet not in inside and score > best.get(unit.outlet, (-np.inf, 0))[0]:
            best[unit.outlet] = (score, int(j))
    return [story.units[j] for _, j in sorted(best.values(), key=lambda b: b[1])]


def _different_subjects(story: Story, sides: Sequence[_Side]) -> bool:
    """Two sides each name a particular (a name rare in the story) the other never names: the
    values are told of two subjects, not one ("the Red Sox offered an eight-year deal", "the
    Orioles offered a seven-year one"), the same evidence alignment's clash penalty reads. One
    fact told two ways shares its particulars: "Putin and Macron spoke on Monday" against
    "... on Tuesday, the Kremlin said" leaves the Monday side nothing of its own."""
    named = [
        {
            name
            for unit, _ in side.items
            for name in unit.names
            if story.name_weight.get(name, 0.0) >= PARTICULAR_NAME
        }
        for side in sides
    ]
    return any(a - b and b - a for k, a in enumerate(named) for b in named[k + 1 :])


def _slot_values(
    members: list[FactUnit], near: set[int]
) -> dict[str, list[tuple[FactUnit, Value]]]:
    """Values of the group's clauses by slot; a `near` clause gives its magnitudes only."""
    slots: dict[str, list[tuple[FactUnit, Value]]] = {}
    for unit in members:
        if unit.index in near:
            for quantity in unit.values.quantities:
                if quantity.slot.startswith(SINGULAR):
                    slots.setdefault(quantity.slot, []).append((unit, quantity))
            continue
        for day in unit.values.days:
            # A bare weekday in an article without a date cannot be placed: "Friday" and
            # "Tuesday" may be two days of one story, not two claims about one day.
            placed = day.day is not None or unit.doc.published_at is not None
            if placed and _event_day(unit.sentence, day):
                slots.setdefault("day", []).append((unit, day))
        for since in unit.values.since:
            slots.setdefault("since", []).append((unit, since))
        for quantity in unit.values.quantities:
            kind, _, what = quantity.slot.partition(":")
            if kind == "count" and what not in _TOLL_COUNTS:
                continue  # 207 punches, 404 yards: statistics of several things, not one count
            slots.setdefault(quantity.slot, []).append((unit, quantity))
    for slot, items in list(slots.items()):
        # One sentence giving several values of one slot ("the Angels at $160MM, the Orioles
        # $140-150MM") lists several things, or a range: not one claim to set against another.
        shown: dict[int, set[str]] = {}
        for unit, value in items:
            shown.setdefault(unit.index, set()).add(_canonical(value))
        slots[slot] = [(u, v) for u, v in items if len(shown[u.index]) == 1]
    for slot in [s for s in slots if s != "day"]:
        # Sums of money are one quantity only when the words around them say what they are the
        # same way ("the $2.1 billion stadium bond", "the $2 billion bond"): the city's $600
        # million share of it is another quantity, not a contradiction. And no quantity is one
        # when each clause names someone the other does not (the Orioles' seven-year offer, the
        # Red Sox's eight-year one).
        parts = _same_thing(slots.pop(slot), need_about=slot.startswith(("amount:", "percent")))
        for k, part in enumerate(parts):
            slots[f"{slot}#{k}" if k else slot] = part
    return slots


def _event_day(sentence: str, day: DayValue) -> bool:
    """A day the sentence says something happened on: a weekday, or a date after "on". A date
    that opens the sentence, bare or after "Posted on", is when the page was written (a
    dateline), and one in other prose ("WASHINGTON, April 28, 2009 The …") is most often one
    too."""
    if day.text.lower() in WEEKDAYS:
        return True
    marked = sentence.replace(day.text, "\0", 1)
    return not _DATELINE_RE.match(marked) and bool(_ON_DATE_RE.search(marked))


def _same_thing(
    items: list[tuple[FactUnit, Value]], need_about: bool
) -> list[list[tuple[FactUnit, Value]]]:
    """Values linked by a shared word around them (when `need_about`) and no clash of names
    (connected components)."""
    abouts = [value.about if isinstance(value, Quantity) else frozenset() for _, value in items]

    def linked(i: int, j: int) -> bool:
        a, b = items[i][0].names, items[j][0].names
        return not ((need_about and not abouts[i] & abouts[j]) or (a - b and b - a))

    return [[items[i] for i in part] for part in _components(len(items), linked)]


def _agree(a: Value, b: Value) -> bool:
    if isinstance(a, DayValue) and isinstance(b, DayValue):
        return days_agree(a, b)
    if isinstance(a, SinceValue) and isinstance(b, SinceValue):
        return a.meets(b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return a.meets(b)
    return True


def _sides(items: list[tuple[FactUnit, Value]]) -> list[_Side]:
    """Classes of mutually compatible values (connected components of "agrees with"), the side
    more outlets take first."""
    sides = [
        _Side(label="", items=[items[i] for i in part])
        for part in _components(len(items), lambda i, j: _agree(items[i][1], items[j][1]))
    ]
    for side in sides:
        side.label = min(_canonical(value) for _, value in side.items)
    return sorted(sides, key=lambda s: (-len(s.outlets), s.label))


def _components(n: int, linked: Callable[[int, int], bool]) -> list[list[int]]:
    """Connected components of 0..n-1 under `linked` (union-find), each in index order, in the
    order of their first member."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if linked(i, j):
                parent[root(j)] = root(i)
    parts: dict[int, list[int]] = {}
    for i in range(n):
        parts.setdefault(root(i), []).append(i)
    return list(parts.values())


def _canonical(value: Value) -> str:
    if isinstance(value, DayValue):
        if value.day is not None:
            return value.day.isoformat()
        return WEEKDAYS[value.weekday] if value.weekday is not None else value.text
    if isinstance(value, SinceValue):
        return f"{value.year}-{value.month or 0:02d}"
    return f"{value.low:g}-{value.high:g}"


def _merge_sides(into: list[_Side], more: list[_Side]) -> None:
    by_label = {side.label: side for side in into}
    for side in more:
        target = by_label[side.label]
        seen = {(unit.index, value.text) for unit, value in target.items}
        target.items.extend(
            item for item in side.items if (item[0].index, item[1].text) not in seen
        )
    into.sort(key=lambda s: (-len(s.outlets), s.label))


def _as_conflict(about: str, sides: list[_Side]) -> FoundConflict:
    claims: list[Claim] = []
    for side_index, side in enumerate(sides):
        first_per_outlet: dict[str, tuple[FactUnit, Value]] = {}
        for unit, value in sorted(side.items, key=lambda item: item[0].index):
            first_per_outlet.setdefault(unit.outlet, (unit, value))
        for unit, value in first_per_outlet.values():
            claims.append(
                Claim(
                    source=unit.doc.source,
                    value=_shown(value),
                    text=unit.sentence,
                    article_id=unit.doc.article_id,
                    side=side_index,
                )
            )
    # With a clear majority, only the minority's clauses are contested; on a tie, all are.
    tie = len(sides[0].outlets) == len(sides[1].outlets)
    contested = frozenset(
        unit.index for side in (sides if tie else sides[1:]) for unit, _ in side.items
    )
    return FoundConflict(Conflict(about=about, claims=claims), contested)


def _shown(value: Value) -> str:
    """The value as written; a date also names its weekday, so a reader sees why it sides with
    "Tuesday"."""
    if (
        isinstance(value, DayValue)
        and value.day is not None
        and value.weekday is not None
        and value.text.lower() not in WEEKDAYS
    ):
        return f"{value.text} ({WEEKDAYS[value.weekday].capitalize()})"
    return value.text


def _about(slot: str, members: list[FactUnit], sides: list[_Side]) -> str:
    example = sides[0].items[0][1].text
    event = _event_noun(members)
    kind, _, what = slot.partition("#")[0].partition(":")
    if kind == "day":
        return f"day of the {event}" if event else ""
    if kind == "since":
        return f"date of the last {event or 'contact'} before this one"
    if kind == "duration":
        return f"length of the {event}" if event else ""
    if kind == "amount":
        return f"amount ({what})"
    if kind == "percent":
        # What every value is a share of, as the words around them say ("turnout", "vote").
        shared = frozenset.intersection(
            *(v.about for side in sides for _, v in side.items if isinstance(v, Quantity))
        )
        return f"share ({', '.join(sorted(shared))})" if shared else "share"
    if kind == "magnitude":
        return "magnitude of the aftershock" if what == "aftershock" else "magnitude of the quake"
    if what in ("injured", "dead"):
        return f"number of {what}"
    return f"number of {_COUNT_LABEL.get(what, example.split()[-1].lower())}"


def _event_noun(members: list[FactUnit]) -> str:
    counts: dict[str, int] = {}
    for unit in members:
        for token in words(unit.text):
            noun = _EVENT_STEMS.get(stem(token))
            if noun:
                counts[noun] = counts.get(noun, 0) + 1
    return min(counts, key=lambda n: (-counts[n], n)) if counts else ""
