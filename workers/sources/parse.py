"""Feed bodies → entries: RSS 2.0, RSS 1.0 (RDF), Atom (feedparser) and JSON Feed 1.0/1.1. Pure.

XML is first parsed by defusedxml, which refuses entity declarations and external references
(billion laughs, XXE) and reports malformed XML; only a body it accepts reaches feedparser, which
does the format work (dates, relative links, content vs summary). feedparser 6 does not read JSON
Feed, so that small format is read here.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree
import feedparser
from defusedxml import DefusedXmlException

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class FeedParseError(ValueError):
    """Not a feed this service reads (invalid XML or JSON, refused XML, or no feed at all)."""


@dataclass(frozen=True)
class FeedEntry:
    key: str  # stable within the feed: its id, else its link, else a hash of its content
    link: str | None
    title: str | None
    published: datetime | None
    content: str | None  # the fullest body the entry carries (HTML or plain text)
    content_is_html: bool = True

    @property
    def text_length(self) -> int:
        """Characters of reading text in `content` (markup stripped)."""
        if not self.content:
            return 0
        text = _TAGS.sub(" ", self.content) if self.content_is_html else self.content
        return len(_SPACE.sub(" ", text).strip())


@dataclass(frozen=True)
class ParsedFeed:
    kind: str  # rss20, rss10, atom10, json11 ...
    title: str | None
    link: str | None
    entries: list[FeedEntry]


def parse_feed(body: bytes, url: str) -> ParsedFeed:
    head = body.lstrip()[:1]
    if head in (b"{", b"["):
        return _json_feed(body, url)
    try:
        defusedxml.ElementTree.fromstring(body)
    except DefusedXmlException as exc:
        raise FeedParseError(
            f"XML refused ({type(exc).__name__}: entities or external references)"
        ) from None
    except Exception as exc:  # xml.etree.ElementTree.ParseError and friends
        raise FeedParseError(f"invalid XML: {exc}") from None
    parsed: Any = feedparser.parse(
        body, response_headers={"content-location": url}, resolve_relative_uris=True
    )
    if not parsed.get("version"):
        raise FeedParseError("not an RSS, Atom or JSON feed")
    feed = parsed.get("feed", {})
    entries = [_xml_entry(e, url) for e in parsed.get("entries", [])]
    return ParsedFeed(parsed["version"], feed.get("title"), feed.get("link"), entries)


def _xml_entry(e: Any, base: str) -> FeedEntry:
    link = _absolute(e.get("link"), base)
    content = None
    for block in e.get("content") or []:
        if block.get("value") and len(block["value"]) > len(content or ""):
            content = block["value"]
    content = content or e.get("summary")
    when = e.get("published_parsed") or e.get("updated_parsed")
    published = datetime.fromtimestamp(calendar.timegm(when), UTC) if when else None
    key = e.get("id") or link or _digest(content or e.get("title") or "")
    return FeedEntry(key, link, e.get("title"), published, content, True)


def _json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedParseError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict) or "jsonfeed.org/version/" not in str(data.get("version", "")):
        raise FeedParseError("JSON, but not a JSON Feed (no jsonfeed.org version)")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedParseError("a JSON Feed needs an `items` list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _absolute(item.get("url") or item.get("external_url"), url)
        html, text = item.get("content_html"), item.get("content_text")
        content = (
            html if isinstance(html, str) and html else text if isinstance(text, str) else None
        )
        key = str(item.get("id") or link or _digest(content or ""))
        entries.append(
            FeedEntry(
                key,
                link,
                item.get("title") if isinstance(item.get("title"), str) else None,
                _rfc3339(item.get("date_published") or item.get("date_modified")),
                content or None,
                content_is_html=content is html,
            )
        )
    version = str(data["version"]).rstrip("/").rsplit("/", 1)[-1].replace(".", "")
    title = data.get("title") if isinstance(data.get("title"), str) else None
    return ParsedFeed(f"json{version}", title, data.get("home_page_url"), entries)


def _absolute(link: object, base: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    absolute = urljoin(base, link.strip())
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _rfc3339(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # "0001-01-01T00:00:00+01:00" has no UTC instant
        return None


def _digest(text: str) -> str:
    return "sha1:" + hashlib.sha1(text.encode()).hexdigest()


def site_name(feed: ParsedFeed, url: str) -> str:
    """What a source is called when the user named it nothing: the feed's title, else its host."""
    title = (feed.title or "").strip()
    return title[:200] if title else (urlsplit(url).hostname or url)[:200]
