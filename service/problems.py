"""The one handler that turns domain errors (core.errors) and request validation into problem+json.

Code below the routes raises these classes, never HTTPException; clients always get RFC 9457
`application/problem+json` with `type`, `title`, `status`, `detail` and, where one is to blame,
the offending `field`.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import StoryfoldError
from core.records import DATE_TIME_PATTERN, HTTP_URL_PATTERN, ID_PATTERN, URL_PATTERN
from core.storage import STORAGE_UNAVAILABLE

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://storyfold.dev/problems/"


class ProblemError(BaseModel):
    field: str = Field(description="Where: `body[3].url`, `query.limit`, `path.story_id`")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details. Further members (`retry_after`) may appear."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem: " + TYPE_BASE + "<slug>")
    title: str = Field(description="The kind of problem, in words; the same for every instance")
    status: int = Field(ge=400, le=599, description="The HTTP status code, repeated")
    detail: str = Field(description="What went wrong this time, and how to fix it")
    field: str | None = Field(
        None, description="The input to blame: `body`, `body.url`, `query.limit`, `Authorization`"
    )
    errors: list[ProblemError] | None = Field(
        None, description="422: every invalid field, so a whole batch can be fixed at once"
    )


def problem_body(
    status: int,
    title: str,
    slug: str,
    detail: str,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The JSON of a problem; built through the model, so it cannot drift from the schema."""
    model = Problem.model_validate(
        {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
        | {"field": field, "errors": errors}
    )
    return {**model.model_dump(exclude_none=True), **extra}


def problem(
    status: int,
    title: str,
    slug: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, title, slug, detail, field, **extra)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    # ("body", 0, "text") -> "body[0].text"; the leading "body" says where the field lives.
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _is_union_tag(part: Any) -> bool:
    # pydantic names the branch of a union in the location ("list[ArticleIn]",
    # "function-after[_has_body(), ArticleIn]"); clients need the field, not the branch.
    return isinstance(part, str) and ("[" in part or part[:1].isupper())


def _branch_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Only the errors of the union branch that matches what was sent (an object or a list)."""
    raw = list(exc.errors())
    sent_list = isinstance(getattr(exc, "body", None), list)

    def is_list_branch(e: dict[str, Any]) -> bool:
        tags = [p for p in e.get("loc", ()) if _is_union_tag(p)]
        return bool(tags) and str(tags[0]).startswith("list[")

    chosen = [e for e in raw if is_list_branch(e) == sent_list]
    return chosen or raw


# What a pattern means, said in words: pydantic's message quotes the regular expression itself.
_PATTERN_WORDS = {
    HTTP_URL_PATTERN: "must be an absolute http(s) URL, its host in ASCII (IDN in punycode), "
    "with no white space or control character",
    URL_PATTERN: "must be an absolute http(s) URL, its host in ASCII (IDN in punycode)",
    DATE_TIME_PATTERN: "must be an RFC 3339 date-time (like 2026-01-02T15:04:05Z) between the "
    "years 1900 and 2200",
    ID_PATTERN: "must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter "
    "or digit",
}


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        if pattern in _PATTERN_WORDS:
            return _PATTERN_WORDS[pattern]
    if error.get("type") == "too_short" and not error.get("input"):
        # pydantic's "List should have at least 1 item after validation, not 0" for `[]`.
        return f"is empty: send at least {error.get('ctx', {}).get('min_length', 1)}"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": _field_path(tuple(p for p in e.get("loc", ()) if not _is_union_tag(p))),
            "message": _message(e),
        }
        for e in _branch_errors(exc)
    ]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        first = exc.errors()[0]
        return problem(
            400,
            "Malformed JSON",
            "malformed-json",
            f"The request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}",
            field="body",
        )
    # Several messages at once, so a client can fix a whole batch in one go.
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
    if len(errors) > 10:
        detail += f"; and {len(errors) - 10} more"
    return problem(
        422, "Invalid input", "invalid-input", detail, field=errors[0]["field"], errors=errors
    )


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StoryfoldError)
    async def _domain(_: Request, exc: StoryfoldError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.slug, exc.detail, exc.field, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc)

    async def _storage_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("storage.unavailable", error=f"{type(exc).__name__}: {exc}")
        return problem(
            503,
            "Service unavailable",
            "unavailable",
            "storage is unreachable; retry shortly",
            headers={"Retry-After": "1"},  # RFC 9110's place for it; the member, as before
            retry_after="1",
        )

    # Redis refused, went silent past redis_timeout_s, or a cluster is mid-failover: the
    # client's retry is the client's to make, not a 500.
    for unavailable in STORAGE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _storage_down)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug, not the client's fault: say so in the same shape, and keep the trace in the log.
        log.exception("api.unhandled_error", error=repr(exc))
        return problem(500, "Internal server error", "internal", "an unexpected error occurred")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework-level errors (unknown route, wrong method) get the same problem shape.
        if exc.status_code == 400 and request.method in ("POST", "PUT", "PATCH"):
            # FastAPI's own 400 for a body json.loads gave up on with something other than a
            # JSONDecodeError: not UTF-8/16/32, nested past the recursion limit, an integer
            # longer than Python converts. To the client it is malformed JSON like any other.
            return problem(
                400,
                "Malformed JSON",
                "malformed-json",
                "The request body is not valid JSON: not UTF-8, nested too deeply, "
                "or a number too long",
                field="body",
            )
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110: a 405 lists what the resource allows. Starlette names only the methods
            # of the first route that matched the path; a path served by several routes
            # (GET and POST /sources) allows all of theirs.
            headers["Allow"] = ", ".join(_allowed(request))
        return problem(exc.status_code, str(exc.detail), slug, str(exc.detail), headers=headers)


def _allowed(request: Request) -> list[str]:
    path = request.url.path
    methods: set[str] = set()
    for route in routing.iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and route.methods:
            methods |= route.methods
    return sorted(methods)
