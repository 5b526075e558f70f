"""Bad input never gets a 500: the API answers a clear 4xx (problem+json) or accepts, and whatever it
accepts it keeps (GET /articles/{id} finds every id a 2xx returned).

First schemathesis, generating requests from the app's own OpenAPI schema (valid and invalid ones)
for every operation, checking only this: no 5xx, and every id a 2xx returned is readable (that
the answers keep the schema, with every check schemathesis has, is test_openapi_contract.py's
job); then hypothesis over what clients really send wrong: bodies over the size
limit, empty ones, bytes that are not UTF-8 JSON, HTML with scripts, batches over the limit,
JSON nested thousands deep, re-used ids with other text, dates from any century. All through the
ASGI app against the real Redis, with the real limits (2 MB body, 1,000 articles a batch).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import redis
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from core.config import Settings
from service.app import create_app

PROBLEM = "application/problem+json"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),  # fixtures are shared on purpose: one app, one Redis
)


@pytest.fixture
def real_limits(redis_url: str, r: redis.Redis) -> Settings:
    """The shipped limits (the shared `settings` fixture lowers the body limit for speed)."""
    return Settings(redis_url=redis_url, _env_file=None)


@pytest.fixture
def api(real_limits: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(real_limits), raise_server_exceptions=False) as c:
        yield c


def post_raw(api: TestClient, body: bytes, ctype: str = "application/json") -> Any:
    return api.post("/articles", content=body, headers={"content-type": ctype})


def accepted_ids(resp: Any) -> list[str]:
    body = resp.json()
    return [a["id"] for a in body["articles"]] if "articles" in body else [body["id"]]


def assert_clear(resp: Any, *allowed: int) -> None:
    """A 2xx, or a 4xx that says what is wrong in problem+json; never a 5xx."""
    assert resp.status_code < 500, resp.text[:500]
    if allowed:
        assert resp.status_code in allowed, (resp.status_code, resp.text[:500])
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
        problem = resp.json()
        assert problem["status"] == resp.status_code and problem["title"] and problem["detail"]
        if resp.status_code == 400:  # every 400 of POST /articles is a body that is not JSON
            assert problem["type"].endswith("/malformed-json"), problem


def assert_kept(api: TestClient, resp: Any) -> list[str]:
    """Every id a 2xx returned is stored and readable."""
    ids = accepted_ids(resp)
    for article_id in ids:
        got = api.get(f"/articles/{article_id}")
        assert got.status_code == 200, (article_id, got.text[:300])
        assert got.json()["id"] == article_id
    return ids


# -- schemathesis: every operation of the OpenAPI schema ----------------------------------------
def test_schema_driven_requests_get_no_server_error(real_limits: Settings) -> None:
    app = create_app(real_limits)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    kept: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /articles", "GET /stories/{story_id}"}
    for op in operations:
        inputs = (op.path_parameters, op.query, op.headers, op.cookies, op.body)
        # /healthz takes nothing, so nothing about a request to it can be invalid.
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * any(map(len, inputs))
        for mode in modes:

            @given(case=op.as_strategy(generation_mode=mode))
            @FUZZ
            def call(case: Any) -> None:
                # An event stream without ?once never ends by itself: read what it sends in 0.3 s.
                # Its answer can take longer than that on a loaded machine (CI): then once more
                # with 5 s, and a stream that still says nothing is a failure.
                if case.path != "/events":
                    resp = case.call()
                else:
                    try:
                        resp = case.call(timeout=0.3)
                    except requests.exceptions.ReadTimeout:
                        try:
                            resp = case.call(timeout=5.0)
                        except requests.exceptions.ReadTimeout:
                            failures.append(f"no answer in 5 s: {case.as_curl_command()[:300]}")
                            return
                if resp.status_code >= 500:
                    failures.append(f"{resp.status_code} {case.as_curl_command()[:300]}")
                elif resp.status_code >= 400:
                    ctype = (resp.headers.get("content-type") or [""])[0]  # lists, lower-case keys
                    if not ctype.startswith(PROBLEM):
                        failures.append(f"{resp.status_code} as {ctype}: {case.as_curl_command()}")
                elif case.path == "/articles" and case.method == "POST" and resp.status_code in (
                    200,
                    202,
                ):
                    kept.extend(accepted_ids(resp))

            call()
    assert failures == [], "\n".join(failures[:20])
    with TestClient(app) as client:
        missing = [a for a in kept if client.get(f"/articles/{a}").status_code != 200]
    assert missing == []


# -- hypothesis: articles as clients get them wrong ---------------------------------------------
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
text_fields = st.one_of(
    st.text(max_size=300),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=300),  # emoji, RTL, combining marks
    st.sampled_from(
        ["", "   ", "\x00\x01\x1f", "\ud800", "<script>alert(1)</script>", "ünïcödé ✓ 新闻"]
    ),
    json_values,
)
article_like = st.fixed_dictionaries(
    {},
    optional={
        "source": text_fields,
        "text": text_fields,
        "html": text_fields,
        "title": text_fields,
        "url": st.one_of(
            text_fields,
            st.sampled_from(["http://[::1", "https://ex.com/a?utm_source=x#f", "http://a\uff03b/"]),
        ),
        "published_at": st.one_of(text_fields, st.datetimes().map(datetime.isoformat)),
        "id": st.one_of(text_fields, st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}\Z")),
        "extra": json_values,
    },
)


@given(body=st.one_of(article_like, st.lists(article_like, max_size=4), json_values))
@example(body={"source": "s", "text": "t", "url": "http://[::1"})  # was a 500 (urlsplit)
@example(body={"source": "s", "text": "t", "url": "http://a\uff03b/x"})  # NFKC netloc check
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_any_json_body_gets_a_clear_answer_and_what_is_accepted_is_kept(
    api: TestClient, body: Any
) -> None:
    resp = api.post(
        "/articles", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert_clear(resp, 200, 202, 422)
    if resp.status_code < 300:
        assert_kept(api, resp)


@given(raw=st.binary(max_size=300))
@example(raw=b"\xff\xfe\x00")
@example(raw='{"source": "s", "text": "caf\xe9"}'.encode("latin-1"))  # not UTF-8
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_arbitrary_bytes_get_a_clear_answer(api: TestClient, raw: bytes) -> None:
    assert_clear(post_raw(api, raw), 200, 202, 400, 422)


@given(
    text=st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=80
    ),
    encoding=st.sampled_from(
        ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig", "latin-1", "cp1252"]
    ),
)
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_json_in_other_encodings_is_read_or_refused(
    api: TestClient, text: str, encoding: str
) -> None:
    """JSON's own rule (RFC 8259 §8.1, as Python reads it): UTF-8, -16 or -32 are detected and
    read; a legacy 8-bit encoding is not UTF-8, so it is malformed unless it happens to be ASCII."""
    assume(text.strip())
    doc = json.dumps({"source": "enc-test", "text": text}, ensure_ascii=False)
    try:
        raw = doc.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    resp = post_raw(api, raw)
    assert_clear(resp, 200, 202, 400)
    if resp.status_code < 300:
        assert_kept(api, resp)
    elif encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"):
        pytest.fail(f"valid {encoding} JSON refused: {resp.text}")


def test_body_over_the_limit_is_413_before_it_is_read(
    api: TestClient, real_limits: Settings
) -> None:
    limit = real_limits.max_body_bytes
    big = json.dumps({"source": "s", "html": "x" * limit}).encode()
    resp = post_raw(api, big)
    assert_clear(resp, 413)
    assert resp.json()["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the guard counts as it reads
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    chunked = api.post("/articles", content=chunks(), headers={"content-type": "application/json"})
    assert_clear(chunked, 413)
    # Under the limit, the largest article the model allows is accepted whole.
    near = {"source": "s", "html": "<p>" + "word " * 390_000 + "</p>"}
    ok = api.post("/articles", json=near)
    assert_clear(ok, 202)
    assert len(json.dumps(near)) > 1_900_000
    assert_kept(api, ok)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 422),
        (b"{}", 422),
        (b"[]", 422),
        (b"null", 422),
        (b'{"source": "s", "text": "   "}', 422),
        (b'{"source": "  ", "text": "body"}', 422),
        (b"{", 400),
        (b"\xef\xbb\xbf{", 400),
    ],
)
def test_empty_and_blank_bodies(api: TestClient, raw: bytes, status: int) -> None:
    assert_clear(post_raw(api, raw), status)


def test_wrong_content_type_is_415(api: TestClient) -> None:
    resp = post_raw(api, b'{"source": "s", "text": "t"}', "text/plain")
    assert_clear(resp, 415)
    assert resp.json()["field"] == "content-type"


def test_html_with_scripts_is_accepted_as_html(api: TestClient) -> None:
    html = "<html><script>alert('x')</script><p onclick='evil()'>The mayor opened the bridge.</p>"
    resp = api.post("/articles", json={"source": "web", "html": html, "title": "<b>Bridge</b>"})
    assert_clear(resp, 202)
    (article_id,) = assert_kept(api, resp)
    assert api.get(f"/articles/{article_id}").json()["status"] == "queued"


def test_batches_at_and_over_the_limit(api: TestClient, real_limits: Settings) -> None:
    limit = real_limits.max_batch_articles

    def batch(n: int, tag: str) -> list[dict[str, str]]:
        return [{"source": f"src-{i}", "text": f"{tag} item {i}"} for i in range(n)]

    over = api.post("/articles", json=batch(10_000, "many"))
    assert_clear(over, 422)
    assert f"at most {limit}" in over.json()["detail"]
    assert_clear(api.post("/articles", json=batch(limit + 1, "one-more")), 422)
    at = api.post("/articles", json=batch(limit, "exact"))
    assert_clear(at, 202)
    assert at.json()["accepted"] == limit
    assert len(set(assert_kept(api, at))) == limit


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_is_refused_not_a_recursion_error(api: TestClient, depth: int) -> None:
    assert_clear(post_raw(api, b"[" * depth + b"]" * depth), 400)
    inner = b'{"source": "s", "text": ' + b"[" * depth + b"]" * depth + b"}"
    assert_clear(post_raw(api, inner), 400)
    nested_obj = b'{"a":' * depth + b"1" + b"}" * depth
    assert_clear(post_raw(api, nested_obj), 400)
    # Shallow enough to parse: then it is simply the wrong type.
    assert_clear(post_raw(api, b'{"source": "s", "text": ' + b"[" * 50 + b"]" * 50 + b"}"), 422)


@given(first=st.text(min_size=1, max_size=40), second=st.text(min_size=1, max_size=40))
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_duplicate_id_first_write_wins(api: TestClient, first: str, second: str) -> None:
    assume(first.strip() and second.strip())
    article_id = f"dup-{abs(hash((first, second))) % 10**12}"
    # The id in the text keeps content de-duplication (same source + text) out of this test.
    one = {"id": article_id, "source": "a", "text": f"{first} {article_id}", "title": "first"}
    assert_clear(api.post("/articles", json=one), 200, 202)
    two = {"id": article_id, "source": "b", "text": f"{second} {article_id}", "title": "second"}
    again = api.post("/articles", json=two)
    assert_clear(again, 200)
    assert again.json() == {"id": article_id, "status": "queued", "existing": True}
    stored = api.get(f"/articles/{article_id}").json()
    assert (stored["source"], stored["title"]) == ("a", "first")


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(when=st.datetimes(timezones=st.none() | offsets))
@example(when=datetime(1900, 1, 1, tzinfo=UTC))
@example(when=datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC))
@example(when=datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC))
@example(when=datetime(2201, 1, 1, tzinfo=UTC))
@example(when=datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))))
@example(when=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_dates_from_1900_to_2200_are_accepted_and_others_refused(
    api: TestClient, when: datetime
) -> None:
    resp = api.post(
        "/articles",
        json={
            "source": "dates",
            "text": f"report dated {when.isoformat()}",
            "published_at": when.isoformat(),
        },
    )
    if 1900 <= when.year <= 2200:
        assert_clear(resp, 200, 202)
        (article_id,) = assert_kept(api, resp)
        stored = datetime.fromisoformat(api.get(f"/articles/{article_id}").json()["published_at"])
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        assert abs(stored - aware) < timedelta(milliseconds=1)
    else:
        assert_clear(resp, 422)
        assert resp.json()["field"] == "body.published_at"


def test_url_urllib_cannot_parse_is_a_422(api: TestClient) -> None:
    for url in ("http://[::1", "http://a\uff03b/x", "https://]bad/"):
        resp = api.post("/articles", json={"source": "s", "text": f"body for {url}", "url": url})
        assert_clear(resp, 422)
        assert resp.json()["field"] == "body.url"
