"""The HTTP contract: request and response bodies (pydantic), shared by routes and the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.summary import Summary


class ArticleStatus(StrEnum):
    """Where an article is: queued (accepted), clustered (in a story), processed (in its story
    and the story's summary reflects it), failed (with a `reason`)."""

    QUEUED = "queued"
    CLUSTERED = "clustered"
    PROCESSED = "processed"
    FAILED = "failed"


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The schema states these rules as the validators apply them, so the two agree both ways. Lengths
# and patterns judge the text as sent (stripping comes after). Character classes are spelt out:
# `\s` and `\d` mean other things to JSON Schema's regexes, to pydantic's and to Python's.
# A non-blank text holds a character that str.strip() keeps (one not str.isspace()).
NONBLANK = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# An absolute http(s) URL whose host part is ASCII (an IDN host in punycode; no IPv6 literal), so
# urllib always parses it; after the host, anything. Empty is no URL.
URL_PATTERN = r"^(?:[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~%!$&'()*+,;=:@-]+(?:[/?#][\s\S]*)?)?$"
# The same, required (sources and webhooks must name one), and fetchable: after the host no
# control character and no white space (what str.isspace() calls one). httpx refuses to send such
# a URL, so a source or webhook naming one would fail on every fetch.
HTTP_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?"
    r"[A-Za-z0-9._~%!$&'()*+,;=-]*[A-Za-z0-9][A-Za-z0-9._~%!$&'()*+,;=-]*"
    r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?"
    r"(?:[/?#][^\x00- \x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$"
)


def check_http_url(value: str) -> str:
    """An absolute http(s) URL, its host in ASCII, that urllib can parse: what HTTP_URL_PATTERN
    says, and the check behind it (for sources and webhooks, whose URL is fetched)."""
    if not re.fullmatch(HTTP_URL_PATTERN, value):
        raise ValueError(
            "must be an absolute http(s) URL, its host in ASCII (IDN in punycode), with no white"
            " space or control character"
        )
    try:
        urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"must be an absolute http(s) URL ({exc})") from None
    return value


# The years an article's `published_at` may fall in (feeds drop a date outside them).
FIRST_YEAR, LAST_YEAR = 1900, 2200
# RFC 3339, the years 1900 to 2200 as written; the offset may be left out (then it is UTC).
DATE_TIME_PATTERN = (
    r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)
_DATE_TIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}


def _text_or_html(schema: dict[str, Any]) -> None:
    """`text` or `html` must be non-blank. Spelt as two whole variants, one with each required
    and non-blank, rather than an `anyOf` beside `properties`: request generators (schemathesis'
    coverage phase) do not read the latter right."""
    for spec in schema["properties"].values():
        # A pattern given beside `str | None`'s anyOf belongs to its string branch, for the same
        # generators' sake.
        if "pattern" in spec and "anyOf" in spec:
            spec["anyOf"][0]["pattern"] = spec.pop("pattern")
    variants = []
    for name in ("text", "html"):
        properties = dict(schema["properties"])
        string = properties[name]["anyOf"][0]
        described = {k: v for k, v in properties[name].items() if k not in ("anyOf", "default")}
        properties[name] = described | string | {"pattern": NONBLANK}
        variants.append(
            {
                "type": "object",
                "properties": properties,
                "required": [*schema["required"], name],
                "additionalProperties": False,
            }
        )
    for key in ("type", "properties", "required", "additionalProperties"):
        schema.pop(key)
    schema["anyOf"] = variants


class ArticleIn(BaseModel):
    """One article as posted. `text` or `html` is required; everything else is optional."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_text_or_html)

    source: str = Field(
        min_length=1,
        max_length=200,
        json_schema_extra={"pattern": NONBLANK},  # checked in _strip, with a clearer message
        description="Outlet or feed name (surrounding white space is dropped)",
    )
    text: str | None = Field(None, max_length=1_000_000, description="Plain article text")
    html: str | None = Field(
        None, max_length=2_000_000, description="Article HTML (body is extracted)"
    )
    title: str | None = Field(None, max_length=1000)
    url: str | None = Field(
        None,
        max_length=2000,
        json_schema_extra={"pattern": URL_PATTERN},  # checked in _http_url
        description="Absolute http(s) URL, its host in ASCII (IDN hosts in punycode)",
    )
    published_at: Annotated[datetime, WithJsonSchema(_DATE_TIME_SCHEMA)] | None = Field(
        None, description="RFC 3339, years 1900 to 2200; without an offset it is UTC"
    )
    id: str | None = Field(None, pattern=ID_PATTERN, description="Your id; generated when absent")

    @field_validator("source")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not re.search(NONBLANK, value):
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("text", "html", "title")
    @classmethod
    def _no_control_chars(cls, value: str | None) -> str | None:
        # NUL and friends break text tooling downstream; tabs and newlines are kept.
        return _CONTROL.sub(" ", value.strip()) if value else value

    @field_validator("published_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        # pydantic alone would also take 1700000000, "0" or "2024-05-01": not what the schema says.
        if isinstance(value, str) and not re.fullmatch(DATE_TIME_PATTERN, value):
            raise ValueError("must be an RFC 3339 datetime (2024-05-01T12:00:00Z), 1900 to 2200")
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("must be an RFC 3339 datetime string")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(URL_PATTERN, value):
            raise ValueError("must be an absolute http(s) URL, its host in ASCII (IDN in punycode)")
        if value:
            try:
                # The store canonicalises it with urlsplit; what urllib cannot parse ("http://[::1",
                # a host with a full-width "#") is no usable URL, and must not become a 500 there.
                urlsplit(value)
            except ValueError as exc:
                raise ValueError(f"must be an absolute http(s) URL ({exc})") from None
        return value or None

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ValueError("must be between the years 1900 and 2200")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _has_body(self) -> ArticleIn:
        if not (self.text or self.html):
            raise ValueError("an article needs a non-empty `text` (or `html`)")
        return self


class Accepted(BaseModel):
    id: str
    status: ArticleStatus
    existing: bool = Field(
        False, description="True when this post matched an article already stored"
    )


class AcceptedBatch(BaseModel):
    articles: list[Accepted]
    accepted: int
    existing: int


class ArticleOut(BaseModel):
    id: str
    status: ArticleStatus
    source: str
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    received_at: datetime
    story_id: str | None = None
    duplicate_of: str | None = None
    reason: str | None = None
    sentence_count: int | None = None


class ArticleRef(BaseModel):
    id: str
    source: str
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    duplicate_of: str | None = None


class StoryCard(BaseModel):
    id: str
    headline: str
    article_count: int
    source_count: int
    created_at: datetime
    updated_at: datetime
    summary_version: int = 0
    merged_into: str | None = None
    parent: str | None = None
    seq: int = Field(0, description="Update sequence of the story's last change (`updated_after`)")


class StoryPage(BaseModel):
    stories: list[StoryCard]
    next_cursor: str | None
    has_more: bool
    latest_seq: int = Field(
        description="The update sequence when this traversal began: after the last page, "
        "`?updated_after=latest_seq` returns what changed while it was read"
    )


class VersionPage(BaseModel):
    story_id: str
    versions: list[Summary] = Field(description="Summaries, newest first")
    next_cursor: str | None
    has_more: bool


class StoryOut(StoryCard):
    articles: list[ArticleRef]
    summary: Summary | None = None


FUTURE_SLACK_S = 86400.0  # how far after its arrival an article's date is believed


@dataclass(frozen=True)
class ArticleRecord:
    """An article as the workers see it: what the storage layer reads from its hash, typed."""

    id: str
    status: ArticleStatus
    source: str
    title: str | None  # as posted
    clean_title: str | None  # as extracted
    text: str | None
    html: str | None
    published_ts: float | None
    received_ts: float
    story_id: str | None
    duplicate_of: str | None
    sentence_count: int | None  # None: not extracted yet
    vector_rows: int  # sentences embedded so far (the lead first, the rest for the summary)
    vector_target: int  # sentences that get a vector in the end

    @property
    def story_ts(self) -> float:
        """Story time: when it was published, else when it was received. A date more than a day
        after its arrival (a typo, a CMS placeholder such as 2200-01-01) counts as the arrival
        plus that day: story time runs the archive and the repair window from the newest
        article, so one such date would archive every live story and leave them unrepaired."""
        if self.published_ts is None:
            return self.received_ts
        return min(self.published_ts, self.received_ts + FUTURE_SLACK_S)

    @property
    def finished(self) -> bool:
        return self.status in (ArticleStatus.PROCESSED, ArticleStatus.FAILED)

    @property
    def waits_for_vectors(self) -> bool:
        """Still waits for the vectors of some of its sentences (a copy never gets any)."""
        return not self.duplicate_of and self.vector_rows < self.vector_target

    @property
    def display_title(self) -> str:
        return self.clean_title or self.title or ""
