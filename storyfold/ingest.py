"""Read article files (.txt, .json, .jsonl, or folders of them) and post them to a storyfold API.

A file or line that cannot be read is one rejection (`Unreadable`), named with its path, and the
rest is still posted. Posting stops, rather than raising, on what a further request would not
change: a refused key, a server that still fails after a few retries, a lost connection. The
report then says where it stopped and what was accepted before.
"""

from __future__ import annotations

import codecs
import html
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from workers.sources.answers import retry_after_s

SUFFIXES = (".txt", ".json", ".jsonl")
FINAL = ("processed", "failed")  # an article's states that no longer change
LOST = "lost"  # wait_processed's state for an article the API answers 4xx about (404: gone)
RETRIED = frozenset({429, 500, 502, 503, 504})  # a busy or restarting API, or a proxy before it


@dataclass(frozen=True)
class Unreadable:
    """Stands in for an article that could not be read: a whole file, or one .jsonl line."""

    reason: str


@dataclass(frozen=True)
class Stop:
    """Why posting ended early."""

    where: str  # the first article not posted
    reason: str  # one line for a person
    status: int | None = None  # the HTTP status; None: the API could not be reached (reason why)


@dataclass
class IngestReport:
    accepted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    where: dict[str, str] = field(default_factory=dict)  # article id -> file position
    stopped: Stop | None = None
    unsent: int = 0  # articles not posted because posting stopped

    @property
    def ids(self) -> list[str]:
        return self.accepted + self.existing


@dataclass(frozen=True)
class Retry:
    """How often a 429/5xx answer is tried again: Retry-After is honoured up to max_wait_s."""

    attempts: int = 4  # the first try and three more
    base_s: float = 1.0  # without Retry-After: 1, 2, 4 s
    max_wait_s: float = 30.0
    sleep: Callable[[float], None] | None = None  # None: time.sleep (tests pass a recorder)
    note: Callable[[str], None] | None = None  # told of each retry: a silent wait looks hung

    def delay(self, attempt: int, retry_after: str | None) -> float:
        asked = parse_retry_after(retry_after)
        return min(self.max_wait_s, self.base_s * 2**attempt if asked is None else asked)

    def wait(self, seconds: float) -> None:
        (self.sleep or time.sleep)(seconds)


RETRY = Retry()


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if _suffix(p) in SUFFIXES and p.is_file())
        elif _suffix(path) in SUFFIXES:
            yield path
        else:
            raise ValueError(f"{path}: not a .txt, .json or .jsonl file or a folder")


def _suffix(path: Path) -> str:
    return path.suffix.lower()  # Windows tools write .JSON and .TXT


def read_articles(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, article) pairs. A .txt file is one article whose source is the file name."""
    suffix = _suffix(path)
    if suffix == ".txt":
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            yield str(path), Unreadable(_why(exc))
            return
        yield str(path), {"source": path.stem, "text": text}
    elif suffix == ".json":
        yield from _read_json(path)
    else:
        yield from _read_jsonl(path)


def _read_json(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")  # -sig: a BOM from Windows tools is fine
        if not text.strip():
            yield str(path), Unreadable("empty file")
            return
        data = json.loads(text)
    except (OSError, ValueError) as exc:  # ValueError: UnicodeDecodeError, JSONDecodeError
        yield str(path), Unreadable(_why(exc))
        return
    if not isinstance(data, list):
        yield str(path), data  # one article: no [0] suggesting a list
        return
    for i, item in enumerate(data):
        yield f"{path}[{i}]", item


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    # Bytes split on b"\n" only: JSON strings may hold U+2028, U+0085 and friends raw, and
    # str.splitlines would break the line there.
    try:
        with path.open("rb") as lines:
            for n, raw in enumerate(lines, 1):
                if n == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    line = raw.decode("utf-8")
                    if line.strip():
                        yield f"{path}:{n}", json.loads(line)
                except ValueError as exc:
                    yield f"{path}:{n}", Unreadable(_why(exc))
    except OSError as exc:
        yield str(path), Unreadable(_why(exc))


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc}"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return str(exc)


def post_all(
    client: httpx.Client,
    items: list[tuple[str, Any]],
    batch: int = 100,
    progress: Callable[[int], None] | None = None,
    retry: Retry | None = None,
) -> IngestReport:
    report = IngestReport()
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        report.rejected += [(w, i.reason) for w, i in chunk if isinstance(i, Unreadable)]
        good = [(w, i) for w, i in chunk if not isinstance(i, Unreadable)]
        try:
            if good:
                _post_chunk(client, good, report, retry or RETRY)
        except _Stopped as stopped:
            report.stopped = stopped.stop
            # The API answers one result per article, so what is not counted was not posted.
            done = len(report.ids) + len(report.rejected)
            report.unsent = max(0, len(items) - done)
            return report
        if progress:
            progress(len(chunk))
    return report


class _Stopped(Exception):
    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.reason)
        self.stop = stop


def _post_chunk(
    client: httpx.Client, chunk: list[tuple[str, Any]], report: IngestReport, retry: Retry
) -> None:
    where = chunk[0][0]
    resp = _post(client, [item for _, item in chunk], where, retry)
    if resp.status_code in (200, 202):
        _record(report, chunk, resp)
        return
    if resp.status_code in (413, 422) and len(chunk) > 1:
        # One bad article rejects the whole batch: post one by one to say which.
        for one in chunk:
            _post_chunk(client, [one], report, retry)
        return
    if resp.status_code in (400, 413, 415, 422):
        report.rejected.append((where, problem_detail(resp) or problem_text(resp)))
        return
    # 401/403 (a key), 404 (not a storyfold at --api), a 5xx that retrying did not cure: every
    # further batch would get the same answer.
    raise _Stopped(Stop(where, problem_text(resp), resp.status_code))


def _post(client: httpx.Client, body: list[Any], where: str, retry: Retry) -> httpx.Response:
    """POST /articles, again after a 429/5xx (posting is idempotent, so a retry is safe)."""
    for attempt in range(retry.attempts):
        try:
            resp = client.post("/articles", json=body)
        except httpx.TransportError as exc:  # refused, timed out, dropped
            raise _Stopped(Stop(where, str(exc) or type(exc).__name__)) from exc
        if resp.status_code not in RETRIED or attempt == retry.attempts - 1:
            return resp
        delay = retry.delay(attempt, resp.headers.get("retry-after"))
        if retry.note:
            retry.note(f"{problem_text(resp)}; trying again in {delay:g} s")
        retry.wait(delay)
    raise AssertionError("unreachable: the last attempt returns")


def _record(report: IngestReport, chunk: list[tuple[str, Any]], resp: httpx.Response) -> None:
    try:
        results = resp.json()["articles"]
        for (where, _), result in zip(chunk, results, strict=True):
            (report.existing if result["existing"] else report.accepted).append(result["id"])
            report.where[result["id"]] = where
    except (ValueError, KeyError, TypeError) as exc:
        reason = f"HTTP {resp.status_code} but not a storyfold answer: is --api a storyfold?"
        raise _Stopped(Stop(chunk[0][0], reason, resp.status_code)) from exc


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    return retry_after_s(value, time.time())  # the feed poller's reading of it


def problem_detail(resp: httpx.Response) -> str:
    """The problem's detail if the answer is JSON, else the first line of its text (a proxy's
    HTML page: the text of its tags), on one line; "" when there is nothing."""
    ctype = resp.headers.get("content-type", "")
    if "json" in ctype:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("title")
            if detail:
                return _one_line(detail if isinstance(detail, str) else json.dumps(detail))
    text = resp.text
    if "html" in ctype or text.lstrip().startswith("<"):
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]*>", "\n", text))
    return _one_line(next((line for line in text.split("\n") if line.strip()), ""))


def problem_text(resp: httpx.Response) -> str:
    """`HTTP 502 Bad Gateway: <detail>`, on one line."""
    head = f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip()
    detail = problem_detail(resp)
    return f"{head}: {detail}" if detail and detail not in head else head


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wait_processed(
    client: httpx.Client,
    ids: list[str],
    timeout_s: float,
    tick: Callable[[int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll until every article is processed, failed or lost (the API answers 4xx about it);
    returns the last state of each. One still pending at the deadline keeps its last state
    (or none, if never asked). A connection error is raised (httpx.TransportError)."""
    state: dict[str, dict[str, Any]] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for aid in pending:
            state[aid] = _article_state(client, aid)
            if state[aid].get("status") in (*FINAL, LOST):
                if tick:
                    tick(1)
            else:
                still.append(aid)
        pending = still
        if pending:
            time.sleep(0.25)
    return state


def _article_state(client: httpx.Client, aid: str) -> dict[str, Any]:
    resp = client.get(f"/articles/{aid}")
    if resp.status_code == 200:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
    elif 400 <= resp.status_code < 500 and resp.status_code != 429:
        return {"id": aid, "status": LOST, "reason": problem_text(resp)}  # asking again won't help
    return {"id": aid, "status": "unknown", "reason": problem_text(resp)}  # 5xx: ask again
