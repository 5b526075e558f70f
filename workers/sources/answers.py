"""What a fetched answer holds, read as the poller needs it: a page's text in its own charset,
the validators (ETag, Last-Modified) worth keeping for the next conditional GET, and how long a
Retry-After asks us to wait."""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import parsedate_to_datetime

from workers.sources.fetch import Response

# The HTML spec's prescan, simplified: a charset declared in the first bytes of the document,
# `<meta charset="...">` or `<meta http-equiv="Content-Type" content="text/html; charset=...">`.
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.I)
_PRESCAN_BYTES = 4096


def page_text(page: Response) -> str:
    """The page decoded by the charset its Content-Type names, else the one its `<meta>`
    declares (many older and non-English sites declare it only there: decoded as UTF-8,
    windows-1252 or Shift_JIS text turns into replacement characters), else UTF-8."""
    charset = header_charset(page.headers.get("content-type", ""))
    if charset is None:
        found = _META_CHARSET.search(page.body[:_PRESCAN_BYTES])
        charset = found[1].decode("ascii") if found else "utf-8"
    try:
        return page.body.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return page.body.decode("utf-8", errors="replace")


def header_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value.strip("\"' "):
            return value.strip("\"' ")
    return None


def validator(value: str | None) -> str | None:
    """An ETag or Last-Modified to keep and send back: ASCII only. httpx reads a non-ASCII one
    ('"café"') but cannot send it, so keeping it would fail every later poll of the feed."""
    return value if value and value.isascii() else None


def retry_after_s(value: str | None, now: float) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
