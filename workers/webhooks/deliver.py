"""Webhook deliveries in the worker: fan story events out to subscribers, then send them.

Each POST carries the JSON event (with `delivery_id`, `attempt` and `timestamp`, unix seconds of
this attempt) and the headers
  X-Storyfold-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>
  X-Storyfold-Timestamp, X-Storyfold-Delivery, X-Storyfold-Event
The timestamp is inside the signed body, so a receiver that checks the signature and refuses a
timestamp older than a few minutes is safe from replays (`verify` does both). Any 2xx
acknowledges; anything else, a time-out or a refused address (the SSRF guard of
workers.sources.fetch applies) is retried with exponential back-off for a bounded time, the
webhook's other stories waiting meanwhile, and a webhook failing too many attempts in a row is
disabled. Delivery is at least once: a receiver should ignore a `delivery_id` it has already
processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from core.config import Settings
from core.errors import StoryfoldError
from core.storage import STORAGE_UNAVAILABLE
from core.storage.stories import Stories
from core.storage.story_feeds import StoryFeedItems
from core.storage.webhooks import DeliveryLog, Webhooks
from workers.sources.fetch import Blocked, Fetcher, FetchError

log = structlog.get_logger(__name__)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str, now: float, tolerance_s: float = 300) -> bool:
    """A receiver's check: the signature matches the body and the body's timestamp is recent."""
    if not hmac.compare_digest(sign(secret, body), signature):
        return False
    try:
        sent = float(json.loads(body)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return False
    return abs(now - sent) <= tolerance_s


class Fanout:
    """Story events → one queued delivery per subscribed webhook (core.storage.webhooks)."""

    def __init__(
        self, webhooks: Webhooks, stories: Stories, owner: str, claim_idle_ms: int
    ) -> None:
        self.webhooks = webhooks
        self.stories = stories
        self.owner = owner
        self.claim_idle_ms = claim_idle_ms

    def run_once(self, count: int = 100) -> int:
        """Fan out up to `count` events; returns how many were read."""
        if not self.webhooks.any():
            return 0  # no webhook: the group may not even exist yet
        self.webhooks.ensure_group()
        events = self.webhooks.read_events(self.owner, count, self.claim_idle_ms)
        if not events:
            return 0
        subscribers = self.webhooks.subscribers()
        for entry_id, fields in events:
            kind, story_id = fields.get("type", ""), fields.get("story_id", "")
            at = int(entry_id.split("-")[0]) / 1000
            targets = [
                s
                for s in subscribers
                if kind in json.loads(s.get("events") or "[]") and float(s["created_at"]) <= at + 1
            ]
            payload = self.payload(entry_id, kind, story_id, fields) if targets and story_id else {}
            deliveries = [
                (
                    s["id"],
                    story_id,
                    {
                        "id": f"{entry_id}.{s['id']}",
                        "attempts": 0,
                        "first_at": time.time(),
                        "payload": payload,
                    },
                )
                for s in targets
            ]
            version = payload.get("changes", {}).get("version")
            covered = (story_id, int(version)) if version else None
            self.webhooks.fan_out(entry_id, deliveries if story_id else [], covered)
        return len(events)

    def payload(
        self, entry_id: str, kind: str, story_id: str, fields: dict[str, str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event": kind,
            "event_id": entry_id,
            "story_id": story_id,
            "seq": fields.get("seq"),
        }
        try:
            story = self.stories.story(story_id)
        except StoryfoldError:
            return body
        body["story"] = {
            "id": story.id,
            "path": f"/stories/{story.id}",
            "headline": story.headline,
            "summary_version": story.summary_version,
            "article_count": story.article_count,
            "source_count": story.source_count,
            "merged_into": story.merged_into,
        }
        if kind in ("story.created", "story.updated") and story.summary_version:
            # Since the version the story's previous event covered: when several rewrites land
            # before one fan-out, each change is still told once, and none twice.
            since = min(self.webhooks.fanned_version(story_id), story.summary_version)
            changes = StoryFeedItems(self.stories).changes(story_id, since, story.summary_version)
            body["changes"] = changes.model_dump()
        return body


@dataclass
class Answer:
    """What came of one POST: `outcome` delivered | failed | blocked."""

    outcome: str
    status: int | None = None
    error: str | None = None


class Deliverer:
    """Sends due queue heads, one attempt each. A failed attempt holds its webhook for the
    back-off: its other stories wait too, so failures in a row are failures over time (one per
    back-off step, not one per queued story) and a short outage cannot disable it."""

    def __init__(
        self, settings: Settings, webhooks: Webhooks, fetcher: Fetcher, owner: str
    ) -> None:
        self.settings = settings
        self.webhooks = webhooks
        self.fetcher = fetcher
        self.owner = owner
        self.lease_s = settings.fetch_timeout_s * 3 + 30

    def run_once(self, limit: int = 50) -> int:
        """One attempt for each due queue head this worker can lease; returns how many."""
        attempts = 0
        for hook_id, story_id in self.webhooks.due(time.time(), limit):
            if not self.webhooks.lease(hook_id, story_id, self.owner, self.lease_s):
                continue
            try:
                attempts += self._isolated(hook_id, story_id)
            finally:
                self.webhooks.release(hook_id, story_id, self.owner)
        return attempts

    def _isolated(self, hook_id: str, story_id: str) -> int:
        """attempt(), so that a bug around one queue cannot stop the others: it stays first in
        `due`, so without this every pass would fail on it before reaching any other webhook.
        (An error while sending is the attempt's failure, recorded by attempt itself.)"""
        try:
            return self.attempt(hook_id, story_id)
        except STORAGE_UNAVAILABLE:
            raise  # Redis away is no webhook's fault: WebhookLoop waits and tries again
        except Exception:
            log.exception("webhook.queue_failed", webhook_id=hook_id, story_id=story_id)
            later = time.time() + self.settings.webhook_retry_max_s
            self.webhooks.postpone(hook_id, story_id, later)
            return 0

    def attempt(self, hook_id: str, story_id: str) -> int:
        hook = self.webhooks.hook(hook_id)
        if hook is None or hook.get("enabled") != "1":
            self.webhooks.drop_queue(hook_id, story_id)
            return 0
        held = float(hook.get("held_until") or 0)
        if held > time.time():
            # The receiver just failed another of its stories: this one waits for that retry
            # rather than fail too (the receiver is down for all of them, and each failure would
            # count towards disabling it). Its deliveries stay queued, in order.
            self.webhooks.postpone(hook_id, story_id, held)
            return 0
        delivery = self.webhooks.head(hook_id, story_id)
        if delivery is None:
            self.webhooks.forget_if_empty(hook_id, story_id)
            return 0
        number = int(delivery.get("attempts", 0)) + 1
        now = time.time()
        try:
            answer = self.post(hook, delivery, number, now)
        except Exception as exc:
            # What nothing foresaw (a URL httpx will not send, a malformed webhook): a failed
            # attempt of this webhook like any other, retried, backed off and in time disabled.
            log.exception("webhook.attempt_error", webhook_id=hook_id, story_id=story_id)
            answer = Answer("failed", error=f"{type(exc).__name__}: {exc}")
        self.conclude(hook_id, story_id, delivery, number, now, answer)
        return 1

    def post(
        self, hook: dict[str, str], delivery: dict[str, Any], number: int, now: float
    ) -> Answer:
        """POST attempt `number` of the delivery, signed with the webhook's secret."""
        body = json.dumps(
            {
                **delivery["payload"],
                "delivery_id": delivery["id"],
                "attempt": number,
                "timestamp": int(now),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Storyfold-Signature": sign(hook["secret"], body),
            "X-Storyfold-Timestamp": str(int(now)),
            "X-Storyfold-Delivery": delivery["id"],
            "X-Storyfold-Event": str(delivery["payload"].get("event", "")),
        }
        try:
            status = self.fetcher.post(hook["url"], body, headers).status
        except Blocked as exc:
            return Answer("blocked", error=exc.detail)
        except FetchError as exc:
            return Answer("failed", error=f"{exc.kind}: {exc.detail}")
        if 200 <= status < 300:
            return Answer("delivered", status)
        return Answer("failed", status, f"HTTP {status}")

    def conclude(
        self,
        hook_id: str,
        story_id: str,
        delivery: dict[str, Any],
        number: int,
        now: float,
        answer: Answer,
    ) -> None:
        """Log the attempt; drop the head if delivered, else back off (the whole webhook), give
        it up after the retry window, and disable the webhook after too many failures in a row."""
        ok = answer.outcome == "delivered"
        failures = self.webhooks.count_failure(hook_id, ok)
        outcome, retry_at = answer.outcome, None
        if not ok:
            delivery["attempts"] = number
            # The webhook waits as its failures in a row say; this delivery at least as long, and
            # longer if it failed more often itself (a receiver refusing just this one event).
            self.webhooks.hold(hook_id, now + self.backoff(failures))
            if now - float(delivery.get("first_at", now)) >= self.settings.webhook_retry_window_s:
                outcome = "gave_up"
            else:
                retry_at = now + self.backoff(max(number, failures))
        entry = DeliveryLog(
            delivery_id=delivery["id"],
            event=str(delivery["payload"].get("event", "")),
            story_id=story_id,
            attempt=number,
            at=datetime.fromtimestamp(now, UTC),
            outcome=outcome,
            status=answer.status,
            error=answer.error,
        )
        self.webhooks.settle(hook_id, story_id, delivery, entry, retry_at)
        log.info(
            "webhook.attempt",
            webhook_id=hook_id,
            delivery=delivery["id"],
            outcome=outcome,
            status=answer.status,
        )
        if failures >= self.settings.webhook_max_failures:
            reason = f"{failures} failed attempts in a row (last: {answer.error})"
            self.webhooks.disable(hook_id, reason)
            self.webhooks.drop_queue(hook_id, story_id)
            log.warning("webhook.disabled", webhook_id=hook_id, reason=reason)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure: the base, doubling, up to the max."""
        doublings = min(max(1, failures) - 1, 64)  # past that the max rules; 2**n stays a float
        delay = self.settings.webhook_retry_base_s * 2**doublings
        return float(min(self.settings.webhook_retry_max_s, delay))


class WebhookLoop:
    """Fan-out and delivery until `stop`; burst: until no event waits and nothing is due now."""

    def __init__(self, fanout: Fanout, deliverer: Deliverer, idle_s: float = 0.5) -> None:
        self.fanout = fanout
        self.deliverer = deliverer
        self.idle_s = idle_s

    def run(self, stop: threading.Event, burst: bool = False) -> int:
        attempts = 0
        while not stop.is_set():
            try:
                read = self.fanout.run_once()
                sent = self.deliverer.run_once()
            except Exception:  # a bug or Redis away: logged, the loop goes on
                log.exception("webhook.loop_failed")
                read = sent = 0
                if burst:
                    break
            attempts += sent
            if burst and not read and not sent:
                break
            if not read and not sent:
                stop.wait(self.idle_s)
        return attempts
