"""Followed feeds: POST /sources, GET /sources, GET/DELETE /sources/{id}. The workers poll them
(workers/sources/poll.py); this edge only records what to follow and reports how polling goes.

A URL that is not http(s) or resolves to a non-public address is refused here (422, saying why;
core/netguard.py); the worker checks again on every fetch and redirect, and reports a refusal
then (a name that resolves elsewhere later) as `last_outcome: blocked` in GET /sources/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from core.config import Settings
from core.errors import InvalidInput
from core.netguard import Blocked, FetchError, guard, policy_of
from core.storage.sources import SourceIn, SourceList, SourceOut, Sources
from service.auth import ReadAccess, WriteAccess
from service.deps import SettingsDep
from service.openapi import problem_responses

router = APIRouter(tags=["sources"])

SourceId = Annotated[str, Path(max_length=64)]


def _sources(request: Request) -> Sources:
    sources: Sources = request.app.state.sources
    return sources


def refuse_private(url: str, settings: Settings) -> None:
    """422 for a URL the SSRF guard refuses; a name that does not resolve now passes (the worker
    reports it when it polls)."""
    try:
        guard(url, policy_of(settings))
    except Blocked as exc:
        raise InvalidInput(exc.detail, field="url") from None
    except FetchError:
        pass


@router.post(
    "/sources",
    dependencies=[WriteAccess],
    status_code=status.HTTP_201_CREATED,
    response_model=SourceOut,
    responses={200: {"description": "Already followed: that source", "model": SourceOut}},
)
def follow(
    body: SourceIn, request: Request, settings: SettingsDep, response: Response
) -> SourceOut:
    """Follow an RSS, Atom or JSON feed: workers poll it and post each new entry as an article."""
    refuse_private(body.url, settings)
    poll = max(body.poll_seconds or settings.source_poll_seconds, settings.source_min_poll_seconds)
    source, existing = _sources(request).add(body, poll)
    response.headers["Location"] = f"/sources/{source.id}"
    if existing:
        response.status_code = status.HTTP_200_OK
    return source


@router.get("/sources", response_model=SourceList, dependencies=[ReadAccess])
def list_sources(request: Request) -> SourceList:
    """Every followed feed with its last poll's report and its next poll time."""
    return SourceList(sources=_sources(request).all())


@router.get(
    "/sources/{source_id}",
    response_model=SourceOut,
    dependencies=[ReadAccess],
    responses=problem_responses(404, e404="No followed feed has this id"),
)
def get_source(source_id: SourceId, request: Request) -> SourceOut:
    """One feed: last poll time, HTTP status, outcome and error, items seen/new/failed, next poll."""
    return _sources(request).get(source_id)


@router.delete(
    "/sources/{source_id}",
    dependencies=[WriteAccess],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404, e404="No followed feed has this id"),
)
def unfollow(source_id: SourceId, request: Request) -> Response:
    """Stop following a feed (articles it brought stay)."""
    _sources(request).delete(source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
