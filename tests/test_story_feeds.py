"""Stories out: Atom, RSS and JSON Feed documents (parsed back with feedparser), items updated only
on material summary changes, and GET /stories/{id}/changes?since=VERSION."""

from __future__ import annotations

import json

import feedparser
import pytest
import redis
from desk import DAM, EVAC, TOLL, Desk, fact, v1, v2
from fastapi.testclient import TestClient
from newsroom import Newsroom

from core.summary import Summary
from core.summary_diff import diff


@pytest.fixture
def desk(r: redis.Redis) -> Desk:
    return Desk(r)


def test_changes_since_lists_exactly_the_added_facts_and_outlets(
    client: TestClient, desk: Desk
) -> None:
    desk.article("s_dam", "Northwind", created=True)
    desk.article("s_dam", "Harbor")
    desk.summarise("s_dam", v1())
    desk.article("s_dam", "The Ledger")
    desk.summarise("s_dam", v2())

    resp = client.get("/stories/s_dam/changes", params={"since": 1})
    assert resp.status_code == 200, resp.text
    changes = resp.json()
    assert (changes["since"], changes["version"]) == (1, 2)
    assert changes["facts_added"] == [TOLL]  # EVAC moved from Northwind's own facts to consensus
    assert changes["outlets_added"] == ["The Ledger"]
    assert changes["facts_dropped"] == [] and changes["outlets_dropped"] == []
    assert changes["conflicts_opened"] == ["evacuated"] and changes["conflicts_resolved"] == []

    first = client.get("/stories/s_dam/changes", params={"since": 0, "version": 1}).json()
    assert sorted(first["facts_added"]) == sorted([DAM, EVAC])
    assert first["outlets_added"] == ["Harbor", "Northwind"]
    back = client.get("/stories/s_dam/changes", params={"since": 1, "version": 1}).json()
    assert back["facts_added"] == back["outlets_added"] == []
    assert client.get("/stories/s_dam/changes", params={"since": 3}).status_code == 422
    assert client.get("/stories/s_nope/changes", params={"since": 0}).status_code == 404


def test_diff_material_and_not() -> None:
    base = v1()
    reworded = v1()
    reworded.headline = "A new headline"
    reworded.consensus[0].support = 5
    assert not diff("s", base, reworded).material
    dropped = v1()
    dropped.unique = []
    change = diff("s", base, dropped)
    assert change.facts_dropped == [EVAC] and change.outlets_dropped == [] and not change.material
    assert diff("s", base, v2()).material
    assert diff("s", None, base).material


def entry_of(document: bytes, story_url: str) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(document)
    assert not parsed.bozo, parsed.bozo_exception
    (entry,) = [e for e in parsed.entries if e.get("id") == story_url]
    return entry


def test_feeds_parse_and_an_item_changes_only_materially(client: TestClient, desk: Desk) -> None:
    desk.article("s_dam", "Northwind", created=True)
    desk.article("s_dam", "Harbor")
    desk.summarise("s_dam", v1())
    desk.article("s_lone", "Harbor", created=True)
    desk.summarise(
        "s_lone", Summary(headline="Harbor festival opens", consensus=[fact("Music.", "Harbor")])
    )
    url = "http://testserver/stories/s_dam"

    atom = client.get("/stories.atom")
    assert atom.status_code == 200 and atom.headers["content-type"].startswith(
        "application/atom+xml"
    )
    first = entry_of(atom.content, url)
    assert first.title == "Millbrook dam gives way"
    assert first.link == url
    assert DAM in first.content[0].value and "Northwind, Harbor" in first.content[0].value
    assert feedparser.parse(atom.content).version == "atom10"

    rss = client.get("/stories.rss")
    parsed = feedparser.parse(rss.content)
    assert parsed.version == "rss20" and not parsed.bozo
    assert {e.id for e in parsed.entries} == {url, "http://testserver/stories/s_lone"}

    jf = client.get("/stories.json")
    assert jf.headers["content-type"].startswith("application/feed+json")
    doc = json.loads(jf.content)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert {i["id"] for i in doc["items"]} == {url, "http://testserver/stories/s_lone"}

    # Filters as /stories: a one-outlet story is not in ?min_sources=2.
    filtered = feedparser.parse(client.get("/stories.atom", params={"min_sources": 2}).content)
    assert [e.id for e in filtered.entries] == [url]

    # A rewrite that changes no fact, outlet or conflict: the item stays as it was.
    same = v1()
    same.headline = "Millbrook dam partly gives way"
    desk.article("s_dam", "Northwind")  # a second Northwind article: no new outlet
    desk.summarise("s_dam", same)
    assert client.get("/stories/s_dam").json()["summary_version"] == 2
    unchanged = entry_of(client.get("/stories.atom").content, url)
    assert (unchanged.updated, unchanged.title, unchanged.content[0].value) == (
        first.updated,
        first.title,
        first.content[0].value,
    )

    # A new fact, outlet and conflict: the same item (same id), updated, saying what changed.
    desk.article("s_dam", "The Ledger")
    desk.summarise("s_dam", v2())
    updated = entry_of(client.get("/stories.atom").content, url)
    assert updated.updated_parsed > first.updated_parsed or updated.updated > first.updated
    assert updated.title == "Millbrook dam gives way, thousands evacuated"
    html = updated.content[0].value
    assert "New outlets: The Ledger" in html and TOLL in html and "New conflict: evacuated" in html
    rss_item = entry_of(client.get("/stories.rss").content, url)
    assert "New outlets: The Ledger" in rss_item.summary
    item = next(i for i in client.get("/stories.json").json()["items"] if i["id"] == url)
    assert item["_storyfold"]["changes"]["outlets_added"] == ["The Ledger"]
    assert item["date_modified"] > item["date_published"]


@pytest.fixture
def news(r: redis.Redis) -> Newsroom:
    return Newsroom(r)


def test_changes_since_a_thinned_version_compare_from_one_still_kept(
    client: TestClient, news: Newsroom
) -> None:
    """A busy day thins old versions (the last 20 and each day's last are kept). A reader who
    saw version 2 is told what changed since the nearest version kept, and which one that is,
    not that every fact and outlet is new."""
    sid = news.story("Bridge closes", ["o0"])
    for i in range(1, 26):
        news.add(sid, f"o{i}")  # versions 2..26, all on one day
    page = client.get(f"/stories/{sid}/versions", params={"limit": 100}).json()
    kept = sorted(v["version"] for v in page["versions"])
    assert 2 not in kept and kept[0] == 7
    changes = client.get(f"/stories/{sid}/changes", params={"since": 2}).json()
    assert (changes["since"], changes["version"]) == (7, 26)
    assert changes["outlets_added"] == sorted(f"o{i}" for i in range(7, 26))
    assert changes["facts_added"] == []  # the headline fact was there at version 7 already
    within = client.get(f"/stories/{sid}/changes", params={"since": 2, "version": 5}).json()
    assert within["facts_added"] == within["outlets_added"] == []


def test_a_feed_item_stays_put_when_its_shown_version_is_thinned(
    client: TestClient, news: Newsroom
) -> None:
    sid = news.story("Bridge closes", ["a", "b"])
    first = client.get("/stories.json").json()["items"][0]
    for _ in range(25):  # rewrites that change no fact, outlet or conflict
        news.summarise(sid, "Bridge closes")
    again = client.get("/stories.json").json()["items"][0]
    assert again["date_modified"] == first["date_modified"]
