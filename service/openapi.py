"""The OpenAPI description, completed with what the HTTP edge adds to every route.

FastAPI describes what a handler returns. The edge answers more than that, for every route alike:
problem+json errors from the one handler in problems.py (422 for invalid input, 503 when storage
is down), the body guard's 400/413/415, and 401 where a key is needed. Those are declared here,
once, from what each route is (has a body? parameters? an access dependency?), so a route added
later is described correctly without declaring them itself. Routes declare only their own codes
(404 for an unknown id) with `problem_responses`.

Security follows the settings the app runs with: no STORYFOLD_API_KEYS, no operation needs a key
and none claims to; with keys, writes need one, and reads too when STORYFOLD_READ_KEYS_REQUIRED.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from core.config import Settings
from service.auth import ReadAccess, WriteAccess
from service.problems import PROBLEM_JSON, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SCHEME = "HTTPBearer"  # the name FastAPI gives the bearer scheme in service/auth.py

# What the edge itself may answer, and when it does.
_EDGE = {
    400: "Malformed JSON: the body does not parse (not UTF-8/16/32, nested too deeply)",
    401: "An API key is needed: none was sent, or it is not one of STORYFOLD_API_KEYS",
    413: "The body is larger than STORYFOLD_MAX_BODY_BYTES",
    415: "The body is not sent as application/json",
    422: "Invalid input: `field` names the first offender, `errors` lists every one",
    503: "Storage is unreachable; retry shortly",
}


def problem_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for a route's own error codes, as problem+json.

    `descriptions` are keyed `e404=...` (a keyword cannot be a number)."""
    return {
        code: {
            "description": descriptions.get(f"e{code}", _EDGE.get(code, "Error")),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
        for code in codes
    }


SETTING = "x-storyfold-setting"


def bound_by_setting(**keywords: str) -> dict[str, Any]:
    """`json_schema_extra` for a bound that is a setting: `maximum="page_limit_max"` becomes
    `maximum: <the running value>` in the published schema (and the setting stays named)."""
    return {SETTING: keywords}


def _fill_settings(node: Any, settings: Settings) -> None:
    if isinstance(node, dict):
        for keyword, name in node.get(SETTING, {}).items():
            node[keyword] = getattr(settings, name)
        for value in node.values():
            _fill_settings(value, settings)
    elif isinstance(node, list):
        for value in node:
            _fill_settings(value, settings)


def install_openapi(app: FastAPI, settings: Settings) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: dict[int, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        # FastAPI caches its part and rebuilds it when routes change; so does this.
        base = generate()
        if id(base) not in done:
            done.clear()
            done[id(base)] = _complete(app, settings, copy.deepcopy(base))
        return done[id(base)]

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(app: FastAPI, settings: Settings, spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    # FastAPI's own 422 shape is never sent: the handler answers a Problem instead.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    secured = False
    # Route contexts, as FastAPI's own generator reads them: routes of included routers with
    # the router's dependencies (ReadAccess on a whole router) merged in.
    for route in routing.iter_route_contexts(app.routes):
        if not isinstance(route.original_route, routing.APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = spec["paths"][route.path_format][method.lower()]
            secured |= _describe(route, operation, settings)
    if not secured:
        spec["components"].pop("securitySchemes", None)
    _fill_settings(spec, settings)
    return spec


def _calls(dependant: Dependant) -> set[Any]:
    """Every dependency a route runs, however deeply nested."""
    found: set[Any] = set()
    for dep in dependant.dependencies:
        found |= {dep.call} | _calls(dep)
    return found


def _needs_key(route: routing.RouteContext, settings: Settings) -> bool:
    if not settings.api_keys:
        return False
    calls = _calls(route.dependant)
    if WriteAccess.dependency in calls:
        return True
    return settings.read_keys_required and ReadAccess.dependency in calls


def _describe(route: routing.RouteContext, operation: dict[str, Any], settings: Settings) -> bool:
    """Declare the edge's answers on one operation; True when it needs a key."""
    for parameter in operation.get("parameters", []):
        _not_nullable(parameter["schema"])
    responses: dict[str, Any] = operation.setdefault("responses", {})
    codes: set[int] = set()
    if operation.get("parameters") or route.body_field is not None:
        codes.add(422)
    if route.body_field is not None:
        codes |= {400, 413, 415}
        body = operation["requestBody"]
        body["description"] = (
            f"At most {settings.max_body_bytes} bytes (STORYFOLD_MAX_BODY_BYTES): a larger "
            "body is refused with 413 before it is read, whatever it holds. "
            + body.get("description", "")
        ).strip()
    if route.dependant.dependencies:  # it reaches storage (healthz has no dependency)
        codes.add(503)
    needs_key = _needs_key(route, settings)
    if needs_key:
        codes.add(401)
        operation["security"] = [{SCHEME: []}]
    else:
        operation.pop("security", None)
        responses.pop("401", None)
    for edge in sorted(codes):
        responses.setdefault(str(edge), {"description": _EDGE[edge]})
    if responses.get("422", {}).get("description") == "Validation Error":  # FastAPI's words
        responses["422"]["description"] = _EDGE[422]
    for code, response in responses.items():
        if code[0] in "45":
            _as_problem(response)
    return needs_key


def _not_nullable(schema: dict[str, Any]) -> None:
    """`str | None = None` is an optional parameter, not one whose value may be null: a query
    string or a header has no null (a client sending `null` sends the text "null")."""
    branches = schema.get("anyOf", [])
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) == 1 and len(branches) == 2:
        del schema["anyOf"]
        schema.update(kept[0])


def _as_problem(response: dict[str, Any]) -> None:
    """Errors are problem+json. A route that declared a JSON schema of its own for an error
    (readyz's 503) keeps it; FastAPI's default 422 schema is replaced; other media types a route
    declared (the HTML page of a missing story) stay beside it."""
    content: dict[str, Any] = response.setdefault("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    if "application/json" in content and not ref.endswith(("/HTTPValidationError", "/Problem")):
        return
    content.pop("application/json", None)
    content.setdefault(PROBLEM_JSON, {"schema": PROBLEM_REF})
