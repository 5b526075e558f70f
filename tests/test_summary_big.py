"""A big story's summary: what its core (the earliest articles, aligned pairwise) decides, and
what each later article adds, are remembered once the core is full, so an update reads only the
new article; remembering never changes what the summary says.

Invented rewrites of one event with the real model's vectors; the core made small here so a
story of a few dozen articles is "big" (the product's core is 1,500 sentences).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import workers.summarize.large as large
from embedding.torch_backend import SentenceTransformerEmbedder
from workers.summarize import memo, summarize, summarize_members
from workers.summarize.source import SourceDoc

T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
LEADS = [
    "The harbour ferry to Skell Island resumed service on {day} after a two-week strike.",
    "Ferries to Skell Island sailed again on {day}, ending a two-week strike by crews.",
    "Crews ended their two-week strike and the Skell Island ferry ran again on {day}.",
]
DETAILS = [
    "The operator said {n} sailings a day would run until the summer timetable starts.",
    "Union leader Mara Quist said the crews accepted a pay rise of {pct} percent.",
    "Island shops had run short of fresh food during the strike, residents said.",
    "The council had chartered a fishing boat for medical trips while the ferry was idle.",
]


def rewrite(model: SentenceTransformerEmbedder, k: int, day: str = "Monday") -> SourceDoc:
    rng = random.Random(k)
    sentences = [rng.choice(LEADS).format(day=day)]
    sentences += [
        s.format(n=rng.choice([6, 8]), pct=rng.choice([4, 5])) for s in rng.sample(DETAILS, k=3)
    ]
    sentences.append(f"Passenger {k} said the crossing had been calm and on time.")
    return SourceDoc(
        f"a{k:03d}",
        f"outlet-{k:03d}.example",
        sentences,
        model.encode(sentences),
        title=f"Skell Island ferry back after strike ({k})",
        published_at=T0 + timedelta(minutes=k),
    )


@pytest.fixture
def small_core(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(large, "CORE_SENTENCES", 40)
    memo.clear()
    yield
    memo.clear()


def fresh(docs: list[SourceDoc]) -> dict[str, object]:
    memo.clear()
    return summarize(docs).to_dict()


def test_a_remembered_core_alignment_gives_the_summary_a_fresh_one_gives(
    embedder: SentenceTransformerEmbedder, small_core: None
) -> None:
    docs = [rewrite(embedder, k) for k in range(30)]
    core, later = large.split_core(docs)
    assert later and len(core) < 12  # a big story: most of it beyond the core

    first = summarize(docs).to_dict()
    assert memo.size() == 1
    assert summarize(docs).to_dict() == first  # remembered: same summary

    # One more article beyond the core: the core's alignment is reused, the summary is what a
    # fresh computation gives, and the new outlet is counted.
    grown = [*docs, rewrite(embedder, 30)]
    reused = summarize(grown).to_dict()
    assert memo.size() == 1
    assert reused == fresh(grown)
    assert reused != first

    # An article dated before the core's: the core changes and is aligned afresh.
    early = rewrite(embedder, 99, day="Sunday")
    early = SourceDoc(**{**early.__dict__, "published_at": T0 - timedelta(hours=1)})
    assert early.article_id in {d.article_id for d in large.split_core([*grown, early])[0]}
    memo.clear()
    summarize(grown)
    changed = summarize([*grown, early]).to_dict()
    assert memo.size() == 2
    assert changed == fresh([*grown, early])


def test_the_memo_keeps_a_bounded_number_of_cores(
    embedder: SentenceTransformerEmbedder, small_core: None
) -> None:
    pool = [rewrite(embedder, k) for k in range(40)]
    for start in range(memo.CORES_KEPT + 3):  # as many different big stories
        summarize(pool[start : start + 30])
    assert memo.size() == memo.CORES_KEPT


def test_an_update_reads_only_the_articles_not_seen_before(
    embedder: SentenceTransformerEmbedder, small_core: None
) -> None:
    docs = {d.article_id: d for d in (rewrite(embedder, k) for k in range(32))}
    loaded: list[list[str]] = []

    def load(wanted: list[SourceDoc]) -> list[SourceDoc]:  # as the worker reads Redis
        loaded.append([d.article_id for d in wanted])
        return [docs[d.article_id] for d in wanted]

    members = list(docs.values())
    summarize_members(members[:30], load)
    assert sum(map(len, loaded)) == 30  # the first summary reads the whole story
    loaded.clear()

    grown = summarize_members(members[:31], load)
    assert loaded == [["a030"]]  # the core and the 20-odd later articles are remembered
    assert grown.to_dict() == fresh(members[:31])
    loaded.clear()

    # A later article moved out of the story (a repair) and two new ones: only the new are read,
    # and the summary is a fresh one's.
    rest = [d for d in members if d.article_id != "a020"]
    assert "a020" in {d.article_id for d in large.split_core(members)[1]}
    assert summarize_members(rest, load).to_dict() == fresh(rest)
    assert loaded == [["a031"]]
