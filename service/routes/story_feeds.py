"""Stories out where readers already are: GET /stories.atom, /stories.rss, /stories.json (JSON
Feed 1.1) with /stories' filters, and GET /stories/{id}/changes?since=VERSION (a fact-level diff
between two summary versions, core.summary_diff)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from core.storage.story_feeds import FeedItem, StoryFeedItems
from core.summary_diff import SummaryChanges
from service.auth import ReadAccess
from service.deps import StoriesDep
from service.openapi import problem_responses
from service.routes import feed_render
from service.routes.params import FeedDep, FeedQueryDep

router = APIRouter(tags=["feeds"], dependencies=[ReadAccess])

StoryId = Annotated[str, Path(max_length=64)]


def _items(feed: FeedDep, query: FeedQueryDep, stories: StoriesDep) -> list[FeedItem]:
    """The same stories as GET /stories with the same query, as feed items."""
    cards = feed.page(query).stories
    return StoryFeedItems(stories).items(cards)


Items = Annotated[list[FeedItem], Depends(_items)]


def _urls(request: Request) -> tuple[str, str]:
    return str(request.base_url).rstrip("/"), str(request.url)


def _xml(kind: str) -> dict[int | str, dict[str, Any]]:
    """A feed's documented answers: the document, or /stories' own 410 (the feeds take its
    query, `sort=size` cursors included)."""
    return {
        200: {"content": {kind: {}}, "description": "The feed document"},
        **problem_responses(410, e410="sort=size: this traversal's snapshot expired; start over"),
    }


@router.get("/stories.atom", response_class=Response, responses=_xml("application/atom+xml"))
def stories_atom(request: Request, items: Items) -> Response:
    """Stories as an Atom 1.0 feed (same filters as /stories); an entry is updated when its
    summary changes materially."""
    text = feed_render.atom(items, *_urls(request))
    return Response(text, media_type="application/atom+xml; charset=utf-8")


@router.get("/stories.rss", response_class=Response, responses=_xml("application/rss+xml"))
def stories_rss(request: Request, items: Items) -> Response:
    """Stories as an RSS 2.0 feed (same filters as /stories)."""
    text = feed_render.rss(items, *_urls(request))
    return Response(text, media_type="application/rss+xml; charset=utf-8")


@router.get("/stories.json", response_model=None, responses=_xml("application/feed+json"))
def stories_json(request: Request, items: Items) -> Response:
    """Stories as a JSON Feed 1.1 (same filters as /stories); `_storyfold.changes` per item."""
    body = feed_render.json_feed(items, *_urls(request))
    return JSONResponse(body, media_type="application/feed+json")


@router.get(
    "/stories/{story_id}/changes",
    response_model=SummaryChanges,
    responses=problem_responses(404, e404="No story has this id, or no summary this version"),
)
def story_changes(
    story_id: StoryId,
    stories: StoriesDep,
    since: Annotated[int, Query(ge=0, description="Summary version to compare from (0: none)")],
    version: Annotated[
        int | None, Query(ge=0, description="Summary version to compare to (default: latest)")
    ] = None,
) -> SummaryChanges:
    """Facts added and dropped, outlets added, conflicts opened and resolved between two summary
    versions of a story."""
    return StoryFeedItems(stories).changes(story_id, since, version)
