"""Dependencies shared by the JSON and the HTML story routes: the feed, its query, and whether the
client asked for HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from core.errors import InvalidInput
from core.storage.feed import Feed, FeedQuery, Sort
from service.deps import SettingsDep


def _feed(request: Request) -> Feed:
    feed: Feed = request.app.state.feed
    return feed


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _feed_query(
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, description="Page size (bounded)")] = None,
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page, with the same filters")
    ] = None,
    sort: Annotated[
        Sort, Query(description="`updated`: latest change first; `size`: most articles first")
    ] = "updated",
    updated_after: Annotated[
        int | None,
        Query(ge=0, description="Only stories whose `seq` is above this (a page's `latest_seq`)"),
    ] = None,
    min_sources: Annotated[
        int | None, Query(ge=0, description="At least this many sources")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Words all found in headline or summary")
    ] = None,
    source: Annotated[
        str | None, Query(max_length=200, description="Has an article from this source")
    ] = None,
    published_after: Annotated[
        datetime | None, Query(description="Has an article published at or after (RFC 3339)")
    ] = None,
    published_before: Annotated[
        datetime | None, Query(description="Has an article published at or before (RFC 3339)")
    ] = None,
    include_merged: Annotated[
        bool, Query(description="Also stories merged into another (for clients that sync)")
    ] = False,
) -> FeedQuery:
    limit = limit or settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidInput(f"limit is at most {settings.page_limit_max}", field="limit")
    after, before = _utc(published_after), _utc(published_before)
    if after and before and after > before:
        raise InvalidInput(
            "published_after is later than published_before", field="published_after"
        )
    return FeedQuery(
        limit=limit,
        sort=sort,
        cursor=cursor or None,
        updated_after=updated_after,
        min_sources=min_sources,
        # A submitted empty form field means "no filter".
        q=(q or "").strip() or None,
        source=(source or "").strip() or None,
        published_after=after,
        published_before=before,
        include_merged=include_merged,
    )


def _media_q(accept: str, wanted: tuple[str, ...]) -> float:
    """The highest q the Accept header gives any of `wanted` (types or wildcards)."""
    best = 0.0
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if media.lower() not in wanted:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def _wants_html(request: Request) -> bool:
    """HTML only when the client names it (as browsers do) at least as gladly as JSON; `*/*`,
    no Accept header and everything else get JSON, the API's default."""
    accept = request.headers.get("accept", "")
    html = _media_q(accept, ("text/html", "application/xhtml+xml"))
    return html > 0 and html >= _media_q(accept, ("application/json", "application/*", "*/*"))


FeedDep = Annotated[Feed, Depends(_feed)]
FeedQueryDep = Annotated[FeedQuery, Depends(_feed_query)]
WantsHTML = Annotated[bool, Depends(_wants_html)]
