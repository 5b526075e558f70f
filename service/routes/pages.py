"""The web reader: server-rendered pages (Jinja2, autoescaped), no JavaScript needed.

`/` is the feed page; `/stories` and `/stories/{id}` answer the same pages to browsers (see
routes/stories.py), so every story has one URL for people and programs. Everything that comes
from articles (titles, sources, sentences, URLs) is escaped by the template engine; article links
are only emitted for http(s) URLs, which the API already enforces on input.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.records import ArticleRef, StoryOut, StoryPage
from core.storage.feed import CursorExpired, Feed, FeedQuery
from core.summary import Claim, Summary
from service.auth import ReadAccess
from service.routes.params import FeedDep, FeedQueryDep

VERSIONS_SHOWN = 20  # the page lists this many; the JSON endpoint pages through all of them

router = APIRouter(include_in_schema=False, dependencies=[ReadAccess])


def _when(value: datetime | None) -> str:
    return f"{value.day} {value:%b %Y, %H:%M} UTC" if value else ""


_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
templates = Jinja2Templates(env=_env)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, feed: FeedDep, query: FeedQueryDep) -> HTMLResponse:
    """The feed page."""
    return listing(request, feed, query)


def listing(request: Request, feed: Feed, query: FeedQuery) -> HTMLResponse:
    """The feed page, or, for a reader whose `sort=size` listing expired while they read (its
    cursor answers 410), a page that says so with a link to the first page: not problem JSON."""
    try:
        page = feed.page(query)
    except CursorExpired as exc:
        first = request.url.remove_query_params("cursor")
        response = templates.TemplateResponse(
            request, "expired.html", {"detail": exc.detail, "first_page": str(first)},
            status_code=410,
        )
        response.headers["Vary"] = "Accept"
        return response
    return feed_page(request, query, page)


def _page_url(query: FeedQuery, cursor: str | None) -> str:
    """The feed page with the same filters (a cursor is only valid with them) at `cursor`."""
    params = {
        "q": query.q,
        "source": query.source,
        "sort": query.sort if query.sort != "updated" else None,
        "min_sources": query.min_sources,
        "updated_after": query.updated_after,
        "published_after": query.published_after and query.published_after.isoformat(),
        "published_before": query.published_before and query.published_before.isoformat(),
        "include_merged": "true" if query.include_merged else None,
        "limit": query.limit,
        "cursor": cursor,
    }
    kept = {k: v for k, v in params.items() if v is not None}
    return "/" + ("?" + urlencode(kept) if kept else "")


def feed_page(request: Request, query: FeedQuery, page: StoryPage) -> HTMLResponse:
    context = {
        "page": page,
        "query": query,
        "next_url": _page_url(query, page.next_cursor) if page.next_cursor else None,
        "first_url": _page_url(query, None) if query.cursor else None,
    }
    response = templates.TemplateResponse(request, "feed.html", context)
    response.headers["Vary"] = "Accept"
    return response


def story_page(request: Request, story: StoryOut, versions: list[Summary]) -> HTMLResponse:
    context = {"story": story, "view": story_view(story), "versions": versions}
    response = templates.TemplateResponse(request, "story.html", context)
    response.headers["Vary"] = "Accept"
    return response


def missing_page(request: Request, detail: str) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, "missing.html", {"detail": detail}, status_code=404
    )
    response.headers["Vary"] = "Accept"
    return response


# -- the story page's view: sources as links, duplicates under their original, conflict sides -----
def _href(article: ArticleRef) -> str:
    return article.url or f"#article-{article.id}"


def story_view(story: StoryOut) -> dict[str, Any]:
    by_id = {a.id: a for a in story.articles}
    # A source's first original article stands for it where a fact names no article of its own.
    first: dict[str, ArticleRef] = {}
    for article in sorted(story.articles, key=lambda a: a.duplicate_of is not None):
        first.setdefault(article.source, article)

    def link(source: str, article_ids: list[str]) -> dict[str, str]:
        named = [by_id[i] for i in article_ids if i in by_id and by_id[i].source == source]
        article = named[0] if named else first.get(source)
        return {"source": source, "href": _href(article) if article else ""}

    summary = story.summary or Summary(headline=story.headline)
    consensus = [
        {
            "text": fact.text,
            "sources": [link(s, fact.article_ids) for s in fact.sources],
            # Outlets reporting the fact with other details, in their own words (not cited above).
            "variants": [
                {"text": v.text, **link(v.source, [v.article_id])} for v in fact.variants
            ],
        }
        for fact in summary.consensus
    ]
    unique = [
        {
            **link(entry.source, []),
            "facts": [{"text": f.text, **link(entry.source, [f.article_id])} for f in entry.facts],
        }
        for entry in summary.unique
        if entry.facts
    ]
    conflicts = [{"about": c.about, "sides": _sides(c.claims, link)} for c in summary.conflicts]
    return {
        "consensus": consensus,
        "unique": unique,
        "conflicts": conflicts,
        "articles": _folded(story.articles),
    }


def _sides(claims: list[Claim], link: Any) -> list[dict[str, Any]]:
    """Claims grouped into the positions that contradict each other: by the summariser's `side`
    where it set one, else by value. Each position is one column on the page."""
    use_side = any(c.side for c in claims)
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for claim in claims:
        key = claim.side if use_side else claim.value.casefold()
        groups[key].append(
            {**link(claim.source, [claim.article_id]), "value": claim.value, "text": claim.text}
        )
    return [
        {"values": list(dict.fromkeys(c["value"] for c in group)), "claims": group}
        for group in groups.values()
    ]


def _folded(articles: list[ArticleRef]) -> list[dict[str, Any]]:
    """Originals in publication order, each with the near-duplicates of it folded underneath."""
    ids = {a.id for a in articles}
    copies: dict[str, list[ArticleRef]] = defaultdict(list)
    for article in articles:
        if article.duplicate_of in ids:
            copies[str(article.duplicate_of)].append(article)
    return [
        {
            "article": a,
            "href": _href(a),
            "copies": [{"article": c, "href": _href(c)} for c in copies[a.id]],
        }
        for a in articles
        if a.duplicate_of not in ids
    ]
