"""Webhooks in Redis: subscriptions, per-(webhook, story) delivery queues, the delivery log.

Story events (`stream:events`, written with every summary and merge) are read by the consumer
group `webhooks` (created with the first webhook, so no event after it is missed). Fan-out turns
one event into one delivery per subscribed webhook, appended to that webhook's queue for that
story, and acknowledges the event, all in one MULTI: an event is fanned out entirely or not at all
(a worker dying before it leaves the event pending, and another worker claims it).

A queue's head is the only delivery of that story sent to that webhook until it is acknowledged
(delivered, or given up), so deliveries are ordered per story. `webhooks:due` scores each
non-empty queue by its next attempt time; a worker sends a head only while it holds the queue's
lease, and removes it only after the receiver answered 2xx: a worker killed mid-delivery leaves the
head in place, to be sent again when the lease expires (at least once).

A failed attempt also holds the whole webhook (`held_until` in its hash) for its back-off: a
receiver that is down is down for every story, so the worker postpones the webhook's other queues
to then instead of trying each (their deliveries stay queued). Writes to a webhook's hash go
through _UPDATE, which writes nothing once the webhook is deleted, so a delivery finishing after
a DELETE leaves no stub behind; a hash without an `id` reads as no webhook.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

import redis

from core.errors import NotFound
from core.keys import Keys
from core.storage.article_codec import decode_hash, from_ts
from core.storage.webhook_records import (
    DeliveryLog,
    DeliveryPage,
    EventType,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)

if TYPE_CHECKING:
    from core.storage import Storage

__all__ = [
    "DeliveryLog",
    "DeliveryPage",
    "EventType",
    "WebhookIn",
    "WebhookList",
    "WebhookOut",
    "WebhookPatch",
    "Webhooks",
]

GROUP = "webhooks"
LOG_KEPT = 200  # _SETTLE trims the log to this

# KEYS: queue, due, log, webhook; ARGV: member, now, next attempt ('' to drop the head), log entry,
# expected head id, the head updated. Settles the head only if it is still the expected one; the
# queue of a webhook deleted meanwhile is dropped instead (its log is gone with it).
_SETTLE = """
if redis.call('HEXISTS', KEYS[4], 'id') == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then redis.call('ZREM', KEYS[2], ARGV[1]) return 0 end
if cjson.decode(head)['id'] ~= ARGV[5] then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, 199)
if ARGV[3] == '' then
  redis.call('LPOP', KEYS[1])
  if redis.call('LLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1])
  else redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
else
  redis.call('LSET', KEYS[1], 0, ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""
# KEYS: queue, due; ARGV: member. A queue found empty stops being due (unless filled meanwhile).
_FORGET_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then return redis.call('ZREM', KEYS[2], ARGV[1]) end
return 0
"""
# KEYS: a webhook's hash; ARGV: a field to add 1 to ('' for none), then field, value pairs ('' as
# the value removes the field). Only while the webhook exists (has an id): returns the new count
# (0 when none), or -1 for a webhook that is gone, which is left gone.
_UPDATE = """
if redis.call('HEXISTS', KEYS[1], 'id') == 0 then return -1 end
local n = 0
if ARGV[1] ~= '' then n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1) end
for i = 2, #ARGV - 1, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return n
"""


def _decoded(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


def _not_found(hook_id: str) -> NotFound:
    return NotFound(f"no webhook with id {hook_id!r}", field="id")


def _out(f: dict[str, str], secret: bool = False) -> WebhookOut:
    return WebhookOut(
        id=f["id"],
        url=f["url"],
        events=json.loads(f.get("events") or "[]"),
        enabled=f.get("enabled") == "1",
        disabled_reason=f.get("disabled_reason") or None,
        failures=int(f.get("failures") or 0),
        created_at=from_ts(f["created_at"]),
        secret=f.get("secret") if secret else None,
    )


class Webhooks:
    @classmethod
    def of(cls, storage: Storage) -> Webhooks:
        """The repository over a Storage bundle's database (workers never hold a client)."""
        return cls(storage.client, storage.keys)

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._settle = client.register_script(_SETTLE)
        self._forget = client.register_script(_FORGET_IF_EMPTY)
        self._update_script = client.register_script(_UPDATE)

    # -- the API's side --------------------------------------------------------------------------
    def add(self, hook: WebhookIn) -> WebhookOut:
        self.ensure_group()
        hook_id = f"wh_{uuid.uuid4().hex[:16]}"
        fields = {
            "id": hook_id,
            "url": hook.url,
            "events": json.dumps(sorted(set(hook.events))),
            "secret": hook.secret or secrets.token_urlsafe(32),
            "enabled": "1",
            "failures": "0",
            "created_at": f"{time.time():.3f}",
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.webhook(hook_id), mapping=fields)
        pipe.sadd(self.keys.webhooks, hook_id)
        pipe.execute()
        return _out(fields, secret=True)

    def get(self, hook_id: str) -> WebhookOut:
        return _out(self._fields(hook_id))

    def all(self) -> list[WebhookOut]:
        ids = sorted(i.decode() for i in self.r.smembers(self.keys.webhooks))
        found = [decode_hash(self.r.hgetall(self.keys.webhook(i))) for i in ids]
        return sorted((_out(f) for f in found if f.get("id")), key=lambda w: w.created_at)

    def set_enabled(self, hook_id: str, enabled: bool) -> WebhookOut:
        """Turn a webhook on again after it was disabled (failures from 0, no hold), or off."""
        if enabled:
            fields = {"enabled": "1", "failures": "0", "disabled_reason": "", "held_until": ""}
        else:
            fields = {"enabled": "0", "disabled_reason": "disabled by its owner"}
        if self._update(hook_id, fields) < 0:
            raise _not_found(hook_id)
        return self.get(hook_id)

    def delete(self, hook_id: str) -> None:
        self._fields(hook_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.webhook(hook_id), self.keys.webhook_log(hook_id))
        pipe.srem(self.keys.webhooks, hook_id)
        pipe.execute()  # its queues drain: their heads find the webhook gone and are dropped

    def log(self, hook_id: str, limit: int = LOG_KEPT) -> list[DeliveryLog]:
        self._fields(hook_id)
        rows = self.r.lrange(self.keys.webhook_log(hook_id), 0, limit - 1)
        return [DeliveryLog.model_validate_json(row) for row in rows]

    def _fields(self, hook_id: str) -> dict[str, str]:
        f = self.hook(hook_id)
        if f is None:
            raise _not_found(hook_id)
        return f

    def _update(self, hook_id: str, fields: dict[str, str], count: str = "") -> int:
        """_UPDATE: add 1 to `count` and set `fields` ('' removes one) if the webhook exists."""
        args = [count, *(x for pair in fields.items() for x in pair)]
        return int(self._update_script(keys=[self.keys.webhook(hook_id)], args=args))

    # -- the worker's side -------------------------------------------------------------------
    def any(self) -> bool:
        return bool(self.r.exists(self.keys.webhooks))

    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(self.keys.events_stream, GROUP, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def subscribers(self) -> list[dict[str, str]]:
        """Every enabled webhook's fields (secret included)."""
        ids = sorted(i.decode() for i in self.r.smembers(self.keys.webhooks))
        found = [decode_hash(self.r.hgetall(self.keys.webhook(i))) for i in ids]
        return [f for f in found if f.get("id") and f.get("enabled") == "1"]

    def hook(self, hook_id: str) -> dict[str, str] | None:
        """The webhook's fields, None when there is none (a hash without an id is a stub some
        older version left after a delete, not a webhook)."""
        f = decode_hash(self.r.hgetall(self.keys.webhook(hook_id)))
        return f if f.get("id") else None

    def read_events(
        self, consumer: str, count: int, idle_ms: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Events this consumer must fan out: its own unacknowledged ones, a dead consumer's (idle
        longer than `idle_ms`: claimed, then read as its own), then new ones."""
        stream = self.keys.events_stream
        while True:
            own = self._own_pending(consumer, count)
            if own:
                return own
            claimed = self.r.xautoclaim(
                stream, GROUP, consumer, idle_ms, "0-0", count=count, justid=True
            )
            if not claimed:
                break
        new = self.r.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
        return [(eid.decode(), _decoded(fields)) for eid, fields in (new[0][1] if new else [])]

    def _own_pending(self, consumer: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """The consumer's unacknowledged events. One trimmed from the stream meanwhile comes back
        with no fields: it is acknowledged (its event is lost, as the docs say of trimmed events),
        or it would come back first on every read and stall fan-out for good."""
        stream = self.keys.events_stream
        while True:
            read = self.r.xreadgroup(GROUP, consumer, {stream: "0"}, count=count)
            entries = read[0][1] if read else []
            gone = [eid for eid, fields in entries if not fields]
            if gone:
                self.r.xack(stream, GROUP, *gone)
            live = [(eid.decode(), _decoded(fields)) for eid, fields in entries if fields]
            if live or not gone:  # read again after trimmed ones: older events go first
                return live

    def fanned_version(self, story_id: str) -> int:
        """The summary version the story's last fanned-out event covered (0: none yet)."""
        return int(self.r.hget(self.keys.webhooks_fanned, story_id) or 0)

    def fan_out(
        self,
        entry_id: str,
        deliveries: list[tuple[str, str, dict[str, Any]]],
        covered: tuple[str, int] | None = None,
    ) -> None:
        """Queue each (webhook id, story id, delivery), record the (story, summary version) the
        event covered, and acknowledge the event, all at once."""
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        for hook_id, story_id, delivery in deliveries:
            pipe.rpush(self.keys.webhook_queue(hook_id, story_id), json.dumps(delivery))
            pipe.zadd(self.keys.webhooks_due, {f"{hook_id}|{story_id}": now}, nx=True)
        if covered is not None:
            pipe.hset(self.keys.webhooks_fanned, covered[0], str(covered[1]))
        pipe.xack(self.keys.events_stream, GROUP, entry_id)
        pipe.execute()

    def due(self, now: float, limit: int) -> list[tuple[str, str]]:
        members = self.r.zrangebyscore(self.keys.webhooks_due, "-inf", now, start=0, num=limit)
        return [(m.decode().split("|", 1)[0], m.decode().split("|", 1)[1]) for m in members]

    def lease(self, hook_id: str, story_id: str, owner: str, ttl_s: float) -> bool:
        key = self.keys.webhook_lease(hook_id, story_id)
        return bool(self.r.set(key, owner, nx=True, px=int(ttl_s * 1000)))

    def release(self, hook_id: str, story_id: str, owner: str) -> None:
        key = self.keys.webhook_lease(hook_id, story_id)
        if self.r.get(key) == owner.encode():
            self.r.delete(key)

    def head(self, hook_id: str, story_id: str) -> dict[str, Any] | None:
        raw = self.r.lindex(self.keys.webhook_queue(hook_id, story_id), 0)
        return json.loads(raw) if raw else None

    def settle(
        self,
        hook_id: str,
        story_id: str,
        delivery: dict[str, Any],
        entry: DeliveryLog,
        retry_at: float | None,
    ) -> None:
        """Log an attempt; then drop the head (retry_at None) or keep it for `retry_at`."""
        self._settle(
            keys=[
                self.keys.webhook_queue(hook_id, story_id),
                self.keys.webhooks_due,
                self.keys.webhook_log(hook_id),
                self.keys.webhook(hook_id),
            ],
            args=[
                f"{hook_id}|{story_id}",
                f"{time.time():.3f}",
                "" if retry_at is None else f"{retry_at:.3f}",
                entry.model_dump_json(),
                delivery["id"],
                json.dumps(delivery),
            ],
        )

    def count_failure(self, hook_id: str, ok: bool) -> int:
        """Failed attempts in a row: one more, or none (and no hold) after a delivery. Returns
        the count; 0 for a webhook deleted meanwhile, which stays deleted."""
        if ok:
            self._update(hook_id, {"failures": "0", "held_until": ""})
            return 0
        return max(0, self._update(hook_id, {}, count="failures"))

    def hold(self, hook_id: str, until: float) -> None:
        """No attempt to this webhook before `until` (its queues are postponed to then)."""
        self._update(hook_id, {"held_until": f"{until:.3f}"})

    def postpone(self, hook_id: str, story_id: str, until: float) -> None:
        """A queue whose webhook is held: due again at `until`, its deliveries kept in order. The
        caller holds the queue's lease; XX: a queue emptied meanwhile is not made due again."""
        self.r.zadd(self.keys.webhooks_due, {f"{hook_id}|{story_id}": until}, xx=True)

    def disable(self, hook_id: str, reason: str) -> None:
        self._update(hook_id, {"enabled": "0", "disabled_reason": reason})

    def drop_queue(self, hook_id: str, story_id: str) -> None:
        """A deleted or disabled webhook's queue: gone, and no longer due."""
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.webhook_queue(hook_id, story_id))
        pipe.zrem(self.keys.webhooks_due, f"{hook_id}|{story_id}")
        pipe.execute()

    def forget_if_empty(self, hook_id: str, story_id: str) -> None:
        self._forget(
            keys=[self.keys.webhook_queue(hook_id, story_id), self.keys.webhooks_due],
            args=[f"{hook_id}|{story_id}"],
        )
