"""An earthquake's magnitude in the merged summary: outlets that give different magnitudes for
one quake disagree, and the summary says so; an aftershock's or an older quake's magnitude is not
set against it. An invented story (four outlets, real model): two outlets and a third writing
"6.8-magnitude" agree on 6.8, one reports the national institute's 7.0, and one adds a 5.2
aftershock and the region's 8.4 quake of 2001."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from invented import assert_citations_hold, invented_docs, summary_of_docs

from core.summary import Summary
from workers.summarize.source import SourceDoc
from workers.summarize.values import parse_values

PUBLISHED = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)

ANDES = """Strong earthquake strikes southern Peru, killing at least 12
A magnitude 6.8 earthquake struck southern Peru early on Thursday, killing at least 12 people \
and injuring more than 80, the country's civil defence institute said.
The quake hit at 4:12 a.m. local time about 35 kilometres south-east of Arequipa, at a depth of \
60 kilometres, according to the United States Geological Survey.
Several adobe houses collapsed in the towns of Chivay and Yanque, where most of the victims \
were found.
President Dina Boluarte said she would travel to the region on Friday.
Rescue teams were still searching the rubble on Thursday afternoon."""

PACIFIC = """Peru earthquake: death toll rises to 15 as rescuers search rubble
The death toll from Thursday's earthquake in southern Peru has risen to 15, regional officials \
said, as rescuers dug through collapsed homes in the Colca valley.
The earthquake, which Peru's Geophysical Institute measured at magnitude 7.0, struck near \
Arequipa before dawn.
Most of the dead were in Chivay, where a church tower fell onto a market street.
The regional governor, Rohel Sánchez, declared a state of emergency in four provinces.
Electricity was cut to about 40,000 homes in Arequipa."""

COLCA = """Quake in southern Peru kills 12, damages colonial churches
At least 12 people died when a 6.8-magnitude earthquake shook southern Peru on Thursday, the \
civil defence institute said.
The quake was centred about 35 kilometres south-east of Arequipa, Peru's second city.
In Yanque, the 18th-century church of the Immaculate Conception lost part of its facade.
Rescue teams were still searching the rubble on Thursday afternoon.
Tourism officials closed the road to the Colca Canyon, one of the country's most visited \
sites, because of landslides."""

MISTI = """Aftershock rattles Arequipa as Peru counts quake damage
A magnitude 5.2 aftershock shook Arequipa on Thursday afternoon, hours after the magnitude 6.8 \
earthquake that killed at least 12 people in southern Peru.
The aftershock caused no new damage, the civil defence institute said.
The region's last major earthquake, a magnitude 8.4 quake in 2001, killed 74 people.
Schools in the province of Caylloma will stay closed until Monday."""

OUTLETS = {"andes.example": ANDES, "pacific.example": PACIFIC, "colca.example": COLCA,
           "misti.example": MISTI}


@pytest.fixture(scope="module")
def docs() -> list[SourceDoc]:
    return invented_docs(OUTLETS, PUBLISHED)


summary = summary_of_docs  # the module's summary fixture, over `docs`


def test_two_magnitudes_for_one_quake_are_a_conflict_with_each_outlet_on_its_side(
    summary: Summary,
) -> None:
    (conflict,) = [c for c in summary.conflicts if "magnitude" in c.about]
    assert conflict.about == "magnitude of the quake"
    sides: dict[int, set[str]] = {}
    values: dict[int, set[str]] = {}
    for claim in conflict.claims:
        sides.setdefault(claim.side, set()).add(claim.source)
        values.setdefault(claim.side, set()).add(claim.value)
    # "magnitude 6.8" and "6.8-magnitude" are one value; the side more outlets take comes first.
    assert sides == {0: {"andes.example", "colca.example", "misti.example"},
                     1: {"pacific.example"}}
    assert values[1] == {"magnitude 7.0"} and "6.8-magnitude" in values[0]


def test_an_aftershock_and_an_older_quake_are_not_set_against_the_quake(
    summary: Summary,
) -> None:
    shown = [claim.value for c in summary.conflicts for claim in c.claims]
    assert not [v for v in shown if "5.2" in v or "8.4" in v], shown


def test_no_line_cites_an_outlet_for_a_magnitude_it_does_not_give(
    summary: Summary, docs: list[SourceDoc]
) -> None:
    assert_citations_hold(summary, docs)
    assert not [f.text for f in summary.consensus
                if "6.8" in f.text and "pacific.example" in f.sources]


@pytest.mark.parametrize(
    ("text", "slot", "low", "high"),
    [
        ("A magnitude 6.8 earthquake struck", "magnitude:quake", 6.75, 6.85),
        ("a 6.8-magnitude quake", "magnitude:quake", 6.75, 6.85),
        ("with a preliminary magnitude of 4.4", "magnitude:quake", 4.35, 4.45),
        ("It measured 7.1 on the Richter scale.", "magnitude:quake", 7.05, 7.15),
        ("Magnitude 7 quake hits Chile", "magnitude:quake", 6.5, 7.5),  # rounded: 6.5-7.5
        ("a magnitude 5.2 aftershock followed", "magnitude:aftershock", 5.15, 5.25),
    ],
)
def test_a_magnitude_is_read_whichever_side_of_the_number_its_word_stands(
    text: str, slot: str, low: float, high: float
) -> None:
    (quantity,) = parse_values(text).quantities
    assert quantity.slot == slot
    assert quantity.low == pytest.approx(low) and quantity.high == pytest.approx(high)


@pytest.mark.parametrize(
    "text",
    [
        "In 2004, a magnitude 9.1 quake triggered a tsunami.",  # another, older quake
        "1-magnitude quake off Aceh.",  # a decimal cut by a split sentence ("6. 1-magnitude")
        "It struck with a magnitude-6.",
        "A 12-magnitude claim",  # no such magnitude
    ],
)
def test_what_is_not_this_quakes_magnitude_is_not_read_as_one(text: str) -> None:
    published = datetime(2013, 7, 2, tzinfo=UTC)
    assert not [q for q in parse_values(text, published).quantities
                if q.slot.startswith("magnitude")]
