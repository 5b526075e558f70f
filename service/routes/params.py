"""Dependencies shared by the JSON and the HTML story routes: the feed, its query, and whether the
client asked for HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from core.errors import InvalidInput
from core.storage.feed import Feed, FeedQuery, Sort
from service.deps import SettingsDep
from service.openapi import bound_by_setting


def _feed(request: Request) -> Feed:
    feed: Feed = request.app.state.feed
    return feed


# RFC 3339 with its offset, ASCII digits only, year 0001 on: the pattern and `format: date-time`
# together are exactly what `_instant` parses, so the schema and the 422s agree.
RFC3339 = (
    r"^(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(?:0[1-9]|1[0-2])"
    r"-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _instant(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:  # the pattern passed; only the calendar (30 February) is left to refuse
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"not a date-time: {exc}", field=f"query.{field}") from None
    try:  # 0001-01-01T00:00:00+00:01 is a valid date-time whose UTC instant is before year 1
        return when.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("out of range once converted to UTC", field=f"query.{field}") from None


# The bound is a setting: the schema names it, service/openapi.py fills in the running value.
PageLimit = Query(
    ge=1,
    description="Page size, at most STORYFOLD_PAGE_LIMIT_MAX",
    json_schema_extra=bound_by_setting(maximum="page_limit_max"),
)


def _date_time(description: str) -> Any:
    return Query(
        pattern=RFC3339, description=description, json_schema_extra={"format": "date-time"}
    )


def _feed_query(
    settings: SettingsDep,
    limit: Annotated[int | None, PageLimit] = None,
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
        str | None, _date_time("Has an article published at or after (RFC 3339)")
    ] = None,
    published_before: Annotated[
        str | None, _date_time("Has an article published at or before (RFC 3339)")
    ] = None,
    include_merged: Annotated[
        bool, Query(description="Also stories merged into another (for clients that sync)")
    ] = False,
) -> FeedQuery:
    limit = limit or settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidInput(f"limit is at most {settings.page_limit_max}", field="limit")
    after = _instant(published_after, "published_after")
    before = _instant(published_before, "published_before")
    if after and before and after > before:  # a rule across two parameters: no schema states it
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
