"""Summaries a reader can trust (issue #14): citations that hold, a shared core across paraphrase,
unique facts that are unique and standalone, conflicts about one quantity, bounded cost.

Invented stories through summarize() with the real model; the seeds through the same path.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import fixtures_stadium as stadium
import numpy as np
import pytest

from core.summary import Summary
from embedding.torch_backend import SentenceTransformerEmbedder
from harness import summary_checks
from workers.extract import extract
from workers.summarize import summarize
from workers.summarize.align import AVERAGE_MARGIN, _cluster
from workers.summarize.details import missing
from workers.summarize.source import SourceDoc
from workers.summarize.standalone import framing_only, needs_referent
from workers.summarize.units import FactUnit

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


CALL_DAY = datetime(2025, 7, 1, 18, 0, tzinfo=UTC)


def doc(
    model: SentenceTransformerEmbedder, article_id: str, source: str, text: str, published: datetime
) -> SourceDoc:
    clean = extract(text=text)
    return SourceDoc(
        article_id,
        source,
        clean.sentences,
        model.encode(clean.sentences),
        title=clean.title,
        published_at=published,
    )


@pytest.fixture(scope="module")
def stadium_docs(embedder: SentenceTransformerEmbedder) -> list[SourceDoc]:
    return [doc(embedder, a, s, t, stadium.PUBLISHED) for a, s, t in stadium.ARTICLES]


@pytest.fixture(scope="module")
def stadium_summary(stadium_docs: list[SourceDoc]) -> Summary:
    return summarize(stadium_docs)


@pytest.fixture(scope="module")
def seed_docs(embedder: SentenceTransformerEmbedder) -> list[SourceDoc]:
    return [
        doc(embedder, p.stem, p.stem, p.read_text(encoding="utf-8"), CALL_DAY)
        for p in sorted(SEEDS.glob("0*.txt"))
    ]


def assert_citations_hold(summary: Summary, docs: list[SourceDoc]) -> None:
    """The invariant: every listed source's own article states every detail of the line."""
    text_of = {d.article_id: "\n".join([d.title or "", *d.sentences]) for d in docs}
    source_of = {d.article_id: d.source for d in docs}
    for fact in summary.consensus:
        for source in fact.sources:
            article = "\n".join(text_of[a] for a in fact.article_ids if source_of[a] == source)
            assert not missing(fact.text, article), (source, fact.text)
        assert not {v.source for v in fact.variants} & set(fact.sources)
        assert fact.support == len(set(fact.sources)) + len(fact.variants)


# --- paraphrased lead, rounding, different quantities ------------------------------------------


def test_paraphrased_lead_is_the_first_consensus_line_with_every_outlet(
    stadium_summary: Summary,
) -> None:
    first = stadium_summary.consensus[0]
    assert "vote" in first.text.lower() and "stadium" in first.text.lower()
    outlets = set(first.sources) | {v.source for v in first.variants}
    assert outlets == {stadium.A, stadium.B, stadium.C}


def test_stadium_citations_hold_and_outlets_with_other_details_are_variants(
    stadium_summary: Summary, stadium_docs: list[SourceDoc]
) -> None:
    assert_citations_hold(stadium_summary, stadium_docs)
    first = stadium_summary.consensus[0]
    if "2.1" in first.text:  # only A states $2.1 billion
        assert first.sources == [stadium.A]


def test_rounded_amounts_and_a_share_of_the_bond_are_not_conflicts(
    stadium_summary: Summary,
) -> None:
    amounts = [c for c in stadium_summary.conflicts if "amount" in c.about]
    assert amounts == [], [(c.about, [k.value for k in c.claims]) for c in amounts]


def test_stadium_unique_facts_are_each_outlets_own_and_standalone(
    stadium_summary: Summary,
) -> None:
    unique = {g.source: " ".join(f.text for f in g.facts) for g in stadium_summary.unique}
    assert "7-2" in unique[stadium.A]
    assert "parking" in unique[stadium.B]
    assert "Moody" in unique[stadium.C]
    shown = " ".join(unique.values())
    assert "second time the vote has slipped" not in shown or "Ortiz" in unique[stadium.B]
    assert "different tone" not in shown
    for group in stadium_summary.unique:
        for fact in group.facts:
            assert not needs_referent(fact.text), fact.text


@pytest.mark.parametrize(
    ("text", "framing", "leaning"),
    [
        ("From Paris, the French president's office offered a different tone.", True, False),
        ("This refers to Russia's previous claims of territorial annexation.", False, True),
        ("He maintained that NATO expansion is to blame.", False, True),
        ("This telephone exchange broke a nearly three-year silence.", False, False),
        ("The Fresno plant has halted operations pending a deep cleaning.", False, False),
    ],
)
def test_sentences_that_cannot_stand_alone_are_recognised(
    text: str, framing: bool, leaning: bool
) -> None:
    assert framing_only(text) == framing
    assert needs_referent(text) == leaning


# --- the seeds --------------------------------------------------------------------------------


def test_seed_citations_hold_and_the_call_opens_the_summary(seed_docs: list[SourceDoc]) -> None:
    summary = summarize(seed_docs)
    assert_citations_hold(summary, seed_docs)
    first = summary.consensus[0]
    assert "Putin" in first.text and "Macron" in first.text
    assert set(first.sources) | {v.source for v in first.variants} == {d.source for d in seed_docs}
    # 000 says Monday, the others Tuesday: no line naming Tuesday cites 000.
    monday = next(d.source for d in seed_docs if d.article_id.startswith("000"))
    assert all(monday not in f.sources for f in summary.consensus if "Tuesday" in f.text)
    unique = " ".join(f.text for g in summary.unique for f in g.facts)
    assert "This refers to" not in unique and "different tone" not in unique
    assert any("Monday" in c.value for k in summary.conflicts for c in k.claims)


# --- the unique-fact paraphrase detector, on hand-labelled pairs ------------------------------

# (a sentence, another outlet's sentence, whether the second states the first's fact); written
# for this test, labelled by hand.
LABELLED_PAIRS = [
    (
        "The council put off the vote on the stadium bond.",
        "A vote on the stadium bond was delayed by the council.",
        True,
    ),
    (
        "Twelve people were taken to hospital after eating the dumplings.",
        "Twelve people have been hospitalized after eating the dumplings.",
        True,
    ),
    (
        "The plant in Fresno stopped production while it is cleaned.",
        "The Fresno factory has halted operations pending a deep cleaning.",
        True,
    ),
    (
        "Shoppers should throw the dumplings away or return them for a refund.",
        "Customers can return the product for a refund or discard it.",
        True,
    ),
    (
        "Moody's warned the bond could weigh on the city's credit rating.",
        "The rating agency said the debt might hurt the city's credit score.",
        True,
    ),
    (
        "The mayor said the stadium would be built despite the delay.",
        "Ortiz insisted the project would go ahead regardless of the postponement.",
        True,
    ),
    (
        "The plan includes a 1,200-space parking garage on the old depot site.",
        "Council members asked for more time to study the repayment terms.",
        False,
    ),
    (
        "A family in Sacramento filed a class-action lawsuit against the company.",
        "The company's shares fell 4 percent in after-hours trading.",
        False,
    ),
    (
        "The finance committee advanced the bond by a 7-2 vote earlier in the week.",
        "The full council delayed its vote on the bond on Thursday.",
        False,
    ),
    (
        "Russia launched its largest aerial attack on Kyiv, with 539 drones.",
        "A Ukrainian drone strike on Izhevsk left three people dead.",
        False,
    ),
    (
        "Zelensky was told about the call beforehand, the Elysee said.",
        "The two leaders last spoke in September 2022.",
        False,
    ),
    (
        "Brightway recalled 9,000 pounds of beef dumplings in 2019.",
        "Brightway is recalling 48,000 pounds of chicken dumplings.",
        False,
    ),
]


def test_paraphrase_detector_agrees_with_the_hand_labels(
    embedder: SentenceTransformerEmbedder,
) -> None:
    paraphrased = summary_checks.paraphrased
    firsts = embedder.encode([a for a, _, _ in LABELLED_PAIRS])
    seconds = embedder.encode([b for _, b, _ in LABELLED_PAIRS])
    right = sum(
        paraphrased(a, firsts[k], [b], seconds[k : k + 1]) == label
        for k, (a, b, label) in enumerate(LABELLED_PAIRS)
    )
    assert right / len(LABELLED_PAIRS) >= 0.8


# --- bounded cost: the heap clustering is the plain one ---------------------------------------


def _cluster_plainly(outlets: list[str], scores: np.ndarray, threshold: float) -> list[list[int]]:
    """Agglomerative clustering as defined, every round rescanning every pair of groups."""
    groups = [[i] for i in range(len(outlets))]
    while True:
        best: tuple[float, int, int] | None = None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if {outlets[i] for i in groups[a]} & {outlets[i] for i in groups[b]}:
                    continue
                block = scores[np.ix_(groups[a], groups[b])]
                average = block.sum() / block.size
                allowed = block.max() >= threshold and average >= threshold - AVERAGE_MARGIN
                if allowed and (best is None or average > best[0]):
                    best = (average, a, b)
        if best is None:
            return sorted((sorted(g) for g in groups), key=lambda g: g[0])
        _, a, b = best
        groups[a] += groups.pop(b)


@pytest.mark.parametrize("seed", range(6))
def test_heap_clustering_gives_the_plain_definitions_groups(seed: int) -> None:
    rng = random.Random(seed)
    n = 40
    outlets = [f"o{rng.randrange(8)}" for _ in range(n)]
    scores = np.array([[rng.uniform(0.3, 1.0) for _ in range(n)] for _ in range(n)])
    scores = (scores + scores.T) / 2
    same = np.array(outlets)[:, None] == np.array(outlets)[None, :]
    scores[same] = -np.inf
    units = [FactUnit.__new__(FactUnit) for _ in range(n)]
    for unit, outlet in zip(units, outlets, strict=True):
        object.__setattr__(unit, "outlet", outlet)
    finite = np.where(np.isfinite(scores), scores, 0.0)
    assert _cluster(units, scores, 0.7) == _cluster_plainly(outlets, finite, 0.7)


# --- two subjects, one slot: not a conflict ------------------------------------------------------
# Each team's offer is its own; the player's own ask names neither team, and links them.
OFFERS = [
    (
        "o1",
        "Bay Sports",
        "Hawks offer Ramos five-year deal\n\nThe Hawks offered free agent pitcher Luis Ramos a "
        "five-year deal on Monday, the team said. Ramos, 29, won 18 games last season. His agent "
        "said several teams remain interested.",
    ),
    (
        "o2",
        "Metro Ledger",
        "Comets offer Ramos four-year deal\n\nThe Comets offered free agent pitcher Luis Ramos a "
        "four-year deal on Monday, a team official said. Ramos, 29, led the league with 18 wins "
        "last season. The Comets have not signed a free agent this winter.",
    ),
    (
        "o3",
        "North Wire",
        "Teams line up for Ramos\n\nFree agent pitcher Luis Ramos is seeking a six-year deal, his "
        "agent said on Monday. Ramos won 18 games last season and is 29.",
    ),
]


@pytest.fixture(scope="module")
def offer_docs(embedder: SentenceTransformerEmbedder) -> list[SourceDoc]:
    return [doc(embedder, a, s, t, CALL_DAY) for a, s, t in OFFERS]


def test_values_told_of_two_subjects_are_not_a_conflict(
    offer_docs: list[SourceDoc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Hawks' five-year offer and the Comets' four-year one are two offers, not one deal
    reported two ways: each side names a team the other never names. (The shape of a false
    conflict on the ECB+ dev set: the Red Sox's, the Nationals' and the Orioles' offers to one
    player, linked by the player's own ask.)"""
    assert summarize(offer_docs).conflicts == []
    import workers.summarize.conflicts as conflicts

    # Without the subject check, the story does set the lengths against each other.
    monkeypatch.setattr(conflicts, "_different_subjects", lambda story, sides: False)
    (told,) = summarize(offer_docs).conflicts
    assert {c.value for c in told.claims} == {"five-year", "four-year", "six-year"}


def test_a_number_inside_a_compound_word_is_checked_before_citing(
    offer_docs: list[SourceDoc],
) -> None:
    """"is seeking a six-year deal" is North Wire's alone: the outlets that report a five- or a
    four-year deal are not cited for it (a number word inside a hyphenated word was not checked,
    and the line was cited to all three)."""
    summary = summarize(offer_docs)
    assert_citations_hold(summary, offer_docs)
    six = [f for f in summary.consensus if "six-year" in f.text]
    assert six and all(f.sources == ["North Wire"] for f in six)
    assert not missing("a six-year deal", "They signed him for six years.")
    assert missing("a six-year deal", "They offered a five-year deal.")
