"""GET /events: server-sent events from the story event stream, resumable with Last-Event-ID."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from newsroom import Newsroom

from core.config import Settings
from service.app import create_app


@pytest.fixture
def news(r: redis.Redis) -> Newsroom:
    return Newsroom(r)


@pytest.fixture
def fast(settings: Settings) -> Iterator[TestClient]:
    """Short XREAD blocks and heartbeats, so waiting tests take fractions of a second."""
    quick = settings.model_copy(update={"events_block_ms": 50, "events_heartbeat_s": 0.1})
    with TestClient(create_app(quick)) as client:
        yield client


def parse(text: str) -> list[dict[str, Any]]:
    """Events as a browser's EventSource would see them, plus comment lines as `comment`."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        if fields:
            out.append(fields)
    return out


def events(client: TestClient, url: str, **headers: str) -> list[dict[str, Any]]:
    resp = client.get(url, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert "etag" not in resp.headers
    return [e for e in parse(resp.text) if "event" in e]


def stored_ids(r: redis.Redis) -> list[str]:
    return [i.decode() for i, _ in r.xrange("{sf}:stream:events")]


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_backlog_once(client: TestClient, news: Newsroom, r: redis.Redis) -> None:
    a, b = news.story("One", ["x"]), news.story("Two", ["y"])
    news.add(a, "z")
    got = events(client, "/events?after=0&once=true")
    assert [e["id"] for e in got] == stored_ids(r)
    assert [(e["event"], e["data"]["story_id"]) for e in got] == [
        ("story.created", a),
        ("story.created", b),
        ("story.updated", a),
    ]
    assert [e["data"]["seq"] for e in got] == [1, 2, 3]
    assert parse(client.get("/events?once=true").text)[0] == {"retry": "3000"}


def test_resume_with_last_event_id_delivers_exactly_the_missed_events(
    client: TestClient, news: Newsroom, r: redis.Redis
) -> None:
    a = news.story("One", ["x"])
    news.story("Two", ["y"])
    seen = events(client, "/events?after=0&once=true")
    # Disconnected: meanwhile a story changes and another starts.
    news.add(a, "z")
    c = news.story("Three", ["w"])
    missed = events(client, "/events?once=true", **{"Last-Event-ID": seen[-1]["id"]})
    assert [e["id"] for e in missed] == stored_ids(r)[len(seen) :]
    assert [(e["event"], e["data"]["story_id"]) for e in missed] == [
        ("story.updated", a),
        ("story.created", c),
    ]
    # From the middle; the header wins over ?after= (a browser resuming a stream opened with it).
    middle = events(client, "/events?after=0&once=true", **{"Last-Event-ID": seen[0]["id"]})
    assert [e["id"] for e in middle] == stored_ids(r)[1:]
    assert events(client, "/events?once=true&limit=1", **{"Last-Event-ID": seen[0]["id"]}) == [
        middle[0]
    ]


def test_without_an_id_the_stream_starts_now_and_waits(fast: TestClient, news: Newsroom) -> None:
    news.story("Old", ["x"])
    timer = later(0.3, lambda: news.story("Fresh", ["y"]))
    got = events(fast, "/events?limit=1")
    timer.join()
    assert [e["data"]["seq"] for e in got] == [2]


def test_a_stream_that_drops_before_its_first_event_resumes_where_it_began(
    fast: TestClient, news: Newsroom
) -> None:
    """The stream names its start at once, as a browser's EventSource reads ids: reconnecting
    with that Last-Event-ID gets what happened while it was away, though no event came before."""
    news.story("Old", ["x"])
    first = parse(fast.get("/events?limit=1", params={"once": "true"}).text)
    assert first[0] == {"retry": "3000"}
    start = first[1]["id"]  # an id-only record: sets the browser's last event id, no event
    assert set(first[1]) == {"id"}
    news.story("While away", ["y"])
    got = events(fast, "/events?once=true", **{"Last-Event-ID": start})
    assert [e["data"]["seq"] for e in got] == [2]
    empty = parse(fast.get("/events?after=0&once=true&limit=1").text)
    assert empty[1] == {"id": "0-0"}  # from the beginning: resumable too


def test_idle_stream_sends_heartbeats(fast: TestClient, news: Newsroom) -> None:
    timer = later(0.5, lambda: news.story("Late", ["y"]))
    text = fast.get("/events?limit=1").text
    timer.join()
    assert ": keep-alive" in text
    assert [e["event"] for e in parse(text) if "event" in e] == ["story.created"]


def test_stream_ends_when_the_server_stops(fast: TestClient) -> None:
    closing: threading.Event = fast.app.state.closing  # type: ignore[attr-defined]
    timer = later(0.3, closing.set)
    assert events(fast, "/events") == []  # returned at all: the stop was noticed
    timer.join()


def test_resume_after_trimmed_events_says_to_resync(
    client: TestClient, news: Newsroom, r: redis.Redis
) -> None:
    for i in range(5):
        news.story(f"S{i}", ["x"])
    first = stored_ids(r)[0]
    r.xtrim("{sf}:stream:events", maxlen=2, approximate=False)
    got = events(client, "/events?once=true", **{"Last-Event-ID": first})
    assert got[0]["event"] == "stream.reset" and "id" not in got[0]
    assert "updated_after" in got[0]["data"]["detail"]
    assert [e["id"] for e in got[1:]] == stored_ids(r)
    kept = stored_ids(r)[0]
    assert [e["event"] for e in events(client, f"/events?once=true&after={kept}")] == [
        "story.created"
    ]


def test_bad_event_id_is_a_problem(client: TestClient) -> None:
    resp = client.get("/events?once=true", headers={"Last-Event-ID": "yesterday"})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["field"] == "Last-Event-ID"
    assert client.get("/events?after=1-x").json()["field"] == "after"
    assert client.get("/events?limit=0").status_code == 422


def test_summary_events_say_what_changed_since_the_version_before(
    client: TestClient, news: Newsroom
) -> None:
    """A client following the stream learns which facts and outlets are new without fetching two
    versions and comparing them: each summary event carries its version and the fact-level diff
    from the version before (the shape of /stories/{id}/changes)."""
    sid = news.story("Dam opens spillways", ["Riverside Post"], fact="The dam opened two gates.")
    news.facts[sid] = "The dam opened three gates on Friday."
    news.add(sid, "Valley Courier")
    created, updated = events(client, "/events?after=0&once=true")
    assert created["event"] == "story.created" and created["data"]["version"] == 1
    assert created["data"]["changes"]["facts_added"] == ["The dam opened two gates."]
    assert created["data"]["changes"]["outlets_added"] == ["Riverside Post"]
    assert updated["event"] == "story.updated" and updated["data"]["version"] == 2
    step = updated["data"]["changes"]
    assert (step["since"], step["version"]) == (1, 2)
    assert step["facts_added"] == ["The dam opened three gates on Friday."]
    assert step["facts_dropped"] == ["The dam opened two gates."]
    assert step["outlets_added"] == ["Valley Courier"]
    assert step == client.get(f"/stories/{sid}/changes?since=1&version=2").json()
