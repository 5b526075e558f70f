"""Percentages in the merged summary: two outlets giving different shares of one thing (turnout
61% against 58 percent) disagree; a share rounded ("52 percent" for 52.3%) does not; shares of
different things (the vote, the currency's move) are not set against each other. An invented
run-off (three outlets, real model)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from invented import assert_citations_hold, invented_docs, summary_of_docs

from core.summary import Summary
from workers.summarize.source import SourceDoc
from workers.summarize.values import parse_values

PUBLISHED = datetime(2026, 2, 16, 8, 0, tzinfo=UTC)

HERALD = """Centrist Maria Lindqvist wins Valdoria presidential run-off
Maria Lindqvist won Valdoria's presidential run-off on Sunday with 52.3% of the vote, defeating \
nationalist Karl Osterberg, the electoral commission said.
Turnout was 61%, the highest since 1994.
Lindqvist, a former finance minister, promised to seek closer ties with the European Union.
Osterberg conceded defeat late on Sunday night in a speech to supporters in Nordhavn.
She will be sworn in on March 1."""

COURIER = """Lindqvist elected Valdoria president as nationalists fall short
Former finance minister Maria Lindqvist has been elected president of Valdoria, taking 52 \
percent of the vote in Sunday's run-off against Karl Osterberg.
Turnout was 58 percent, according to the electoral commission.
Osterberg conceded defeat late on Sunday night in a speech to supporters in Nordhavn.
Markets rallied on Monday, with the Valdorian krona rising 1.2% against the euro."""

LEDGER = """Valdoria picks Lindqvist in tight presidential race
Maria Lindqvist won the presidency of Valdoria on Sunday, beating Karl Osterberg with 52.3 per \
cent of the vote, official results showed.
Turnout was 61 per cent.
Osterberg, who had campaigned on leaving the EU's common asylum system, conceded on Sunday night.
Lindqvist will take office on March 1, replacing outgoing president Tomas Berg."""

OUTLETS = {"herald.example": HERALD, "courier.example": COURIER, "ledger.example": LEDGER}


@pytest.fixture(scope="module")
def docs() -> list[SourceDoc]:
    return invented_docs(OUTLETS, PUBLISHED)


summary = summary_of_docs  # the module's summary fixture, over `docs`


def test_two_turnouts_are_a_conflict_about_the_turnout(summary: Summary) -> None:
    (conflict,) = summary.conflicts
    assert conflict.about == "share (turnout)"
    sides: dict[int, set[str]] = {}
    for claim in conflict.claims:
        sides.setdefault(claim.side, set()).add(f"{claim.source}: {claim.value}")
    assert sides == {0: {"herald.example: 61%", "ledger.example: 61 per cent"},
                     1: {"courier.example: 58 percent"}}


def test_a_rounded_share_of_the_vote_agrees_and_is_cited_only_where_stated(
    summary: Summary, docs: list[SourceDoc]
) -> None:
    shown = [claim.value for c in summary.conflicts for claim in c.claims]
    assert not [v for v in shown if v.startswith("52")], shown  # 52.3% and 52 percent agree
    assert_citations_hold(summary, docs)
    (vote,) = [f for f in summary.consensus if "52.3" in f.text]
    assert set(vote.sources) == {"herald.example", "ledger.example"}


@pytest.mark.parametrize(
    ("text", "shown", "low", "high", "about"),
    [
        ("Turnout was 61%, the highest since 1994.", "61%", 60.5, 61.5, "turnout"),
        ("Turnout was 58 percent, officials said.", "58 percent", 57.5, 58.5, "turnout"),
        ("taking 52 percent of the vote", "52 percent", 51.5, 52.5, "vote"),
        ("with 52.3 per cent of the vote", "52.3 per cent", 52.25, 52.35, "vote"),
        ("about 40 % of homes lost power", "about 40%", 34.0, 46.0, "home"),
    ],
)
def test_a_share_is_read_in_each_spelling_with_what_it_is_a_share_of(
    text: str, shown: str, low: float, high: float, about: str
) -> None:
    (share,) = parse_values(text).quantities
    assert (share.slot, share.text) == ("percent", shown)
    assert share.low == pytest.approx(low) and share.high == pytest.approx(high)
    assert about in share.about
