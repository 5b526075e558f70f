"""Followed feeds end to end: a loopback server plays three outlets (RSS 2.0, Atom, JSON Feed) and
some broken feeds; the API follows them, the worker polls, articles fold into stories."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import feedparser
import pytest
import redis
from fastapi.testclient import TestClient
from loopback_server import LoopbackServer, Reply, loopback_server
from outlets import EVENTS, link, serve_outlets

from core.config import Settings
from core.keys import Keys
from core.storage.articles import Store
from core.storage.sources import SourceIn, Sources
from service.app import create_app
from workers.runner import Worker
from workers.sources.poll import Poller, PollLoop, fetcher_for

OPEN = {
    "fetch_allow_private": True,
    "fetch_host_interval_s": 0.0,
    "fetch_timeout_s": 1.0,
    "source_full_text_chars": 300,  # the Ledger's short stories count as full text
}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as s:
        yield s


def api(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


def poller(r: redis.Redis, settings: Settings, name: str = "w1") -> Poller:
    keys = Keys(settings.key_prefix)
    return Poller(settings, Sources(r, keys), Store(r, keys), fetcher_for(settings), name)


def poll_all(r: redis.Redis, settings: Settings) -> int:
    return PollLoop(poller(r, settings)).run(threading.Event(), burst=True)


def make_due(r: redis.Redis, settings: Settings) -> None:
    sources = Sources(r, Keys(settings.key_prefix))
    for src in sources.all():
        sources.reschedule(src.id, 0)


def source(client: TestClient, source_id: str) -> dict[str, Any]:
    resp = client.get(f"/sources/{source_id}")
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def test_three_outlets_fold_into_stories_and_a_second_poll_adds_nothing(
    r: redis.Redis,
    settings: Settings,
    server: LoopbackServer,
    make_worker: Callable[..., Worker],
) -> None:
    serve_outlets(server)
    s = settings.model_copy(update=OPEN)
    with api(s) as client:
        ids = {}
        for path, name in [
            ("/northwind/rss.xml", "Northwind Gazette"),
            ("/harbor/atom.xml", None),  # named after the feed's title
            ("/ledger/feed.json", "The Ledger"),
        ]:
            resp = client.post("/sources", json={"url": server.base + path, "name": name})
            assert resp.status_code == 201, resp.text
            ids[path] = resp.json()["id"]
        again = client.post("/sources", json={"url": server.base + "/ledger/feed.json"})
        assert (again.status_code, again.json()["id"]) == (200, ids["/ledger/feed.json"])

        worker = make_worker(**OPEN)
        worker.run(burst=True)  # polls the due feeds, then places and summarises their articles
        for path, sid in ids.items():
            report = source(client, sid)
            assert report["last_outcome"] == "ok", (path, report)
            assert (report["last_status"], report["items_seen"], report["items_new"]) == (200, 2, 2)
            assert report["items_failed"] == 0 and report["last_error"] is None
            assert report["next_poll_at"] > report["last_poll_at"]
        # RSS and Atom carry one-line summaries: their pages were fetched; the JSON Feed's full text
        # was used as it is.
        fetched = set(server.paths())
        for event in EVENTS:
            assert f"/northwind/2026/03/{event}.html" in fetched
            assert f"/harbor/2026/03/{event}.html" in fetched
            assert f"/ledger/2026/03/{event}.html" not in fetched
        assert all(seen.headers["user-agent"].startswith("storyfold/") for seen in server.seen)

        stories = client.get("/stories", params={"min_sources": 3}).json()["stories"]
        assert len(stories) == 2, client.get("/stories").json()
        outlets = {"Northwind Gazette", "Harbor Daily", "The Ledger"}
        for card in stories:
            story = client.get(f"/stories/{card['id']}").json()
            assert {a["source"] for a in story["articles"]} == outlets
            event = "dam" if "dam" in story["headline"].lower() else "ferry"
            assert {a["url"] for a in story["articles"]} == {
                link(server.base, o, event) for o in ("northwind", "harbor", "ledger")
            }
            assert all(a["published_at"].startswith("2026-03-0") for a in story["articles"])
            assert story["summary"]["consensus"], story["summary"]
        # ... and read back out as a feed: one item per story, citing the outlets.
        atom = feedparser.parse(client.get("/stories.atom", params={"min_sources": 3}).content)
        assert not atom.bozo and len(atom.entries) == 2
        assert {e.id for e in atom.entries} == {
            f"http://testserver/stories/{card['id']}" for card in stories
        }
        for entry in atom.entries:
            assert all(outlet in entry.content[0].value for outlet in outlets)
        articles_before = len(r.keys(Keys(s.key_prefix).article("*")))

        # Second poll: every feed answers 304 to its validators; nothing new, no page fetched.
        make_due(r, s)
        requests_before = len(server.seen)
        worker.run(burst=True)
        second = server.seen[requests_before:]
        assert sorted(x.path for x in second) == sorted(ids)
        assert second and all(
            "if-none-match" in x.headers or "if-modified-since" in x.headers for x in second
        )
        for sid in ids.values():
            report = source(client, sid)
            assert (report["last_outcome"], report["last_status"], report["items_new"]) == (
                "not_modified",
                304,
                0,
            )
        assert len(r.keys(Keys(s.key_prefix).article("*"))) == articles_before

        listed = client.get("/sources").json()["sources"]
        assert {x["id"] for x in listed} == set(ids.values())
        assert client.delete(f"/sources/{ids['/harbor/atom.xml']}").status_code == 204
        assert client.get(f"/sources/{ids['/harbor/atom.xml']}").status_code == 404
        assert len(client.get("/sources").json()["sources"]) == 2


FULL_TEXT = (
    "The town council of Brackenford voted on Monday to rebuild the old stone bridge over the "
    "river Lune, closed since the spring floods damaged two of its arches. "
) * 5


def good_feed(base: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Brackenford Post</title>'
        f"<link>{base}/</link><description>x</description><item><title>Bridge to be rebuilt"
        f"</title><link>{base}/post/bridge.html</link><description>{FULL_TEXT}</description>"
        "<pubDate>Mon, 02 Mar 2026 10:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


def test_broken_feeds_are_reported_and_harm_nothing_else(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    s = settings.model_copy(update={**OPEN, "fetch_max_bytes": 5_000_000})
    huge = b"<rss>" + b"x" * 50_000_000 + b"</rss>"  # a 50 MB body
    server.routes["/good.xml"] = lambda seen: Reply(200, good_feed(server.base))
    server.routes["/slow.xml"] = lambda seen: Reply(200, good_feed(server.base), delay_s=3)
    server.routes["/500.xml"] = lambda seen: Reply(500, b"oops")
    server.routes["/bad.xml"] = lambda seen: Reply(
        200, b"<rss version='2.0'><channel><title>x</chan"
    )
    server.routes["/huge.xml"] = lambda seen: Reply(200, huge, chunks=50)
    server.routes["/busy.xml"] = lambda seen: Reply(429, b"slow down", {"Retry-After": "120"})
    expected = {
        "/good.xml": ("ok", 200, None),
        "/slow.xml": ("error", None, "timeout"),
        "/500.xml": ("error", 500, "HTTP 500"),
        "/bad.xml": ("error", 200, "invalid XML"),
        "/huge.xml": ("error", 200, "too_large"),
        "/busy.xml": ("backoff", 429, "Retry-After 120"),
    }
    with api(s) as client:
        ids = {
            path: client.post("/sources", json={"url": server.base + path}).json()["id"]
            for path in expected
        }
        started = time.time()
        assert poll_all(r, s) == len(expected)
        for path, (outcome, status, error) in expected.items():
            report = source(client, ids[path])
            assert report["last_outcome"] == outcome, (path, report)
            assert report["last_status"] == status, (path, report)
            if error:
                assert error in report["last_error"], (path, report)
                assert report["failures"] == 1
        good = source(client, ids["/good.xml"])
        assert (good["items_new"], good["name"]) == (1, "Brackenford Post")
        assert len(r.keys(Keys(s.key_prefix).article("*"))) == 1  # the good feed's one article
        busy = source(client, ids["/busy.xml"])
        assert busy["next_poll_at"] and _ts(busy["next_poll_at"]) >= started + 119

        # Backed off: polling again now touches only nothing (nothing is due).
        seen_before = server.paths().count("/busy.xml")
        assert poll_all(r, s) == 0
        assert server.paths().count("/busy.xml") == seen_before == 1
        failing = source(client, ids["/500.xml"])
        assert _ts(failing["next_poll_at"]) >= started + s.source_poll_seconds - 5


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


def test_default_settings_refuse_a_loopback_feed_and_send_it_nothing(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    server.routes["/feed.xml"] = lambda seen: Reply(200, good_feed(server.base))
    url = f"{server.base}/feed.xml"
    with api(settings) as client:
        for refused in (url, f"http://localhost:{server.port}/feed.xml"):
            resp = client.post("/sources", json={"url": refused})
            assert resp.status_code == 422, resp.text
            assert "non-public" in resp.json()["detail"]
        # An IPv6 literal host is not a URL the API takes at all (hosts in ASCII, no literals).
        assert client.post("/sources", json={"url": "http://[::1]/x"}).status_code == 422
        assert client.post("/sources", json={"url": "file:///etc/passwd"}).status_code == 422
        # A name that resolved to a public address when posted and to loopback later: the
        # worker's own check refuses it (stored here directly, as the API would have).
        sid = Sources(r, Keys()).add(SourceIn(url=url), 900)[0].id
        poll_all(r, settings)
        report = source(client, sid)
    assert report["last_outcome"] == "blocked"
    assert "non-public" in report["last_error"] and "127.0.0.1" in report["last_error"]
    assert server.seen == []


def test_one_poller_per_source_and_a_poll_cut_short_is_redone_without_doubles(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """A worker dies mid-poll (after storing one of two entries, before recording the poll): its
    lease keeps every other worker off until it expires; the next poll stores the rest, once."""
    s = settings.model_copy(update=OPEN)
    second = FULL_TEXT.replace("bridge", "library")
    feed = good_feed(server.base).replace(
        b"</channel>",
        f"<item><title>Library</title><link>{server.base}/post/library.html</link>"
        f"<description>{second}</description></item></channel>".encode(),
    )
    server.routes["/feed.xml"] = lambda seen: Reply(200, feed, {"ETag": '"e1"'})
    keys = Keys(s.key_prefix)
    sources = Sources(r, keys)
    with api(s) as client:
        sid = client.post("/sources", json={"url": f"{server.base}/feed.xml"}).json()["id"]

    class Dies(Exception):
        pass

    dying = poller(r, s, "dying")
    real_mark = dying.sources.mark_seen
    calls = []

    def mark_then_die(source_id: str, key: str) -> None:
        real_mark(source_id, key)
        calls.append(key)
        if len(calls) == 1:
            raise Dies  # the process is gone: no further entry, no report, no lease release

    dying.sources.mark_seen = mark_then_die  # type: ignore[method-assign]
    assert sources.lease(sid, "dying", 30)
    with pytest.raises(Dies):
        dying.poll(sid)
    assert len(r.keys(keys.article("*"))) == 1

    other = poller(r, s, "other")
    assert other.poll_due() == 0  # leased by the dead worker: nobody polls it
    assert server.paths().count("/feed.xml") == 1
    r.delete(keys.source_lease(sid))  # the lease's TTL runs out
    assert other.poll_due() == 1
    report = sources.get(sid)
    assert (report.last_outcome, report.items_seen, report.items_new) == ("ok", 2, 1)
    assert len(r.keys(keys.article("*"))) == 2  # nothing lost, nothing doubled
    sources.reschedule(sid, 0)
    assert other.poll_due() == 1
    assert len(r.keys(keys.article("*"))) == 2
    assert server.seen[-1].headers.get("if-none-match") == '"e1"'


RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="http://old.test/"><title>Old Style Weekly</title><link>http://old.test/</link>
    <description>x</description></channel>
  <item rdf:about="http://old.test/a"><title>Quarry reopens</title><link>/a</link>
    <description>The quarry reopened.</description><dc:date>2026-03-02T09:00:00Z</dc:date></item>
</rdf:RDF>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><title>&lol2;</title></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&x;</title></channel></rss>"""


def test_parser_reads_rss10_and_refuses_hostile_or_broken_bodies() -> None:
    from datetime import UTC, datetime

    from workers.sources.parse import FeedParseError, parse_feed

    feed = parse_feed(RSS10, "http://old.test/feed.rdf")
    assert (feed.kind, feed.title) == ("rss10", "Old Style Weekly")
    (entry,) = feed.entries
    assert entry.link == "http://old.test/a"  # relative link resolved against the feed
    assert entry.published == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for hostile in (LAUGHS, XXE):
        with pytest.raises(FeedParseError, match="refused"):
            parse_feed(hostile, "http://x.test/")
    with pytest.raises(FeedParseError, match="invalid XML"):
        parse_feed(b"<rss><channel>", "http://x.test/")
    with pytest.raises(FeedParseError, match="not an RSS"):
        parse_feed(b"<html><body>hello</body></html>", "http://x.test/")
    with pytest.raises(FeedParseError, match="invalid JSON"):
        parse_feed(b"{not json", "http://x.test/")
    with pytest.raises(FeedParseError, match="not a JSON Feed"):
        parse_feed(b'{"items": []}', "http://x.test/")
    # A date-time with no UTC instant (before year 1 once its offset is applied) is no date: the
    # item is kept undated, the rest of the feed is read (it used to fail the whole poll).
    before_year_one = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ['
        b'{"id": "1", "url": "http://x.test/1", "content_text": "First.",'
        b' "date_published": "0001-01-01T00:00:00+01:00"},'
        b'{"id": "2", "url": "http://x.test/2", "content_text": "Second.",'
        b' "date_published": "2026-03-02T09:00:00Z"}]}'
    )
    undated, dated = parse_feed(before_year_one, "http://x.test/feed.json").entries
    assert undated.published is None
    assert dated.published == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_one_request_per_host_with_an_interval_and_retry_after_holding_it(r: redis.Redis) -> None:
    from core.storage.hosts import Hosts

    hosts = Hosts(r, Keys())
    assert hosts.acquire("news.test", "w1", 30) == 0
    assert hosts.acquire("news.test", "w2", 30) > 0  # one request in flight per host
    assert hosts.acquire("other.test", "w2", 30) == 0  # other hosts are not held up
    hosts.release("news.test", "w1", interval_s=2.0)
    wait = hosts.acquire("news.test", "w2", 30)
    assert 1.0 < wait <= 2.0  # the minimum interval between two requests
    hosts.defer("news.test", time.time() + 120)  # a 429's Retry-After
    assert hosts.acquire("news.test", "w2", 30) > 100
    hosts.defer("news.test", time.time() + 5)  # never pulled back in
    assert hosts.acquire("news.test", "w2", 30) > 100


def test_writes_need_a_key_when_keys_are_set(settings: Settings) -> None:
    s = settings.model_copy(update={"api_keys": ["k" * 24], "fetch_allow_private": True})
    body = {"url": "http://127.0.0.1:9/feed.xml"}
    auth = {"Authorization": "Bearer " + "k" * 24}
    with api(s) as client:
        assert client.post("/sources", json=body).status_code == 401
        created = client.post("/sources", json=body, headers=auth)
        assert created.status_code == 201
        assert client.get("/sources").status_code == 200  # reads stay open
        assert client.delete(f"/sources/{created.json()['id']}").status_code == 401
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["story.created"]}
        assert client.post("/webhooks", json=hook).status_code == 401
        assert client.get("/webhooks").status_code == 401  # webhooks are the admin's alone
        assert client.post("/webhooks", json=hook, headers=auth).status_code == 201
        assert client.delete(f"/sources/{created.json()['id']}", headers=auth).status_code == 204


def test_an_entry_whose_page_is_gone_is_given_up_and_the_feed_gets_its_304_back(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """One entry links to a page that answers 404 for good. It is retried (the feed read in full,
    no validators sent) for SOURCE_ENTRY_TRIES polls, then given up and reported, after which
    the feed's ETag is kept and an unchanged feed costs a 304 again."""
    s = settings.model_copy(update={**OPEN, "source_entry_tries": 2})
    feed = good_feed(server.base).replace(
        b"</channel>",
        f"<item><title>Gone</title><link>{server.base}/post/gone.html</link>"
        f"<description>Short.</description></item></channel>".encode(),
    )
    etag = '"v1"'
    server.routes["/feed.xml"] = lambda seen: (
        Reply(304) if seen.headers.get("if-none-match") == etag else Reply(200, feed, {"ETag": etag})
    )
    keys = Keys(s.key_prefix)
    sources = Sources(r, keys)
    with api(s) as client:
        sid = client.post("/sources", json={"url": f"{server.base}/feed.xml"}).json()["id"]
        outcomes = []
        for _ in range(4):
            sources.reschedule(sid, 0)
            assert poller(r, s).poll_due() == 1
            report = source(client, sid)
            outcomes.append((report["last_outcome"], report["items_new"], report["items_failed"]))
            if report["items_failed"]:
                assert "/post/gone.html" in report["last_error"]
            if len(outcomes) == 2:
                assert "gave up after 2 tries" in report["last_error"]
    assert outcomes == [("ok", 1, 1), ("ok", 0, 1), ("not_modified", 0, 0), ("not_modified", 0, 0)]
    feed_requests = [x for x in server.seen if x.path == "/feed.xml"]
    assert [x.headers.get("if-none-match") for x in feed_requests] == [None, None, etag, etag]
    assert server.paths().count("/post/gone.html") == 2  # tried twice, then left alone
    assert len(r.keys(keys.article("*"))) == 1  # the good entry, stored once
