"""Syndicated copies: detected before embedding, folded under their original, counted once."""

from __future__ import annotations

from collections.abc import Callable

import redis
from fastapi.testclient import TestClient

from workers.runner import Worker


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
