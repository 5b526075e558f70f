"""The story feed, single stories and their summary history. JSON unless the client asks for HTML
(`Accept: text/html`, as browsers do): then the same URL is the web reader's page (routes/pages.py).

A story merged into another keeps its URL: JSON answers 200 with the old story, whose
`merged_into` names the successor (a client sees the link rather than being moved silently); a
browser is redirected (308) to the successor's page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from core.cursors import decode_index_cursor, encode_index_cursor
from core.errors import InvalidInput, NotFound
from core.records import StoryOut, StoryPage, VersionPage
from service.auth import ReadAccess
from service.deps import SettingsDep, StoriesDep
from service.openapi import PROBLEM_REF, problem_responses
from service.problems import PROBLEM_JSON
from service.routes import pages
from service.routes.params import FeedDep, FeedQueryDep, PageLimit, WantsHTML

router = APIRouter(tags=["stories"], dependencies=[ReadAccess])

StoryId = Annotated[str, Path(max_length=64)]
HTML_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "JSON, or HTML for browsers"}
}


@router.get(
    "/stories",
    response_model=StoryPage,
    responses={
        **HTML_TOO,
        **problem_responses(410, e410="sort=size: this traversal's snapshot expired; start over"),
    },
)
def list_stories(
    request: Request, feed: FeedDep, query: FeedQueryDep, html: WantsHTML, response: Response
) -> StoryPage | Response:
    """Stories, latest change first (or `sort=size`), a page at a time.

    Follow `next_cursor` (with the same filters) until `has_more` is false; stories changed while
    you paged are then `?updated_after=<latest_seq>`. Nothing is skipped or repeated."""
    if html:
        return pages.listing(request, feed, query)
    page = feed.page(query)
    response.headers["Vary"] = "Accept"
    return page


@router.get(
    "/stories/{story_id}",
    response_model=StoryOut,
    responses={
        **HTML_TOO,
        308: {"description": "Browsers: the story was merged into another"},
        404: {
            "description": "No story has this id (browsers get a page with a way back)",
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}, "text/html": {}},
        },
    },
)
def get_story(
    request: Request, story_id: StoryId, stories: StoriesDep, html: WantsHTML, response: Response
) -> StoryOut | Response:
    """One story: its articles and its cited summary. A merged story answers with `merged_into`."""
    try:
        story = stories.story(story_id)
    except NotFound as exc:
        if html:  # a person gets a page with a way back, a program the problem+json
            return pages.missing_page(request, exc.detail)
        raise
    if not html:
        response.headers["Vary"] = "Accept"
        return story
    if story.merged_into:
        # Permanent redirects are cached: a program asking the same URL for JSON must not get it.
        return RedirectResponse(
            f"/stories/{story.merged_into}", status_code=308, headers={"Vary": "Accept"}
        )
    versions, _ = stories.versions(story_id, None, pages.VERSIONS_SHOWN)
    return pages.story_page(request, story, versions)


@router.get(
    "/stories/{story_id}/versions",
    response_model=VersionPage,
    responses=problem_responses(404, e404="No story has this id"),
)
def story_versions(
    story_id: StoryId,
    stories: StoriesDep,
    settings: SettingsDep,
    limit: Annotated[int | None, PageLimit] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> VersionPage:
    """Every summary the story has had, newest first."""
    limit = limit or settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidInput(f"limit is at most {settings.page_limit_max}", field="limit")
    before = decode_index_cursor(cursor) if cursor else None
    versions, below = stories.versions(story_id, before, limit)
    return VersionPage(
        story_id=story_id,
        versions=versions,
        next_cursor=encode_index_cursor(below) if below is not None else None,
        has_more=below is not None,
    )
