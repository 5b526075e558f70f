"""Single stories: ETags and 304s, content negotiation, version history, merged stories."""

from __future__ import annotations

import html
import re

import pytest
import redis
from fastapi.testclient import TestClient
from newsroom import Newsroom

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def news(r: redis.Redis) -> Newsroom:
    return Newsroom(r)


def test_unchanged_story_answers_304_and_a_changed_one_a_new_etag(
    client: TestClient, news: Newsroom
) -> None:
    sid = news.story("Bridge closes", ["a", "b"])
    first = client.get(f"/stories/{sid}")
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"') and tag.endswith('"')
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(f"/stories/{sid}", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    assert client.get(f"/stories/{sid}", headers={"If-None-Match": f"W/{tag}"}).status_code == 304
    assert (
        client.get(f"/stories/{sid}", headers={"If-None-Match": f'"x", {tag}'}).status_code == 304
    )

    news.add(sid, "c")
    changed = client.get(f"/stories/{sid}", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["source_count"] == 3
    assert changed.headers["etag"] != tag
    new_tag = changed.headers["etag"]
    assert client.get(f"/stories/{sid}", headers={"If-None-Match": new_tag}).status_code == 304


def test_feed_versions_and_pages_have_etags_too(client: TestClient, news: Newsroom) -> None:
    sid = news.story("Bridge closes", ["a"])
    for url, headers in [
        ("/stories", {}),
        (f"/stories/{sid}/versions", {}),
        ("/", {}),
        (f"/stories/{sid}", HTML),
        ("/static/style.css", {}),
    ]:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, url
        tag = resp.headers["etag"]
        revalidated = client.get(url, headers={**headers, "If-None-Match": tag})
        assert revalidated.status_code == 304, url
    feed = client.get("/stories")
    news.story("Another", ["b"])
    assert (
        client.get("/stories", headers={"If-None-Match": feed.headers["etag"]}).status_code == 200
    )


def test_story_is_json_for_programs_and_html_for_browsers(
    client: TestClient, news: Newsroom
) -> None:
    sid = news.story("Bridge closes", ["a"])
    for accept in ("", "*/*", "application/json", "application/json, text/html;q=0.5"):
        resp = client.get(f"/stories/{sid}", headers={"Accept": accept} if accept else {})
        assert resp.headers["content-type"] == "application/json", accept
        assert resp.headers["vary"] == "Accept"
    page = client.get(f"/stories/{sid}", headers=HTML)
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["vary"] == "Accept"
    assert "Bridge closes" in page.text
    assert page.headers["etag"] != client.get(f"/stories/{sid}").headers["etag"]
    feed = client.get("/stories", headers=HTML)
    assert feed.headers["content-type"].startswith("text/html") and sid in feed.text
    assert client.get("/").text == feed.text
    missing = client.get("/stories/s_nope", headers=HTML)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "s_nope" in missing.text
    assert client.get("/stories/s_nope").headers["content-type"] == "application/problem+json"


def test_versions_newest_first_with_a_cursor(client: TestClient, news: Newsroom) -> None:
    sid = news.story("Version one", ["a"])
    news.summarise(sid, "Version two")
    news.summarise(sid, "Version three")
    body = client.get(f"/stories/{sid}/versions").json()
    assert [v["headline"] for v in body["versions"]] == [
        "Version three",
        "Version two",
        "Version one",
    ]
    assert [v["version"] for v in body["versions"]] == [3, 2, 1]
    first = client.get(f"/stories/{sid}/versions?limit=2").json()
    assert [v["version"] for v in first["versions"]] == [3, 2] and first["has_more"]
    news.summarise(sid, "Version four")  # arrives between pages: the cursor is unaffected
    rest = client.get(f"/stories/{sid}/versions?limit=2&cursor={first['next_cursor']}").json()
    assert [v["version"] for v in rest["versions"]] == [1] and not rest["has_more"]
    assert client.get("/stories/s_nope/versions").status_code == 404
    assert client.get(f"/stories/{sid}/versions?cursor=zz").status_code == 422


def test_merged_story_answers_with_its_successor(
    client: TestClient, news: Newsroom, r: redis.Redis
) -> None:
    old, new = news.story("Old angle", ["a"]), news.story("The whole story", ["a", "b"])
    # What the repair writes when it folds `old` into `new`.
    r.hset(news.keys.story(old), "merged_into", new)
    body = client.get(f"/stories/{old}").json()
    assert body["id"] == old and body["merged_into"] == new
    resp = client.get(f"/stories/{old}", headers=HTML, follow_redirects=False)
    assert resp.status_code == 308 and resp.headers["location"] == f"/stories/{new}"
    assert resp.headers["vary"] == "Accept"  # cached redirects must not reach JSON clients
    landed = client.get(f"/stories/{old}", headers=HTML)
    assert landed.url.path == f"/stories/{new}" and "The whole story" in landed.text
    assert client.get(f"/stories/{new}").json()["merged_into"] is None


def test_feed_page_pages_with_its_filters(client: TestClient, news: Newsroom) -> None:
    wanted = [news.story(f"Harbour {i}", ["port-news"]) for i in range(3)]
    other = news.story("Elsewhere", ["other"])
    seen: list[str] = []
    url = "/stories?source=port-news&published_after=2025-01-01T00:00:00Z&limit=2"
    while url:
        page = client.get(url, headers=HTML)
        assert page.status_code == 200, page.text
        seen += [sid for sid in wanted if f'href="/stories/{sid}"' in page.text]
        assert other not in page.text
        found = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = html.unescape(found.group(1)) if found else ""
    assert sorted(seen) == sorted(wanted)
