"""End to end through the real API, the real Redis and the real model: seeds → one story."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import fixtures_story
import pytest
import redis
from fastapi.testclient import TestClient

from core.storage.article_codec import missing_vectors
from workers import summary_stage
from workers.runner import Worker

# Written for this test: nothing to do with the seeds' diplomatic call.
FOOTBALL = {
    "source": "sports-desk",
    "title": "Late header sends Rovers top of the league",
    "text": (
        "Bristol Rovers beat Exeter City 2-1 at the Memorial Stadium on Saturday, with defender "
        "Tom Hale heading the winner in the 89th minute. Exeter had equalised early in the second "
        "half through a penalty after a handball in the box.\n\n"
        "The result lifts Rovers to the top of League One on goal difference. Manager Joey "
        "Barton praised the crowd of 9,400 and said his side had shown character after a poor run "
        "of away form. Exeter stay ninth and host Bolton next week."
    ),
}


def place_all(w: Worker) -> None:
    """Stage 1 only: every queued article placed, its summary job queued and not yet read."""
    w.queue.ensure_group()
    w.summary_queue.ensure_group()
    w.place(w.queue.read_new(w.name, 100, None))


def post(client: TestClient, body: Any) -> list[str]:
    resp = client.post("/articles", json=body)
    assert resp.status_code in (200, 202), resp.text
    data = resp.json()
    return [a["id"] for a in data["articles"]] if isinstance(body, list) else [data["id"]]


def story_ids(client: TestClient, article_ids: list[str]) -> list[str]:
    states = [client.get(f"/articles/{a}").json() for a in article_ids]
    assert all(s["status"] == "processed" for s in states), states
    return [s["story_id"] for s in states]


@pytest.mark.parametrize("order", ["as-named", "reversed", "shuffled"])
def test_seeds_in_any_order_make_one_story_with_five_sources(
    client: TestClient, make_worker: Callable[..., Worker], seeds: list[dict[str, str]], order: str
) -> None:
    if order == "reversed":
        seeds = seeds[::-1]
    elif order == "shuffled":
        random.Random(7).shuffle(seeds)
    # One at a time, so every seed is assigned against the stories the earlier ones made.
    ids = [post(client, s)[0] for s in seeds]
    make_worker(worker_batch=1).run(burst=True)
    assert len(set(story_ids(client, ids))) == 1
    page = client.get("/stories").json()
    assert len(page["stories"]) == 1
    story = client.get(f"/stories/{page['stories'][0]['id']}").json()
    assert story["article_count"] == 5 and story["source_count"] == 5
    assert {a["source"] for a in story["articles"]} == {s["source"] for s in seeds}
    summary = story["summary"]
    assert summary["headline"] and summary["consensus"]
    # Every agreed fact is reported by two or more outlets: cited under the shown wording, or as
    # variants in their own words (a source is cited only if it states every detail shown).
    assert all(c["support"] >= 2 for c in summary["consensus"])
    # The seeds are posted undated, as the demo posts them: 000's "Monday" against the others'
    # "Tuesday" is still found (their arrival dates them).
    claims = [k for c in summary["conflicts"] for k in c["claims"]]
    assert any("Monday" in k["value"] for k in claims), summary["conflicts"]
    assert any("Tuesday" in k["value"] for k in claims)
    assert all(len(c["sources"]) + len(c["variants"]) >= 2 for c in summary["consensus"])
    assert {c for fact in summary["consensus"] for c in fact["sources"]} <= {
        s["source"] for s in seeds
    }


def test_reposting_the_seeds_adds_no_article_and_no_story(
    client: TestClient,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    r: redis.Redis,
) -> None:
    ids = post(client, seeds)
    make_worker().run(burst=True)
    before = client.get(f"/stories/{story_ids(client, ids)[0]}").json()
    again = client.post("/articles", json=seeds).json()
    assert again["accepted"] == 0 and again["existing"] == 5
    assert [a["id"] for a in again["articles"]] == ids
    assert make_worker().run(burst=True) == 0
    after = client.get(f"/stories/{before['id']}").json()
    assert len(client.get("/stories").json()["stories"]) == 1
    assert after["summary_version"] == before["summary_version"]
    assert after["article_count"] == 5


def test_an_unrelated_article_starts_a_second_story(
    client: TestClient, make_worker: Callable[..., Worker], seeds: list[dict[str, str]]
) -> None:
    ids = post(client, seeds)
    match = post(client, FOOTBALL)[0]
    make_worker().run(burst=True)
    seed_story = set(story_ids(client, ids))
    (match_story,) = story_ids(client, [match])
    assert len(seed_story) == 1 and match_story not in seed_story
    stories = client.get("/stories").json()["stories"]
    assert len(stories) == 2
    assert client.get(f"/stories/{match_story}").json()["headline"]


def test_feed_pages_with_a_cursor(
    client: TestClient, make_worker: Callable[..., Worker], seeds: list[dict[str, str]]
) -> None:
    post(client, seeds[:1])
    post(client, FOOTBALL)
    make_worker().run(burst=True)
    first = client.get("/stories?limit=1").json()
    assert len(first["stories"]) == 1 and first["has_more"] and first["next_cursor"]
    second = client.get(f"/stories?limit=1&cursor={first['next_cursor']}").json()
    assert len(second["stories"]) == 1 and not second["has_more"] and second["next_cursor"] is None
    assert first["stories"][0]["id"] != second["stories"][0]["id"]


def test_one_summary_takes_in_every_member_placed_by_a_burst(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    """A burst places the whole story before any summary job runs; the first summary job
    embeds every waiting member, so the story is summarised once, not once per article, and
    the other jobs find their articles already processed."""
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    w = make_worker(worker_batch=1)  # one job per batch: without folding, five summaries
    place_all(w)
    assert {client.get(f"/articles/{a}").json()["status"] for a in ids} == {"clustered"}

    first = w.summary_queue.read_new(w.name, 1, None)
    w.summarise(first)
    states = [client.get(f"/articles/{a}").json() for a in ids]
    assert all(s["status"] == "processed" for s in states)
    story_id = states[0]["story_id"]
    story = client.get(f"/stories/{story_id}").json()
    assert story["summary"]["version"] == 1 and story["source_count"] == 5
    cited = {aid for fact in story["summary"]["consensus"] for aid in fact["article_ids"]}
    assert len(cited) >= 3  # the one summary speaks from the other members too

    w.run(burst=True)  # the four remaining jobs: already processed, no new version
    assert client.get(f"/stories/{story_id}").json()["summary"]["version"] == 1
    assert r.xpending("sf:stream:summaries", "workers")["pending"] == 0


def test_finished_stream_entries_are_trimmed_and_pending_ones_kept(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    """Streams would keep an entry per article forever: trim_done drops what every worker has
    acknowledged, and nothing still pending (a crashed worker's entries) or not yet read."""
    client.post("/articles", json=seeds[:3])
    make_worker().run(burst=True)
    client.post("/articles", json=seeds[3:])
    held = make_worker("w2")
    jobs = held.queue.read_new(held.name, 1, None)  # read, never acknowledged: as if it crashed
    assert len(jobs) == 1

    assert held.queue.trim_done() == 3  # the three placed ones
    assert r.xlen("sf:stream:articles") == 2  # the pending one and the unread one
    assert held.summary_queue.trim_done() == 3  # their summary jobs, all done

    make_worker("w3", claim_min_idle_ms=0).run(burst=True)  # takes over and finishes both
    assert all(
        client.get(f"/articles/{j.article_id}").json()["status"] == "processed" for j in jobs
    )
    assert held.queue.trim_done() == 2 and r.xlen("sf:stream:articles") == 0


def test_an_article_claimed_by_another_worker_is_not_embedded_twice(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers never both embed an article's other sentences: an extra claimed elsewhere is
    left to its claimer; an own article claimed by a worker that then died is embedded after a
    short wait, so its job still ends processed."""
    import workers.rest as rest

    monkeypatch.setattr(rest, "AWAIT_S", 0.2)
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    w = make_worker(worker_batch=1)
    place_all(w)
    for aid in ids[1:3]:  # claimed by a worker that died at once: nobody embeds them for 30 s
        r.set(f"sf:article:{{{aid}}}:rest", "dead-worker", px=30_000)

    (job,) = w.summary_queue.read_new(w.name, 1, None)
    w.summarise([job])
    status = {a: client.get(f"/articles/{a}").json()["status"] for a in ids}
    claimed = set(ids[1:3]) - {job.article_id}
    assert all(status[a] == "clustered" for a in claimed)  # left to their claimer
    assert all(status[a] == "processed" for a in set(ids) - claimed)

    w.run(burst=True)  # their own jobs: waited for, then embedded here
    assert {client.get(f"/articles/{a}").json()["status"] for a in ids} == {"processed"}


def test_summary_max_sentences_embeds_only_the_top_of_long_articles(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    """STORYFOLD_SUMMARY_MAX_SENTENCES=20: an article of 32 sentences gets 20 vectors, still
    counts as fully embedded (processed), and its story's summary reads nothing past them."""
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    make_worker(summary_max_sentences=20).run(burst=True)
    states = {a: client.get(f"/articles/{a}").json() for a in ids}
    assert {s["status"] for s in states.values()} == {"processed"}
    long_id = next(a for a, s in states.items() if s["sentence_count"] > 20)
    stored = r.hmget(f"sf:article:{{{long_id}}}", "vector_rows", "vector_target")
    assert [int(v) for v in stored] == [20, 20]
    sentences = json.loads(r.get(f"sf:article:{{{long_id}}}:sentences"))
    late = sentences[20:]
    summary = client.get(f"/stories/{states[long_id]['story_id']}").json()["summary"]
    quoted = [f["text"] for f in summary["consensus"]]
    quoted += [f["text"] for u in summary["unique"] for f in u["facts"]]
    assert not any(s in q for s in late for q in quoted)


def test_a_worker_restarted_under_its_name_takes_back_its_own_claims(
    client: TestClient,
    make_worker: Callable[..., Worker],
    r: redis.Redis,
    seeds: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claim this consumer name made before a crash is its own: no waiting for it to lapse."""
    import workers.rest as rest

    monkeypatch.setattr(rest, "AWAIT_S", 60.0)  # were it waited for, the test would time out
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    w = make_worker("w-restarted")
    place_all(w)
    for aid in ids:  # claimed by this name before it crashed
        r.set(f"sf:article:{{{aid}}}:rest", "w-restarted", px=30_000)
    started = time.monotonic()
    w.run(burst=True)
    assert time.monotonic() - started < 30
    assert {client.get(f"/articles/{a}").json()["status"] for a in ids} == {"processed"}


def test_summary_jobs_not_yet_read_are_embedded_ahead_and_left_for_their_reader(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    """While stage 1 is placing, stage 2 embeds the coming jobs' articles without reading the
    jobs: each is still delivered once, and its summary then needs no model call."""
    ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    w = make_worker()
    place_all(w)
    assert w.rest.embed_ahead(w.summary_queue, 3) == 3
    assert w.rest.embed_ahead(w.summary_queue, 10) == 2  # goes on after the ones looked at
    assert w.rest.embed_ahead(w.summary_queue, 10) == 0
    fields = w.store.articles_fields(ids)
    assert not any(missing_vectors(f) for f in fields)
    assert {f["status"] for f in fields} == {"clustered"}  # not summarised: that is stage 2's
    jobs = w.summary_queue.read_new(w.name, 10, None)
    assert sorted(j.article_id for j in jobs) == sorted(ids)  # every job still there, once
    w.summarise(jobs)
    assert {client.get(f"/articles/{a}").json()["status"] for a in ids} == {"processed"}


def test_summaries_wait_while_articles_are_placed_and_the_model_works_ahead(
    client: TestClient,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While stage 1 has articles waiting, a summary batch is held back (up to YIELD_S), and the
    articles of the summary jobs queued behind it, other stories' too, are embedded meanwhile."""
    monkeypatch.setattr(summary_stage, "YIELD_S", 0.5)
    seed_ids = [a["id"] for a in client.post("/articles", json=seeds).json()["articles"]]
    text = f"{fixtures_story.GAZETTE_TEXT}\n\n{fixtures_story.VALLEY_TEXT}"  # over six sentences
    recall = {"source": fixtures_story.GAZETTE, "text": text}
    (recall_id,) = post(client, recall)
    w = make_worker(worker_batch=1)
    place_all(w)
    assert missing_vectors(w.store.article_fields(recall_id))  # its own summary job waits
    first = w.summary_queue.read_new(w.name, 1, None)  # a seed's: the other story
    w._placing_idle.clear()  # as while stage 1 has articles waiting
    started = time.monotonic()
    w.summarise(first, after_placing=True)
    assert time.monotonic() - started >= 0.5  # held back for YIELD_S
    recall_now = w.store.article_fields(recall_id)
    assert not missing_vectors(recall_now) and recall_now["status"] == "clustered"  # worked ahead
    assert {client.get(f"/articles/{a}").json()["status"] for a in seed_ids} == {"processed"}

    monkeypatch.setattr(summary_stage, "YIELD_S", 60.0)
    w._placing_idle.set()  # nothing to place: no batch is held back
    started = time.monotonic()
    w.run(burst=True)  # the other jobs, the recall's among them: its summary needs no model now
    assert time.monotonic() - started < 30  # held back, even one batch would take 60 s
    assert client.get(f"/articles/{recall_id}").json()["status"] == "processed"
