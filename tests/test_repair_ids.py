"""The HDBSCAN repair fixes a bad online assignment without renaming stories: a fragment is
merged (its id answers with `merged_into`), an intruding event is split off (the new story names
its `parent`), and every story id a client held still resolves."""

from __future__ import annotations

from collections.abc import Callable

import redis
from fastapi.testclient import TestClient

from core.keys import Keys
from core.storage.repair_store import RepairStore
from core.storage.stories import Stories
from core.storage.story_codec import encode_state
from workers.runner import Worker

# Three reports of one match, written for this test.
MATCH = [
    (
        "sports-desk",
        "Bristol Rovers beat Exeter City 2-1 at the Memorial Stadium on Saturday, with "
        "defender Tom Hale heading the winner in the 89th minute after Exeter had equalised from the "
        "penalty spot.",
    ),
    (
        "west-country-sport",
        "A late Tom Hale header gave Bristol Rovers a 2-1 home win over Exeter "
        "City on Saturday; Exeter's equaliser had come from a second-half penalty at the Memorial "
        "Stadium.",
    ),
    (
        "league-one-live",
        "Rovers 2 Exeter 1: defender Tom Hale scored with a header in the 89th "
        "minute at the Memorial Stadium, settling a derby Exeter had levelled with a penalty.",
    ),
]


def test_repair_merges_a_fragment_and_splits_an_intruder_keeping_every_id(
    client: TestClient,
    r: redis.Redis,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
) -> None:
    posted = client.post("/articles", json=[*seeds, *[{"source": s, "text": t} for s, t in MATCH]])
    ids = [a["id"] for a in posted.json()["articles"]]
    worker = make_worker()
    worker.run(burst=True)
    seed_ids, match_ids = ids[:5], ids[5:]
    story_of = {a: client.get(f"/articles/{a}").json()["story_id"] for a in ids}
    seeds_story, match_story = story_of[seed_ids[0]], story_of[match_ids[0]]
    assert {story_of[a] for a in seed_ids} == {seeds_story} and seeds_story != match_story

    # Make the online result wrong the way an unlucky arrival order can: two seeds live in a
    # fragment story, and the match reports sit inside the seeds' story (their own story is
    # folded away for the setup, as if it had never been opened).
    ops = worker.ops
    repairs = RepairStore(r, Keys(), Stories(r, Keys()))
    fragment = "s_fragment"
    moves = {a: (seeds_story, fragment, 0.0) for a in seed_ids[3:]}
    moves |= {a: (match_story, seeds_story, 0.0) for a in match_ids}
    repairs.apply(moves, {match_story: seeds_story}, {fragment: (seeds_story, "fragment")}, {})
    r.hdel(f"sf:story:{{{fragment}}}", "parent")
    for sid in (seeds_story, fragment):
        members = [m.decode() for m in r.zrange(f"sf:story:{{{sid}}}:articles", 0, -1)]
        state = ops._rebuild(sid, members)
        assert state is not None
        r.hset(f"sf:story:{{{sid}}}:state", mapping=encode_state(state))
        r.zadd("{sf}:stories:active", {sid: state.last_ts})
        ops.summarise(sid)
    held = {seeds_story, fragment, match_story}
    before = client.get(f"/stories/{seeds_story}").json()["summary_version"]

    outcome = ops.repair()

    assert outcome is not None
    assert outcome.merged == {fragment: seeds_story}
    (split_id,) = outcome.split
    assert outcome.split[split_id] == seeds_story
    after = {a: client.get(f"/articles/{a}").json() for a in ids}
    assert {after[a]["story_id"] for a in seed_ids} == {seeds_story}
    assert {after[a]["story_id"] for a in match_ids} == {split_id}
    assert all(a["status"] == "processed" for a in after.values())

    for sid in held | {split_id}:  # every id ever handed out still answers
        assert client.get(f"/stories/{sid}").status_code == 200
    merged = client.get(f"/stories/{fragment}").json()
    assert merged["merged_into"] == seeds_story
    assert (merged["articles"], merged["article_count"], merged["source_count"]) == ([], 0, 0)
    split = client.get(f"/stories/{split_id}").json()
    assert split["parent"] == seeds_story and split["article_count"] == 3
    survivor = client.get(f"/stories/{seeds_story}").json()
    assert survivor["article_count"] == 5 and survivor["source_count"] == 5
    assert survivor["summary_version"] > before
    feed = {s["id"] for s in client.get("/stories").json()["stories"]}
    assert fragment not in feed and {seeds_story, split_id} <= feed
    events = [e[1] for e in r.xrange("{sf}:stream:events")]
    assert any(
        e[b"type"] == b"story.merged" and e[b"story_id"] == fragment.encode() for e in events
    )
