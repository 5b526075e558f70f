"""Feed bodies → entries: RSS 2.0, RSS 1.0 (RDF), Atom (feedparser) and JSON Feed 1.0/1.1. Pure.

XML is first parsed by defusedxml, which refuses entity declarations and external references
(billion laughs, XXE) and reports malformed XML; only a body it accepts reaches feedparser, which
does the format work (dates, relative links, content vs summary). feedparser 6 does not read JSON
Feed, so that small format is read here.

Entries come out as ArticleIn will take them: titles as plain text, links absolute with their
host in punycode (None when no server could be asked for them), dates within ArticleIn's years
(else None), and keys unique within the feed.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree
import feedparser
import idna
from defusedxml import DefusedXmlException

from core.records import FIRST_YEAR, LAST_YEAR

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
# A tag in a title feedparser calls HTML: "<" then a name, "/", "!" or "?" ("a < b" is text).
_TITLE_TAGS = re.compile(r"<[A-Za-z/!?][^>]*>")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BOM = b"\xef\xbb\xbf"
# An XML declaration's encoding: group 1 all before the name, group 2 the name.
_DECLARED = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._:-]+)""")


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


def parse_feed(body: bytes, url: str, charset: str | None = None) -> ParsedFeed:
    """`charset`: what the answer's Content-Type names (an XML declaration's encoding wins)."""
    # A UTF-8 BOM before a JSON Feed's "{" (json.loads reads it; the sniff must see past it).
    head = body.removeprefix(_BOM).lstrip()[:1]
    if head in (b"{", b"["):
        return _json_feed(body, url)
    body = _as_utf8(body, charset)
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
    entries = _distinct_keys([_xml_entry(e, url) for e in parsed.get("entries", [])])
    title = _plain(feed.get("title"), feed.get("title_detail"))
    return ParsedFeed(parsed["version"], title, feed.get("link"), entries)


def _xml_entry(e: Any, base: str) -> FeedEntry:
    link = _absolute(e.get("link"), base)
    content = None
    for block in e.get("content") or []:
        if block.get("value") and len(block["value"]) > len(content or ""):
            content = block["value"]
    content = content or e.get("summary")
    published = _dated(_from_struct(e.get("published_parsed") or e.get("updated_parsed")))
    key = e.get("id") or link or _digest(content or e.get("title") or "")
    return FeedEntry(key, link, _plain(e.get("title"), e.get("title_detail")), published, content)


def _as_utf8(body: bytes, charset: str | None) -> bytes:
    """The XML re-encoded as UTF-8 when it declares (or HTTP names) another charset: expat, which
    checks it first, reads no multi-byte charset but UTF-8/16 (a GB2312 or Shift_JIS feed was
    refused as invalid XML), and never sees the HTTP header (a Latin-1 feed without a
    declaration read as broken UTF-8). UTF-16 (a byte order mark) and UTF-8 pass untouched."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff", _BOM)):
        return body
    declared = _DECLARED.match(body)
    name = declared[2].decode("ascii") if declared else charset
    if not name or name.lower().replace("_", "-") in ("utf-8", "utf8", "us-ascii", "ascii"):
        return body
    try:
        text = body.decode(name)
    except (LookupError, UnicodeDecodeError):  # let the XML check say what is wrong
        return body
    if declared:
        text = text.replace(declared[0].decode("ascii"), declared[1].decode("ascii") + "utf-8", 1)
    return text.encode("utf-8")


def _plain(title: object, detail: Any) -> str | None:
    """A title as plain text. feedparser hands over as HTML what it judges HTML (Atom's
    type="html", an RSS title with markup or escaped entities): shown as is it would read
    "Ben &amp; Jerry&#8217;s", so its tags are dropped and its entities decoded."""
    if not isinstance(title, str):
        return None
    if isinstance(detail, dict) and detail.get("type") in _HTML_TYPES:
        return _SPACE.sub(" ", unescape(_TITLE_TAGS.sub("", title))).strip()
    return title


def _from_struct(when: Any) -> datetime | None:
    if not when:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(when), UTC)
    except (OverflowError, ValueError, OSError):  # a year the platform cannot represent
        return None


def _dated(when: datetime | None) -> datetime | None:
    """`when` if ArticleIn takes it (its years): a junk date, such as Go's zero time
    0001-01-01 written for an undated page, leaves the entry undated rather than unstorable (it
    would fail every poll, then be given up)."""
    return when if when is not None and FIRST_YEAR <= when.year <= LAST_YEAR else None


def _distinct_keys(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Entries whose key repeats within the feed (a template giving every item the guid "0")
    are keyed on it and their link: on the key alone, once one is seen all are, and every later
    item would be skipped. Articles are idempotent by URL, so the longer key doubles nothing."""
    counts = Counter(e.key for e in entries)
    out = []
    for e in entries:
        tail = e.link or _digest(e.content or e.title or "")
        out.append(replace(e, key=f"{e.key} {tail}") if counts[e.key] > 1 and tail != e.key else e)
    return out


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
                _dated(_rfc3339(item.get("date_published") or item.get("date_modified"))),
                content or None,
                content_is_html=content is html,
            )
        )
    version = str(data["version"]).rstrip("/").rsplit("/", 1)[-1].replace(".", "")
    title = data.get("title") if isinstance(data.get("title"), str) else None
    return ParsedFeed(f"json{version}", title, data.get("home_page_url"), _distinct_keys(entries))


def _absolute(link: object, base: str) -> str | None:
    """`link` resolved against `base`, its host in punycode (as ArticleIn wants it); None when
    it is no http(s) URL a request could be sent to. A bad link costs its entry the link (the
    entry is kept when it carries its text), never the feed."""
    if not isinstance(link, str) or not link.strip() or _CONTROL.search(link.strip()):
        return None  # httpx refuses to send a control character
    try:
        absolute = urljoin(base, link.strip())
        parts = urlsplit(absolute)
        netloc = _ascii_netloc(parts.netloc)
    except ValueError:  # "http://[2001:db8::1/x"; an IDN label idna refuses (IDNAError)
        return None
    if parts.scheme not in ("http", "https"):
        return None
    return absolute if netloc == parts.netloc else parts._replace(netloc=netloc).geturl()


def _ascii_netloc(netloc: str) -> str:
    """An IDN host in punycode: IDNA 2008 with the UTS 46 mapping, as browsers resolve it (IDNA
    2003, Python's "idna" codec, would turn straße.de into another domain, strasse.de)."""
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.isascii():
        return netloc
    host, colon, port = hostport.partition(":")
    return f"{userinfo}{at}{idna.encode(host, uts46=True).decode('ascii')}{colon}{port}"


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
