"""Story feeds as Atom 1.0, RSS 2.0 and JSON Feed 1.1 documents. Pure: items in, text out.

One item per story; its id is the story's URL (stable), its updated time the last material change
of its summary (core.storage.story_feeds). Content: the headline, the consensus facts with the
outlets citing each, conflicts, what changed since the item was last updated, and a link to the
story page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from core.storage.story_feeds import FeedItem
from core.summary_diff import outlets

_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _x(text: str) -> str:
    return xml_escape(_NOT_XML.sub(" ", text))


def _a(text: str) -> str:
    return quoteattr(_NOT_XML.sub(" ", text))


def content_html(item: FeedItem, story_url: str) -> str:
    parts: list[str] = []
    summary, changes = item.summary, item.changes
    if changes is not None and (
        changes.facts_added or changes.outlets_added or changes.conflicts_opened
    ):
        new: list[str] = []
        if changes.outlets_added:
            new.append(f"<li>New outlets: {escape(', '.join(changes.outlets_added))}</li>")
        new += [f"<li>New: {escape(t)}</li>" for t in changes.facts_added[:10]]
        new += [f"<li>New conflict: {escape(t)}</li>" for t in changes.conflicts_opened]
        new += [f"<li>Resolved: {escape(t)}</li>" for t in changes.conflicts_resolved]
        parts.append(
            f"<p><strong>What changed (version {changes.version})</strong></p><ul>{''.join(new)}</ul>"
        )
    if summary is not None and summary.consensus:
        facts = "".join(
            f"<li>{escape(f.text)} <em>({escape(', '.join(f.sources))})</em></li>"
            for f in summary.consensus
        )
        parts.append(f"<p><strong>What the outlets agree on</strong></p><ul>{facts}</ul>")
    if summary is not None and summary.conflicts:
        rows = "".join(
            "<li>"
            + escape(c.about)
            + ": "
            + escape("; ".join(f"{k.source}: {k.value}" for k in c.claims))
            + "</li>"
            for c in summary.conflicts
        )
        parts.append(f"<p><strong>Where they differ</strong></p><ul>{rows}</ul>")
    # Only what the shown version says: the item must not change between material changes.
    names = sorted(outlets(summary))
    reported = f"Reported by {', '.join(names)}. " if names else ""
    parts.append(f'<p>{escape(reported)}<a href="{escape(story_url)}">Read the story</a></p>')
    return "".join(parts)


def _headline(item: FeedItem) -> str:
    return (item.summary.headline if item.summary else item.card.headline) or item.card.id


def atom(items: list[FeedItem], base: str, self_url: str) -> str:
    updated = max((i.updated_at for i in items), default=EPOCH)
    entries = []
    for item in items:
        url = f"{base}/stories/{item.card.id}"
        entries.append(
            "<entry>"
            f"<id>{_x(url)}</id><title>{_x(_headline(item))}</title>"
            f'<link rel="alternate" type="text/html" href={_a(url)}/>'
            f"<published>{item.card.created_at.isoformat()}</published>"
            f"<updated>{item.updated_at.isoformat()}</updated>"
            f'<content type="html">{_x(content_html(item, url))}</content>'
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{_x(self_url)}</id><title>storyfold stories</title>"
        f"<updated>{updated.isoformat()}</updated><author><name>storyfold</name></author>"
        f'<link rel="self" type="application/atom+xml" href={_a(self_url)}/>'
        f'<link rel="alternate" type="text/html" href={_a(base + "/stories")}/>'
        f'<generator uri="https://github.com/storyfold">storyfold</generator>{"".join(entries)}</feed>'
    )


def rss(items: list[FeedItem], base: str, self_url: str) -> str:
    updated = max((i.updated_at for i in items), default=EPOCH)
    rows = []
    for item in items:
        url = f"{base}/stories/{item.card.id}"
        rows.append(
            "<item>"
            f"<title>{_x(_headline(item))}</title><link>{_x(url)}</link>"
            f'<guid isPermaLink="true">{_x(url)}</guid>'
            f"<pubDate>{format_datetime(item.updated_at.astimezone(UTC), usegmt=True)}</pubDate>"
            f"<description>{_x(content_html(item, url))}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>storyfold stories</title><link>{_x(base + '/stories')}</link>"
        "<description>News stories folded from many outlets, with cited summaries</description>"
        f"<lastBuildDate>{format_datetime(updated.astimezone(UTC), usegmt=True)}</lastBuildDate>"
        f'<atom:link href={_a(self_url)} rel="self" type="application/rss+xml"/>'
        f"{''.join(rows)}</channel></rss>"
    )


def json_feed(items: list[FeedItem], base: str, self_url: str) -> dict[str, Any]:
    out = []
    for item in items:
        url = f"{base}/stories/{item.card.id}"
        entry: dict[str, Any] = {
            "id": url,
            "url": url,
            "title": _headline(item),
            "content_html": content_html(item, url),
            "date_published": item.card.created_at.isoformat(),
            "date_modified": item.updated_at.isoformat(),
        }
        if item.changes is not None:
            entry["_storyfold"] = {"changes": item.changes.model_dump()}
        out.append(entry)
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "storyfold stories",
        "home_page_url": f"{base}/stories",
        "feed_url": self_url,
        "items": out,
    }
