"""POST /articles and GET /articles/{id}: acceptance, idempotency, and clear 4xx for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

GOOD = {"source": "wire", "text": "A council approved the budget on Monday."}


def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["title"] and body["type"] and body["detail"]
    return body


def test_post_queues_and_get_reports_status(client: TestClient) -> None:
    resp = client.post(
        "/articles",
        json={
            **GOOD,
            "title": "Budget",
            "url": "https://example.org/a",
            "published_at": "2025-07-01T10:00:00+02:00",
            "id": "my-1",
        },
    )
    assert resp.status_code == 202
    assert resp.json() == {"id": "my-1", "status": "queued", "existing": False}
    got = client.get("/articles/my-1").json()
    assert got["status"] == "queued" and got["source"] == "wire" and got["story_id"] is None
    assert got["published_at"] == "2025-07-01T08:00:00Z"


def test_generated_id_and_batch(client: TestClient) -> None:
    resp = client.post("/articles", json=[GOOD, {**GOOD, "source": "other"}])
    assert resp.status_code == 202
    body = resp.json()
    assert body["accepted"] == 2 and body["existing"] == 0
    ids = [a["id"] for a in body["articles"]]
    assert len(set(ids)) == 2 and all(client.get(f"/articles/{i}").status_code == 200 for i in ids)


@pytest.mark.parametrize(
    "repost",
    [
        {"id": "x1", "source": "wire", "text": "Completely different text under the same id."},
        {
            "source": "elsewhere",
            "text": "Other words.",
            "url": "https://WWW.example.org/a/?utm_source=x#top",
        },
        {"source": "wire", "text": "  A council approved   the budget on Monday. "},
    ],
    ids=["same-id", "same-canonical-url", "same-source-and-text"],
)
def test_reposting_returns_the_existing_article_and_changes_nothing(
    client: TestClient, r: Any, repost: dict[str, str]
) -> None:
    first = client.post("/articles", json={**GOOD, "id": "x1", "url": "https://example.org/a"})
    assert first.status_code == 202
    length = r.xlen("sf:stream:articles")
    again = client.post("/articles", json=repost)
    assert again.status_code == 200
    assert again.json()["id"] == "x1" and again.json()["existing"] is True
    assert r.xlen("sf:stream:articles") == length
    assert client.get("/articles/x1").json()["source"] == "wire"


def test_articles_told_apart_only_by_a_bare_query_are_two(client: TestClient) -> None:
    """`news.php?1001` and `news.php?1002` are two articles of an old CMS, not one."""
    first, second = (
        client.post("/articles", json={"source": "gazette", "text": text, "url": url})
        for text, url in (
            ("The council met on Monday.", "https://example.org/news.php?1001"),
            ("The bridge reopened on Friday.", "https://example.org/news.php?1002"),
        )
    )
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] != second.json()["id"]
    again = client.post("/articles", json={"source": "x", "text": "y",
                                           "url": "https://www.example.org/news.php?1002#c"})
    assert again.status_code == 200 and again.json()["id"] == second.json()["id"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"source": "wire"}, "body", "text"),
        ({"source": "wire", "text": "   "}, "body", "text"),
        ({"text": "hello"}, "body.source", "required"),
        ({"source": 123, "text": "hello"}, "body.source", "string"),
        ({"source": "wire", "text": ["not", "a", "string"]}, "body.text", "string"),
        ({**GOOD, "published_at": "yesterday"}, "body.published_at", "datetime"),
        ({**GOOD, "url": "not a url"}, "body.url", "URL"),
        ({**GOOD, "id": "has spaces"}, "body.id", "letters, digits"),
        ({**GOOD, "colour": "red"}, "body.colour", "not permitted"),
        ([GOOD, {"source": "x"}], "body[1]", "text"),
        ([], "body", "empty"),
    ],
)
def test_invalid_articles_are_422_naming_the_field(
    client: TestClient, body: Any, field: str, words: str
) -> None:
    found = problem(client.post("/articles", json=body), 422)
    assert found["field"].startswith(field), found
    assert words.lower() in found["detail"].lower(), found


def test_invalid_json_is_400(client: TestClient) -> None:
    body = problem(
        client.post(
            "/articles",
            content=b'{"source": "x", "text": ',
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert "JSON" in body["detail"] and body["field"] == "body"


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    huge = {"source": "wire", "text": "word " * 60_000}  # ~300 kB; the test app's limit is 200 kB
    body = problem(client.post("/articles", json=huge), 413)
    assert "200000" in body["detail"]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    problem(
        client.post("/articles", content=b"source=x", headers={"content-type": "text/plain"}), 415
    )
    # No Content-Type at all (httpx's content=, a bare urllib request): the same answer, not
    # "body: Input should be a valid dictionary".
    body = problem(client.post("/articles", content=b'{"source": "x", "text": "y"}'), 415)
    assert body["field"] == "content-type" and "no Content-Type" in body["detail"]


def test_unknown_article_and_story_are_404(client: TestClient) -> None:
    assert "nope" in problem(client.get("/articles/nope"), 404)["detail"]
    assert "nope" in problem(client.get("/stories/nope"), 404)["detail"]
    problem(client.get("/no-such-route"), 404)


def test_bad_cursor_and_limit_are_422(client: TestClient) -> None:
    assert problem(client.get("/stories?cursor=%%%"), 422)["field"] == "cursor"
    problem(client.get("/stories?limit=0"), 422)
    problem(client.get("/stories?limit=100000"), 422)


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["redis"] is True
    schema = client.get("/openapi.json").json()
    assert "/articles" in schema["paths"] and client.get("/docs").status_code == 200
