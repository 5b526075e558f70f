"""Syndicated copies: detected before embedding, folded under their original, counted once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from newsroom import T0, Newsroom

from core.keys import Keys
from workers.runner import Worker

KEYS = Keys()


def test_a_reposted_copy_with_new_headline_and_trimmed_paragraph_is_a_near_duplicate(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    make_worker().run(burst=True)
    story_id = client.get(f"/articles/{ids[2]}").json()["story_id"]
    before = client.get(f"/stories/{story_id}").json()

    paragraphs = seeds[2]["text"].split("\n")
    copy = {
        "source": "syndicator.example",
        "title": "Macron and Putin speak for two hours, first time since 2022",
        "text": "\n".join(paragraphs[:3] + paragraphs[4:]),  # one paragraph trimmed
    }
    copy_id = client.post("/articles", json=copy).json()["id"]
    make_worker().run(burst=True)

    got = client.get(f"/articles/{copy_id}").json()
    assert got["status"] == "processed"
    assert got["duplicate_of"] == ids[2] and got["story_id"] == story_id
    # No second embedding: the copy has no vectors of its own.
    assert not r.exists(f"sf:article:{{{copy_id}}}:vectors", f"sf:article:{{{copy_id}}}:vector")
    after = client.get(f"/stories/{story_id}").json()
    assert after["article_count"] == 6 and after["source_count"] == 5
    listed = {a["id"]: a for a in after["articles"]}
    assert listed[copy_id]["duplicate_of"] == ids[2]
    summary = after["summary"]
    cited = {s for fact in summary["consensus"] for s in fact["sources"]}
    assert "syndicator.example" not in cited
    assert all(u["source"] != "syndicator.example" for u in summary["unique"])
    assert [(c["text"], c["support"]) for c in summary["consensus"]] == [
        (c["text"], c["support"]) for c in before["summary"]["consensus"]
    ]


def test_two_outlets_reporting_the_same_event_are_not_duplicates(
    client: TestClient, make_worker: Callable[..., Worker], seeds: list[dict[str, str]]
) -> None:
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    make_worker().run(burst=True)
    assert all(client.get(f"/articles/{a}").json()["duplicate_of"] is None for a in ids)


def test_copies_in_the_same_batch_as_their_original_fold_under_it(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    """The near-duplicate check runs for a whole batch at once: a copy posted together with its
    original, and a copy of that copy, still find the original (earlier in the batch counts as
    earlier), and nothing else in the batch is taken for a copy."""
    paragraphs = seeds[2]["text"].split("\n")
    copy = {
        "source": "syndicator.example",
        "title": "Macron and Putin speak for two hours, first time since 2022",
        "text": "\n".join(paragraphs[:3] + paragraphs[4:]),
    }
    copy_of_copy = {**copy, "source": "resyndicator.example", "text": copy["text"] + "\nEnds."}
    posted = client.post("/articles", json=[*seeds, copy, copy_of_copy]).json()["articles"]
    ids = [a["id"] for a in posted]
    make_worker().run(burst=True)  # one batch: the worker takes up to worker_batch (16) at once

    got = [client.get(f"/articles/{a}").json() for a in ids]
    assert [g["duplicate_of"] for g in got] == [None] * 5 + [ids[2], ids[2]]
    assert {g["story_id"] for g in got} == {got[2]["story_id"]}
    assert all(g["status"] == "processed" for g in got)
    assert not r.exists(f"sf:article:{{{ids[5]}}}:vector")
    assert not r.exists(f"sf:article:{{{ids[6]}}}:vector")


def test_a_copy_a_summary_took_in_before_it_recorded_its_story_stays_processed(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers: one folds a copy into its original's story (the story takes it in, then the
    article records the story), the other writes that story's summary in between. The summary
    marks the copy processed; recording the story must not set it back to clustered (it did:
    the copy's own summary job then found the summary current, wrote nothing, and the copy
    waited for ever; seen in the container check after a Redis restart)."""
    news = Newsroom(r)
    story_id = news.story("Dam gives way", ["Valley Post"])
    (original,) = news.stories.members(story_id)
    copy_id = news.article("Syndicator")
    r.hset(KEYS.article(copy_id), "duplicate_of", original.article_id)  # as the dedup stage does

    class SummaryRightAfterTheStoryTakesItIn:
        """The client, except that the first transaction's execute is followed by the other
        worker's summary."""

        def __init__(self) -> None:
            self.fired = False

        def __getattr__(self, name: str) -> Any:
            return getattr(r, name)

        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            pipe = r.pipeline(*args, **kwargs)
            execute = pipe.execute

            def then_summarise(*a: Any, **kw: Any) -> Any:
                out = execute(*a, **kw)
                if not self.fired:
                    self.fired = True
                    news.summarise(story_id, "Dam gives way")  # the copy is a member now
                return out

            pipe.execute = then_summarise  # type: ignore[method-assign]
            return pipe

    monkeypatch.setattr(news.stories, "r", SummaryRightAfterTheStoryTakesItIn())
    news.stories.commit_copy(copy_id, story_id, original.article_id, T0.timestamp())
    monkeypatch.undo()

    copy = r.hgetall(KEYS.article(copy_id))
    assert copy[b"status"] == b"processed"
    assert copy[b"story_id"] == story_id.encode() and b"placing" not in copy
    assert {m.article_id: m.status for m in news.stories.members(story_id)} == {
        original.article_id: "processed",
        copy_id: "processed",
    }


def test_a_copy_matched_against_a_copy_is_summarised_under_their_original(
    r: redis.Redis,
) -> None:
    """Two workers fold copies of one report at once: the second copy is matched against the
    first while that one is still being placed, so it names the first copy as its original.
    The summary must still take it in (it did not: a copy of a copy waited for an original that
    is never embedded; seen in the container check, four copies left clustered for good)."""
    news = Newsroom(r)
    story_id = news.story("Dam gives way", ["Valley Post"])
    (original,) = news.stories.members(story_id)
    first, second = news.article("Syndicator"), news.article("Aggregator")
    for copy, of in ((first, original.article_id), (second, first)):
        r.hset(KEYS.article(copy), "duplicate_of", of)  # as the dedup stage does
        news.stories.commit_copy(copy, story_id, of, T0.timestamp())
    news.summarise(story_id, "Dam gives way")
    assert {m.article_id: m.status for m in news.stories.members(story_id)} == {
        original.article_id: "processed",
        first: "processed",
        second: "processed",
    }
