"""The OpenAPI description is the contract: schemathesis, with every check it has, finds nothing.

The app runs as it runs in production: uvicorn on a loopback port, the real middleware (body
limit, ETag), the real Redis. A live server rather than schemathesis' ASGI transport because
part of the contract lives below the app: how the server answers a method no route declares
(TRACE), a body sent with or without Content-Length, header bytes that only a real HTTP parser
sees; and every finding then reproduces with the curl command schemathesis prints.

Twice: with no API keys (every operation open, so the schema declares no security), and with
keys and STORYFOLD_READ_KEYS_REQUIRED (every operation but the health checks needs one, and the
schema says so). Operations come from `/openapi.json` itself, so a route added later is tested
the moment it is in the schema; there is no list of endpoints here.

Per configuration, as `schemathesis run --checks all` does: each operation alone (its examples,
the coverage phase's boundary values and wrong methods, EXAMPLES fuzzed requests), then linked
sequences (the stateful phase). Bounded: a fixed seed, derandomized, no example database, a
fixed number of examples. Measured: 1,222 requests (keys off) and 1,290 (keys on) over the 21
operations of the time (22 now), 85 s for both on a 2-core machine shared with a load of 15.
"""

from __future__ import annotations

import collections
import copy
import functools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import hypothesis
import jsonschema_rs
import pytest
import redis
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from live_server import live_server
from schemathesis.checks import CheckFunction
from schemathesis.core import NOT_SET
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from core.config import Settings
from service.app import create_app

KEY = "contract-test-key"
SEED = 20261206
EXAMPLES = 25  # per operation, for the fuzzing phase; examples and coverage cases come on top


def _config(**auth: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "auth": auth,
            "seed": SEED,
            "request-timeout": 10,
            "checks": {"enabled": True},
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        }
    )


OPEN = Settings(_env_file=None)
KEYED = Settings(_env_file=None, api_keys=[KEY], read_keys_required=True)


OPEN_SPEC = create_app(OPEN).openapi()
KEYED_SPEC = create_app(KEYED).openapi()
_SPECS = {id(OPEN_SPEC): OPEN_SPEC, id(KEYED_SPEC): KEYED_SPEC}
# Copies: schemathesis rewrites the dict it loads; the originals stay the published schema.
open_schema = schemathesis.openapi.from_dict(copy.deepcopy(OPEN_SPEC), config=_config())
# The key goes where the schema asks for one; the checks that leave it out (or send a wrong one)
# still can: a header added to every call would undo them.
keyed_schema = schemathesis.openapi.from_dict(
    copy.deepcopy(KEYED_SPEC), config=_config(openapi={"HTTPBearer": {"bearer": KEY}})
)


def _serve(settings: Settings, redis_url: str) -> Iterator[str]:
    redis.Redis.from_url(redis_url).flushdb()
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    with live_server(app) as url:
        # What is tested is what the running server publishes.
        assert requests.get(f"{url}/openapi.json", timeout=10).json() == app.openapi()
        yield url


@pytest.fixture(scope="module")
def open_server(redis_url: str) -> Iterator[str]:
    yield from _serve(OPEN, redis_url)


@pytest.fixture(scope="module")
def keyed_server(redis_url: str) -> Iterator[str]:
    yield from _serve(KEYED, redis_url)


FUZZ = hypothesis.settings(deadline=None, suppress_health_check=list(HealthCheck))


def _foreseeable_refusal(case: schemathesis.Case[Any], response: schemathesis.Response) -> bool:
    """A refusal no JSON Schema can foresee, for a request the schema calls valid (or invalid
    in some other way): a body over STORYFOLD_MAX_BODY_BYTES (413, whatever it holds; the schema
    documents the limit in words), a `cursor` this server never issued (422 naming `cursor`:
    cursors are opaque), or `published_after` later than `published_before` (422: a rule across
    two parameters), or a source or webhook URL whose host resolves to a non-public address
    (422 naming `url`: the SSRF guard decides by resolving, which no schema can say). Each is
    checked to be what it claims; nothing else is excused."""
    if response.status_code == 413:
        sent = response.request.body
        size = len(sent) if isinstance(sent, bytes | str) else 0
        assert size > OPEN.max_body_bytes, f"413 for a {size}-byte body"
        return True
    if response.status_code != 422:
        return False
    query, field = case.query or {}, response.json().get("field")
    if field == "cursor":
        assert query.get("cursor"), query
        return True
    if field == "url" and "non-public" in response.json().get("detail", ""):
        body = case.body if isinstance(case.body, dict) else {}
        assert body.get("url"), body
        return True
    if field == "published_after":
        after, before = (query.get(f"published_{end}") for end in ("after", "before"))
        assert after and before and _instant(after) > _instant(before), query
        return True
    return False


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _streams(case: schemathesis.Case[Any]) -> bool:
    """An operation that answers an event stream: it stays open until the client leaves."""
    responses = case.operation.definition.raw.get("responses", {})
    return any("text/event-stream" in r.get("content", {}) for r in responses.values())


@functools.cache
def _body_validator(spec_id: int, label: str) -> jsonschema_rs.Validator | None:
    spec = _SPECS[spec_id]
    method, path = label.split(" ", 1)
    body = spec["paths"][path][method.lower()].get("requestBody")
    if body is None or "application/json" not in body["content"]:
        return None
    schema = body["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for({"components": spec["components"], **schema})


def _mislabelled_positive(case: schemathesis.Case[Any], spec: dict[str, Any]) -> bool:
    """A case schemathesis generated as valid whose body the schema in fact refuses.

    Its coverage phase assembles an array item from values each valid on its own, and so can
    miss a rule that spans properties (ArticleIn's `anyOf`: text or html non-blank). Such a
    request is judged as what the schema makes it: invalid, so it must be refused."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return False
    if case.body is NOT_SET or not isinstance(case.body, dict | list):
        return False
    validator = _body_validator(id(spec), case.operation.label)
    return validator is not None and not validator.is_valid(case.body)


# Requests sent per configuration and operation, printed at the end (`-s`): a run that sends
# next to nothing should be visible.
SENT: collections.Counter[tuple[str, str]] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_sent() -> Iterator[None]:
    yield
    for config in ("open", "keyed"):
        mine = {op: n for (c, op), n in SENT.items() if c == config}
        alone = {op: n for op, n in mine.items() if not op.startswith("links: ")}
        linked = sum(mine.values()) - sum(alone.values())
        print(
            f"\n{config}: {sum(alone.values())} requests to {len(alone)} operations, {linked} linked"
        )


STREAM_READ_S = 0.5  # a stream is read this long, then cut (schemathesis validates what arrived)


def _call(case: schemathesis.Case[Any], base_url: str, **kwargs: Any) -> schemathesis.Response:
    """The case's request. A stream's short read timeout also bounds the wait for its headers,
    which a loaded 2-core machine has missed (no answer within 0.5 s): that wait alone is
    retried, longer. Silence after the headers never raises (schemathesis ends the read)."""
    if not _streams(case):
        return case.call(base_url=base_url, timeout=10, **kwargs)
    try:
        return case.call(base_url=base_url, timeout=STREAM_READ_S, **kwargs)
    except requests.exceptions.ReadTimeout:
        return case.call(base_url=base_url, timeout=(10, 5), **kwargs)


def _call_and_validate(
    case: schemathesis.Case[Any], spec: dict[str, Any], base_url: str, **kwargs: Any
) -> None:
    SENT["open" if spec is OPEN_SPEC else "keyed", case.operation.label] += 1
    response = _call(case, base_url, **kwargs)
    excluded: list[CheckFunction] = []
    if _foreseeable_refusal(case, response):
        excluded = [positive_data_acceptance, negative_data_rejection]
    elif _mislabelled_positive(case, spec):
        excluded = [positive_data_acceptance]
        assert 400 <= response.status_code < 500, (response.status_code, case.body)
    case.validate_response(response, excluded_checks=excluded, **kwargs)


@open_schema.parametrize()
@FUZZ
def test_open_api_keeps_the_contract(case: schemathesis.Case[Any], open_server: str) -> None:
    _call_and_validate(case, OPEN_SPEC, open_server)


@keyed_schema.parametrize()
@FUZZ
def test_keyed_api_keeps_the_contract(case: schemathesis.Case[Any], keyed_server: str) -> None:
    _call_and_validate(case, KEYED_SPEC, keyed_server)


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The schema a `$ref` (or `X | None`'s anyOf) stands for."""
    if "anyOf" in node:
        (node,) = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
    if "$ref" in node:
        found: dict[str, Any] = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        return found
    return node


def test_the_schema_describes_the_summary(client: TestClient) -> None:
    """A client generated from /openapi.json gets the summary typed down to each fact."""
    spec = client.get("/openapi.json").json()
    story = spec["components"]["schemas"]["StoryOut"]
    summary = _resolve(spec, story["properties"]["summary"])
    items = {
        name: _resolve(spec, summary["properties"][name]["items"])
        for name in ("consensus", "unique", "conflicts")
    }
    assert summary["required"] == ["headline"]
    assert set(items["consensus"]["properties"]) >= {"text", "sources", "support", "article_ids"}
    facts = _resolve(spec, items["unique"]["properties"]["facts"]["items"])
    assert set(items["unique"]["properties"]) == {"source", "facts"}
    assert set(facts["properties"]) >= {"text", "article_id", "score"}
    claims = _resolve(spec, items["conflicts"]["properties"]["claims"]["items"])
    assert set(items["conflicts"]["properties"]) == {"about", "claims"}
    assert set(claims["properties"]) >= {"source", "value", "text", "article_id", "side"}
    # The history endpoint returns the same Summary, not an untyped object.
    versions = spec["components"]["schemas"]["VersionPage"]["properties"]["versions"]
    assert _resolve(spec, versions["items"]) == summary


def test_problem_is_a_component_every_error_uses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"field", "errors"} <= set(problem["properties"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code[0] in "45" and "application/json" not in response.get("content", {}):
                    content = response["content"]["application/problem+json"]
                    assert content["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                        method,
                        path,
                        code,
                    )


def _linked(schema: Any, base_url: str, redis_url: str) -> None:
    """Sequences along the links schemathesis infers (POST /articles, then GET the article it
    returned; a story, then its versions), every check on every step.

    Every sequence starts from an empty database: links resolve to ids, or to nothing, by what
    earlier sequences stored, and hypothesis refuses a replay whose shape depends on such
    outside state (FlakyStrategyDefinition)."""
    store = redis.Redis.from_url(redis_url)

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            store.flushdb()

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            SENT[
                "open" if schema is open_schema else "keyed", "links: " + case.operation.label
            ] += 1
            return {"base_url": base_url}

        def call(self, case: schemathesis.Case[Any], **kwargs: Any) -> schemathesis.Response:
            return _call(case, **kwargs)

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case[Any], **kwargs: Any
        ) -> None:
            # The same excuses as the single calls, each checked in _foreseeable_refusal.
            if _foreseeable_refusal(case, response):
                excluded = [positive_data_acceptance, negative_data_rejection]
                case.validate_response(response, excluded_checks=excluded)
                return
            super().validate_response(response, case, **kwargs)

    Machine.run(
        settings=hypothesis.settings(
            max_examples=EXAMPLES,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_open_api_links_keep_the_contract(open_server: str, redis_url: str) -> None:
    _linked(open_schema, open_server, redis_url)


def test_keyed_api_links_keep_the_contract(keyed_server: str, redis_url: str) -> None:
    _linked(keyed_schema, keyed_server, redis_url)
