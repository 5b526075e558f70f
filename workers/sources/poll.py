"""The poller: due sources → feed fetch → new entries → articles (Store.add_article).

Runs in the worker processes (workers.runner starts `PollLoop`); all state is in Redis
(core.storage.sources), so any number of workers share the sources, two never poll one source at
once (its lease), and a restart loses nothing. Politeness: conditional GET (If-None-Match /
If-Modified-Since → 304), one request at a time per host with a minimum interval between two,
Retry-After on 429/503 (and an exponential back-off on failures), a User-Agent naming the project,
time-outs and size caps (workers.sources.fetch).

An entry carrying its full text becomes an article as it is; otherwise its page is fetched (same
guard, same politeness) and posted as `html`, which the pipeline's extract stage reads with
trafilatura. Entries are marked seen only once stored; when any entry failed, the feed's
validators are not kept, so the next poll reads the feed again and retries exactly those. An entry
that fails STORYFOLD_SOURCE_ENTRY_TRIES polls (a page gone for good, one that is not an article)
is given up: reported and marked seen, so it no longer keeps the feed from answering 304.

Whatever goes wrong in one source's poll is that source's error: recorded on it, backed off, and
every other due source is still polled.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import structlog
from pydantic import ValidationError

from core.config import Settings
from core.netguard import policy_of
from core.records import ArticleIn
from core.storage.articles import Store
from core.storage.sources import PollReport, PollState, Sources
from workers.sources.answers import header_charset, page_text, retry_after_s, validator
from workers.sources.fetch import Blocked, Fetcher, FetchError, Limits, Resolver, Response
from workers.sources.fetch import system_resolver as _system_resolver
from workers.sources.parse import FeedEntry, FeedParseError, parse_feed, site_name

log = structlog.get_logger(__name__)

PAGE_MAX_BYTES = 2_000_000  # ArticleIn.html's limit: a longer page is cut there, not refused
HOST_WAIT_S = 30.0  # a page's host busy longer than this: the entry waits for the next poll


class HostBusy(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"host busy for {wait_s:.1f} s")
        self.wait_s = wait_s


def backoff_s(poll_seconds: int, failures: int, cap_s: int) -> float:
    """After `failures` failed polls in a row: the interval doubled per failure, capped, and
    never sooner than the feed's own interval (a feed polled daily is not polled more often for
    failing, whatever the cap)."""
    return float(max(poll_seconds, min(cap_s, poll_seconds * 2 ** max(0, failures - 1))))


def fetcher_for(settings: Settings, resolve: Resolver | None = None) -> Fetcher:
    policy = policy_of(settings)
    limits = Limits(
        settings.fetch_timeout_s, settings.fetch_max_bytes, settings.fetch_max_redirects
    )
    return Fetcher(policy, limits, resolve or _system_resolver)


class Poller:
    def __init__(
        self, settings: Settings, sources: Sources, store: Store, fetcher: Fetcher, owner: str
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.store = store
        self.fetcher = fetcher
        self.owner = owner
        # Long enough for one request; renewed before each request of a poll (feed and pages).
        self.lease_s = max(60.0, settings.fetch_timeout_s * 6)

    def poll_due(self, limit: int = 10, now: float | None = None) -> int:
        """Poll the sources due now that no other worker holds; returns how many were polled."""
        polled = 0
        for source_id in self.sources.due(now or time.time(), limit):
            if not self.sources.lease(source_id, self.owner, self.lease_s):
                continue  # another worker is polling it
            try:
                if self.poll(source_id) is not None:
                    polled += 1
            except Exception as exc:  # unrecorded, it stays first in `due` and stalls all polling
                self._failed(source_id, exc)  # (Redis away: this raises too, and the loop waits)
                polled += 1
            finally:
                self.sources.release(source_id, self.owner)
        return polled

    def _failed(self, source_id: str, exc: Exception) -> None:
        """An unexpected error in a poll: the source's `error`, backed off like a failed fetch."""
        log.exception("source.poll_failed", source_id=source_id, error=repr(exc))
        state = self.sources.state(source_id)
        if state is not None:
            self._finish(state, PollReport("error", None, f"{type(exc).__name__}: {exc}"))

    def poll(self, source_id: str) -> PollReport | None:
        """One poll of a leased source; None when its host was busy (rescheduled shortly)."""
        state = self.sources.state(source_id)
        if state is None:
            return None
        now = time.time()
        try:
            response = self._get(state.url, self._conditional(state), lease=state.id)
        except HostBusy as busy:
            self.sources.reschedule(source_id, now + busy.wait_s)
            return None
        except FetchError as exc:
            outcome = "blocked" if isinstance(exc, Blocked) else "error"
            return self._finish(state, PollReport(outcome, exc.status, f"{exc.kind}: {exc.detail}"))
        if response.status == 304:
            report = PollReport(
                "not_modified", 304, etag=state.etag, last_modified=state.last_modified
            )
            return self._finish(state, report)
        if response.status in (429, 503):
            wait = retry_after_s(response.headers.get("retry-after"), now)
            host = urlsplit(state.url).hostname or ""
            error = f"HTTP {response.status}" + (f", Retry-After {wait:.0f} s" if wait else "")
            return self._finish(state, PollReport("backoff", response.status, error), wait, host)
        if not 200 <= response.status < 300:
            return self._finish(
                state, PollReport("error", response.status, f"HTTP {response.status}")
            )
        try:
            charset = header_charset(response.headers.get("content-type", ""))
            feed = parse_feed(response.body, response.url, charset)
        except FeedParseError as exc:
            return self._finish(state, PollReport("error", response.status, str(exc)))
        name = state.name or site_name(feed, state.url)
        new, failed, retrying, errors = self._take_entries(state, name, feed.entries)
        ok = retrying == 0
        report = PollReport(
            "ok",
            response.status,
            "; ".join(errors[:3]) or None,
            seen=len(feed.entries),
            new=new,
            failed=failed,
            etag=validator(response.headers.get("etag")) if ok else None,
            last_modified=validator(response.headers.get("last-modified")) if ok else None,
            name=feed.title,
        )
        return self._finish(state, report)

    def _take_entries(
        self, state: PollState, name: str, entries: list[FeedEntry]
    ) -> tuple[int, int, int, list[str]]:
        """(stored new, failed now, failed and to be retried, errors)."""
        new = failed = retrying = 0
        errors: list[str] = []
        keys = [e.key for e in entries]
        for entry, unseen in zip(entries, self.sources.unseen(state.id, keys), strict=True):
            if not unseen:
                continue
            try:
                article = self._article(entry, name, state.id)
                accepted = self.store.add_article(article)
            except (FetchError, HostBusy, ValidationError) as exc:
                failed += 1
                # A busy host is not the entry's fault: it does not count as a try.
                tries = 0 if isinstance(exc, HostBusy) else self.sources.entry_failed(
                    state.id, entry.key
                )
                gave_up = tries >= self.settings.source_entry_tries
                if gave_up:
                    self.sources.mark_seen(state.id, entry.key)
                else:
                    retrying += 1
                note = f" (gave up after {tries} tries)" if gave_up else ""
                errors.append(f"{entry.link or entry.key}: {exc}"[:200] + note)
                log.warning(
                    "source.entry_failed",
                    source_id=state.id,
                    entry=entry.key,
                    error=str(exc),
                    tries=tries,
                    gave_up=gave_up,
                )
                continue
            self.sources.mark_seen(state.id, entry.key)
            new += not accepted.existing
        return new, failed, retrying, errors

    def _article(self, entry: FeedEntry, name: str, source_id: str) -> ArticleIn:
        body: dict[str, str] = {}
        if entry.content and entry.text_length >= self.settings.source_full_text_chars:
            body = {"html": entry.content} if entry.content_is_html else {"text": entry.content}
        elif entry.link:
            page = self._get(entry.link, {}, PAGE_MAX_BYTES, cut=True, lease=source_id)
            if page.status in (429, 503):  # the site asks us to slow down: not the entry's fault
                raise self._slow_down(entry.link, page)
            if not 200 <= page.status < 300:
                raise FetchError(f"page answered HTTP {page.status}", page.status)
            body = {"html": page_text(page)}
        elif entry.content:
            body = {"html": entry.content} if entry.content_is_html else {"text": entry.content}
        return ArticleIn.model_validate(
            {
                "source": name,
                "url": entry.link,
                "title": entry.title,
                "published_at": entry.published,
                **body,
            }
        )

    def _slow_down(self, url: str, page: Response) -> HostBusy:
        """A page's 429/503: its Retry-After (else a minute) holds back every request to that
        host, this poll's other pages included, and the entry waits without losing a try."""
        now = time.time()
        wait = retry_after_s(page.headers.get("retry-after"), now) or 60.0
        wait = min(wait, float(self.settings.source_max_backoff_s))
        self.sources.hosts.defer(urlsplit(url).hostname or "", now + wait)
        return HostBusy(wait)

    def _get(
        self,
        url: str,
        headers: dict[str, str],
        max_bytes: int | None = None,
        cut: bool = False,
        lease: str | None = None,
    ) -> Response:
        """One request through the host gate: waits (bounded) for the host's slot and interval.
        Then renews the `lease` of the source polled: a poll whose pages fail slowly must keep it,
        or a second worker polls the source too (every page fetched and every try counted twice)."""
        host = urlsplit(url).hostname or ""
        deadline = time.monotonic() + HOST_WAIT_S
        while (wait := self.sources.hosts.acquire(host, self.owner, self.lease_s)) > 0:
            if time.monotonic() + wait > deadline:
                raise HostBusy(wait)
            time.sleep(min(wait, 1.0))
        if lease:
            self.sources.renew(lease, self.owner, self.lease_s)
        try:
            return self.fetcher.get(url, headers, max_bytes, cut)
        finally:
            self.sources.hosts.release(host, self.owner, self.settings.fetch_host_interval_s)

    def _conditional(self, state: PollState) -> dict[str, str]:
        headers = {
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, */*;q=0.5"
        }
        if etag := validator(state.etag):  # (one stored before only ASCII ones were kept)
            headers["If-None-Match"] = etag
        if last_modified := validator(state.last_modified):
            headers["If-Modified-Since"] = last_modified
        return headers

    def _finish(
        self, state: PollState, report: PollReport, wait_s: float | None = None, host: str = ""
    ) -> PollReport:
        now = time.time()
        cap = self.settings.source_max_backoff_s
        if report.outcome in ("ok", "not_modified"):
            failures, next_at = 0, now + state.poll_seconds
        else:
            failures = state.failures + 1
            delay = backoff_s(state.poll_seconds, failures, cap)
            if wait_s is not None:
                delay = min(float(cap), max(wait_s, 1.0))
                if host:
                    self.sources.hosts.defer(host, now + delay)
            next_at = now + delay
        self.sources.record(state.id, report, next_at, failures)
        log.info(
            "source.polled",
            source_id=state.id,
            outcome=report.outcome,
            status=report.status,
            new=report.new,
            failed=report.failed,
            error=report.error,
        )
        return report


class PollLoop:
    """Polls due sources until `stop` (or, burst, until none is due), between other work."""

    def __init__(self, poller: Poller, idle_s: float = 1.0) -> None:
        self.poller = poller
        self.idle_s = idle_s

    def run(self, stop: threading.Event, burst: bool = False) -> int:
        polled = 0
        while not stop.is_set():
            try:
                n = self.poller.poll_due()
            except Exception:  # a bug or Redis away: logged, the loop goes on
                log.exception("source.poll_loop_failed")
                n = 0
                if burst:
                    break
            polled += n
            if burst and (n == 0 or not self.poller.sources.due(time.time(), 1)):
                break
            if n == 0:
                stop.wait(self.idle_s)
        return polled
