"""The merged summary as a reader sees it, on the seeds and on an invented story (real model)."""

from __future__ import annotations

import functools
import importlib
import json
import random
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import fixtures_story as recall
import numpy as np
import numpy.typing as npt
import pytest

from core.summary import Conflict, Summary
from embedding.torch_backend import SentenceTransformerEmbedder, shared_embedder
from workers.extract import extract
from workers.summarize import summarize
from workers.summarize.align import align
from workers.summarize.consensus import without_days
from workers.summarize.dates import days_agree
from workers.summarize.pairs import counts_disagree
from workers.summarize.render import render_text
from workers.summarize.source import SourceDoc
from workers.summarize.text import name_key, names
from workers.summarize.units import FactUnit, Story, build_story
from workers.summarize.values import parse_values

# The module, not the function the package exports under the same name.
align_mod = importlib.import_module("workers.summarize.align")

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
CALL_DAY = datetime(2025, 7, 1, 18, 0, tzinfo=UTC)  # 1 July 2025 was a Tuesday
FURNITURE = [
    "REUTERS",
    "ATTENTION EDITORS",
    "FILE PHOTO",
    "Read more",
    "(AFP)",
    "Collected photo",
    "AP Photo",
    "Share this",
    "Photo:",
    "By Priya",
]


@pytest.fixture(scope="session")
def model() -> SentenceTransformerEmbedder:
    return shared_embedder()  # one model per test session, shared with the rest of the suite


def make_doc(
    model: SentenceTransformerEmbedder,
    article_id: str,
    source: str,
    text: str,
    published: datetime,
    duplicate_of: str | None = None,
) -> SourceDoc:
    clean = extract(text=text)
    return SourceDoc(
        article_id=article_id,
        source=source,
        sentences=clean.sentences,
        vectors=model.encode(clean.sentences),
        title=clean.title,
        published_at=published,
        duplicate_of=duplicate_of,
    )


@pytest.fixture(scope="session")
def seed_docs(model: SentenceTransformerEmbedder) -> list[SourceDoc]:
    return [
        make_doc(model, p.stem, p.stem, p.read_text(encoding="utf-8"), CALL_DAY)
        for p in sorted(SEEDS.glob("0*.txt"))
    ]


@pytest.fixture(scope="session")
def seed_summary(seed_docs: list[SourceDoc]) -> Summary:
    return summarize(seed_docs)


@pytest.fixture(scope="session")
def recall_docs(model: SentenceTransformerEmbedder) -> list[SourceDoc]:
    return [
        make_doc(model, article_id, source, text, recall.PUBLISHED, duplicate_of)
        for source, article_id, text, duplicate_of in recall.ARTICLES
    ]


@pytest.fixture(scope="session")
def recall_summary(recall_docs: list[SourceDoc]) -> Summary:
    return summarize(recall_docs)


def seed(n: int) -> str:
    return next(p.stem for p in SEEDS.glob(f"{n:03d}_*.txt"))


def everything_shown(summary: Summary) -> str:
    return json.dumps(summary.to_dict(), ensure_ascii=False) + render_text(summary)


def conflict_about(summary: Summary, value: str) -> Conflict:
    matches = [c for c in summary.conflicts if any(value in k.value for k in c.claims)]
    assert len(matches) == 1, [c.about for c in summary.conflicts]
    return matches[0]


def sides(conflict: Conflict) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for claim in conflict.claims:
        found.setdefault(claim.side, set()).add(claim.source)
    return found


# --- the seeds -----------------------------------------------------------------------------


def test_seeds_have_at_least_five_consensus_facts_each_backed_by_two_sources(
    seed_summary: Summary,
) -> None:
    backed = [fact for fact in seed_summary.consensus if fact.support >= 2]
    assert len(backed) >= 5
    for fact in backed:
        # Cited sources state the whole wording; variants report the fact in their own words.
        outlets = set(fact.sources) | {v.source for v in fact.variants}
        assert fact.sources and len(outlets) >= 2 and fact.text.strip()


def test_seeds_call_itself_is_reported_by_all_five(seed_summary: Summary) -> None:
    call = [f for f in seed_summary.consensus if "phone" in f.text and "Macron" in f.text]
    assert call and call[0].support == 5


def test_every_seed_source_has_a_unique_fact(seed_summary: Summary) -> None:
    by_source = {group.source: group.facts for group in seed_summary.unique}
    for n in range(5):
        assert by_source.get(seed(n)), f"{seed(n)} has no unique fact"


def test_seeds_monday_against_tuesday_is_a_conflict_with_the_sources_on_each_side(
    seed_summary: Summary,
) -> None:
    conflict = conflict_about(seed_summary, "Monday")
    assert "day" in conflict.about
    by_side = sides(conflict)
    monday = next(side for side, sources in by_side.items() if seed(0) in sources)
    tuesday = next(side for side, sources in by_side.items() if seed(1) in sources)
    assert monday != tuesday
    assert by_side[monday] == {seed(0)}
    assert {seed(1), seed(2), seed(4)} <= by_side[tuesday]
    # 003 says "July 1, 2025", which was a Tuesday: on the Tuesday side or not at all.
    assert all(seed(3) not in sources for side, sources in by_side.items() if side != tuesday)
    for claim in conflict.claims:
        assert claim.text and claim.value
        assert ("Monday" in claim.value) == (claim.source == seed(0))


def test_no_seed_source_is_cited_under_a_day_it_contradicts(seed_summary: Summary) -> None:
    """000 says Monday, the others Tuesday: a consensus line naming either day must not cite the
    outlet that says the other; the call itself is still backed by all five (the day is left to
    the conflicts section)."""
    for fact in seed_summary.consensus:
        if "Tuesday" in fact.text:
            assert seed(0) not in fact.sources, fact.text
        if "Monday" in fact.text:
            assert set(fact.sources) <= {seed(0)}, fact.text
    call = next(f for f in seed_summary.consensus if "phone" in f.text and "Macron" in f.text)
    assert "Monday" not in call.text and "Tuesday" not in call.text
    assert set(call.sources) == {seed(n) for n in range(5)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("They spoke by phone on Tuesday, the Kremlin said.", "They spoke by phone, the Kremlin said."),
        ("They spoke on July 1, 2025 for two hours.", "They spoke for two hours."),
        ("The leaders met last Monday.", "The leaders met."),
        ("Tuesday's call was the first since 2022.", "Tuesday's call was the first since 2022."),
    ],
)
def test_without_days_drops_day_phrases_only(text: str, expected: str) -> None:
    assert without_days(text) == expected


def test_no_caption_credit_or_read_more_text_reaches_the_seed_summary(
    seed_summary: Summary,
) -> None:
    shown = everything_shown(seed_summary)
    for marker in FURNITURE:
        assert marker not in shown, marker


def test_kyiv_attack_and_izhevsk_strike_stay_apart(
    seed_docs: list[SourceDoc],
    seed_summary: Summary,
) -> None:
    story = build_story(seed_docs)
    groups = align(story).groups
    kyiv = next(u.index for u in story.units if "539 drones" in u.text)
    izhevsk = next(u.index for u in story.units if "Izhevsk" in u.text)
    assert not any(kyiv in g and izhevsk in g for g in groups)
    for fact in seed_summary.consensus:
        assert not ("539" in fact.text or "Izhevsk" in fact.text)
    unique = {g.source: " ".join(f.text for f in g.facts) for g in seed_summary.unique}
    assert "539 drones" in unique[seed(3)] and "Izhevsk" in unique[seed(4)]


def test_seed_output_cites_only_posted_source_strings(seed_summary: Summary) -> None:
    posted = {seed(n) for n in range(5)}
    cited = {s for f in seed_summary.consensus for s in f.sources}
    cited |= {g.source for g in seed_summary.unique}
    cited |= {c.source for k in seed_summary.conflicts for c in k.claims}
    assert cited <= posted


def test_seed_headline_names_the_story(seed_summary: Summary) -> None:
    assert "Putin" in seed_summary.headline and "Macron" in seed_summary.headline


def test_summary_is_the_same_whatever_the_order_of_the_docs(seed_docs: list[SourceDoc]) -> None:
    shuffled = list(seed_docs)
    random.Random(7).shuffle(shuffled)
    assert summarize(shuffled).to_dict() == summarize(seed_docs).to_dict()


# --- an invented story: a food recall ---------------------------------------------------------


def test_recall_shared_facts_are_consensus(recall_summary: Summary) -> None:
    texts = [f.text for f in recall_summary.consensus]
    assert len([f for f in recall_summary.consensus if f.support >= 2]) >= 4
    recall_fact = next(f for f in recall_summary.consensus if "48,000" in f.text)
    assert recall_fact.support == 4  # the syndicated copy does not count a second time
    assert recall.HERALD in recall_fact.sources and recall.GAZETTE in recall_fact.sources
    assert any("Kroger" in t for t in texts)
    assert any("refund" in t for t in texts)
    assert any("Fresno" in t for t in texts)


def test_recall_each_outlet_keeps_its_own_fact(recall_summary: Summary) -> None:
    unique = {g.source: " ".join(f.text for f in g.facts) for g in recall_summary.unique}
    assert "Whitfield" in unique[recall.GAZETTE]
    assert "4471" in unique[recall.VALLEY]
    assert "lawsuit" in unique[recall.METRO]
    assert "4 percent" in unique[recall.COASTAL] or "2019" in unique[recall.COASTAL]
    # The syndicated copy repeats the gazette: nothing of the gazette's own becomes consensus.
    assert not any("Whitfield" in f.text for f in recall_summary.consensus)
    assert recall.HERALD not in unique


def test_recall_2019_recall_is_not_merged_with_this_one(recall_summary: Summary) -> None:
    for fact in recall_summary.consensus:
        assert "9,000" not in fact.text and "2019" not in fact.text
    assert all("9,000" not in c.value for k in recall_summary.conflicts for c in k.claims)


def test_recall_hospitalized_count_is_the_only_conflict(recall_summary: Summary) -> None:
    conflict = conflict_about(recall_summary, "15")
    assert "hospitalized" in conflict.about
    by_side = sides(conflict)
    fifteen = {c.side for c in conflict.claims if "15" in c.value}
    twelve = {c.side for c in conflict.claims if "welve" in c.value or "12" in c.value}
    assert len(fifteen) == 1 and len(twelve) == 1 and fifteen != twelve
    assert by_side[fifteen.pop()] == {recall.VALLEY}
    assert recall.METRO in by_side[twelve.pop()]
    # "about"/"nearly"/"roughly 48,000 pounds", "12 states"/"a dozen states" and
    # "Thursday"/"March 6, 2025" are compatible wordings, not conflicts.
    assert len(recall_summary.conflicts) == 1


def test_recall_summary_has_no_furniture(recall_summary: Summary) -> None:
    shown = everything_shown(recall_summary)
    for marker in FURNITURE:
        assert marker not in shown, marker
    assert "FRESNO, Calif." not in shown  # the dateline


# --- compatible wording is not a conflict ------------------------------------------------------


def meeting(model: SentenceTransformerEmbedder, texts: Sequence[str]) -> Summary:
    monday = datetime(2025, 5, 6, tzinfo=UTC)
    return summarize(
        [
            make_doc(model, f"m{i}", f"outlet-{i}.example", text, monday)
            for i, text in enumerate(texts)
        ]
    )


def test_two_hour_and_over_two_hours_are_not_a_conflict(
    model: SentenceTransformerEmbedder,
) -> None:
    summary = meeting(model, [recall.MEETING_TWO_HOUR, recall.MEETING_OVER_TWO_HOURS])
    assert summary.consensus and summary.consensus[0].support == 2
    assert summary.conflicts == []


def test_thirty_minutes_against_two_hours_is_a_conflict(
    model: SentenceTransformerEmbedder,
) -> None:
    summary = meeting(
        model,
        [recall.MEETING_TWO_HOUR, recall.MEETING_OVER_TWO_HOURS, recall.MEETING_THIRTY_MINUTES],
    )
    conflict = conflict_about(summary, "30-minute")
    assert "length" in conflict.about
    by_side = sides(conflict)
    assert {"outlet-0.example", "outlet-1.example"} in by_side.values()
    assert {"outlet-2.example"} in by_side.values()


def test_same_quote_in_different_mouths_is_a_conflict_about_who_said_it(
    model: SentenceTransformerEmbedder,
) -> None:
    summary = meeting(model, [recall.FARES_MAYOR, recall.FARES_CHAIR, recall.FARES_MAYOR_AGAIN])
    conflict = conflict_about(summary, "Tom Reyes")
    assert conflict.about.startswith("who said") and "raise fares" in conflict.about
    by_side = sides(conflict)
    assert {"outlet-1.example"} in by_side.values()
    # "Mayor Lena Ortiz" and "Mayor Ortiz" are one speaker, on one side.
    assert {"outlet-0.example", "outlet-2.example"} in by_side.values()


def test_same_quote_same_speaker_is_no_conflict(model: SentenceTransformerEmbedder) -> None:
    summary = meeting(model, [recall.FARES_MAYOR, recall.FARES_MAYOR_AGAIN])
    assert summary.conflicts == []


def test_weekday_is_checked_against_an_explicit_date_without_a_publication_date() -> None:
    (monday,) = parse_values("they spoke on Monday").days
    (tuesday,) = parse_values("they spoke on Tuesday").days
    (july_first,) = parse_values("they spoke on July 1, 2025").days
    assert monday.day is None and july_first.weekday == 1
    assert days_agree(tuesday, july_first) and not days_agree(monday, july_first)


def test_values_meet_when_their_wordings_allow_the_same_truth() -> None:
    published = datetime(2025, 7, 2, tzinfo=UTC)
    (two_hour,) = parse_values("a two-hour call").quantities
    (over_two,) = parse_values("it lasted over two hours").quantities
    (half_hour,) = parse_values("a 30-minute call").quantities
    assert two_hour.meets(over_two) and not half_hour.meets(over_two)
    (twelve,) = parse_values("12 people were injured").quantities
    (fifteen,) = parse_values("15 were injured").quantities
    assert twelve.slot == fifteen.slot == "count:injured" and not twelve.meets(fifteen)
    (tuesday,) = parse_values("they spoke on Tuesday", published).days
    (july_first,) = parse_values("they spoke on July 1, 2025", published).days
    assert tuesday.day == july_first.day


def test_a_comma_after_a_number_ends_what_it_counts() -> None:
    """An age or a count closed by a comma counts nothing named by the next words: such a
    "count of country" or "count of was" made clauses of one fact look like two (the clash)."""
    assert parse_values("injuring more than 80, the country's civil defence institute said")\
        .quantities == ()
    assert parse_values("Andrew Lopez, 20, was found guilty of the killing").quantities == ()
    (price,) = parse_values("Tickets cost $80, organisers said.").quantities
    assert price.slot == "amount:USD" and price.text == "$80"


# --- rendering ---------------------------------------------------------------------------------


def test_render_text_shows_every_part_with_its_sources(seed_summary: Summary) -> None:
    text = render_text(seed_summary)
    assert text.startswith(seed_summary.headline)
    assert seed_summary.consensus[0].text.split()[0] in text
    assert f"[{', '.join(seed_summary.consensus[0].sources)}]" in " ".join(text.split())
    assert "Where the sources disagree" in text and "Monday" in text
    for group in seed_summary.unique:
        assert f"{group.source}:" in text


def test_empty_input_gives_an_empty_summary() -> None:
    assert summarize([]) == Summary(headline="")


# -- the fast paths give what the plain definitions give --------------------------------------
def _pair_scores_one_by_one(story: Story) -> npt.NDArray[np.float64]:
    """align.pair_scores as the per-pair definitions read (pairs.py), one pair at a time."""
    units, weight = story.units, story.stem_weight
    cosine = np.clip(story.vectors.astype(np.float64) @ story.vectors.T.astype(np.float64), -1, 1)
    outlet = np.array([story.outlets.index(u.outlet) for u in units])
    cross = outlet[:, None] != outlet[None, :]
    baseline = float(np.median(cosine[cross])) if cross.any() else 0.0

    def share(unit: FactUnit) -> float:
        siblings = [
            u for u in units if u.doc is unit.doc and u.sentence_index == unit.sentence_index
        ]
        total = sum(len(u.stems) for u in siblings)
        return 1.0 if unit.is_whole_sentence else len(unit.stems) / total if total else 0.5

    shares = np.array([share(u) for u in units])
    scores = baseline + np.sqrt(shares[:, None] * shares[None, :]) * (cosine - baseline)
    reachable = scores >= align_mod.NOT_REPORTED_ELSEWHERE - align_mod.LEXICAL_WEIGHT
    scores -= align_mod.LEXICAL_WEIGHT * align_mod.LEXICAL_BASELINE
    for i, j in zip(*np.nonzero(np.triu(cross & reachable, k=1)), strict=True):
        a, b = units[i], units[j]
        total = sum(weight[s] for s in a.stems) + sum(weight[s] for s in b.stems)
        shared = sum(weight[s] for s in a.stems & b.stems)
        lexical = 2.0 * shared / total if total > 0 else 0.0
        pa, pb = align_mod.particulars(a, story), align_mod.particulars(b, story)
        only_a = sum(w for k, w in pa.items() if k not in pb and k not in b.names)
        only_b = sum(w for k, w in pb.items() if k not in pa and k not in a.names)
        adjust = align_mod.LEXICAL_WEIGHT * lexical - align_mod.CLASH_WEIGHT * min(
            min(only_a, only_b), 1.0
        )
        if lexical < align_mod.NUMBERS_CONFIRMED and counts_disagree(a, b):
            adjust -= align_mod.CLASH_WEIGHT
        scores[i, j] += adjust
        scores[j, i] += adjust
    scores[~cross] = -np.inf
    return scores


def test_pair_scores_are_bit_for_bit_the_per_pair_definitions(
    seed_docs: list[SourceDoc], recall_docs: list[SourceDoc]
) -> None:
    for docs in (seed_docs, recall_docs):
        story = build_story(docs)
        assert np.array_equal(align_mod.pair_scores(story), _pair_scores_one_by_one(story))


def _forget_parsed_text() -> None:
    for name, module in list(sys.modules.items()):
        if name.startswith("workers.summarize"):
            for value in vars(module).values():
                if isinstance(value, functools._lru_cache_wrapper):
                    value.cache_clear()


def test_summary_does_not_depend_on_what_the_process_summarised_before(
    seed_docs: list[SourceDoc], recall_docs: list[SourceDoc]
) -> None:
    _forget_parsed_text()
    first = summarize(seed_docs).to_dict()
    summarize(recall_docs)
    summarize(seed_docs[:3])  # a smaller story: the same sentences, other names and acronyms
    assert summarize(seed_docs).to_dict() == first


def test_one_instant_on_two_dates_resolves_weekdays_by_each_date() -> None:
    # Equal datetimes (one instant) that fall on Tuesday in New York and Wednesday in UTC: each
    # article's "Wednesday" is the one on or before its own date.
    new_york = datetime(2025, 7, 1, 23, 0, tzinfo=timezone(timedelta(hours=-4)))
    utc = datetime(2025, 7, 2, 3, 0, tzinfo=UTC)
    assert new_york == utc
    text = ["The two ministers met in Geneva on Wednesday to sign the accord."]
    vector = np.ones((1, 4), dtype=np.float32) / 2
    story = build_story(
        [
            SourceDoc("a", "x", text, vector, published_at=new_york),
            SourceDoc("b", "y", text, vector, published_at=utc),
        ]
    )
    days = [unit.values.days[0].day for unit in story.units]
    assert days == [date(2025, 6, 25), date(2025, 7, 2)]


def test_names_of_one_text_follow_each_story() -> None:
    # The same text read for two stories (the second time from the per-process cache).
    text = "Officials of the Food Safety and Inspection Service said the plant stopped."
    assert name_key("FSIS") in names(text, frozenset(), frozenset({"FSIS"}))
    assert name_key("FSIS") not in names(text, frozenset(), frozenset())
    opening = "Kroger pulled the dumplings."
    assert name_key("Kroger") in names(opening, frozenset({"Kroger"}), frozenset())
    assert name_key("Kroger") not in names(opening, frozenset(), frozenset())
