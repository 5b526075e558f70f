"""Webhooks: signed deliveries to a loopback receiver, retried then acknowledged once, ordered per
story, not lost when the delivering (or fanning-out) worker dies, disabled after persistent
failure, refused by the SSRF guard under default settings."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from desk import Desk, fact, v1, v2
from fastapi.testclient import TestClient
from loopback_server import LoopbackServer, Reply, Seen, loopback_server

from core.config import Settings
from core.keys import Keys
from core.storage.stories import Stories
from core.storage.webhooks import WebhookIn, Webhooks
from core.summary import Summary
from service.app import create_app
from workers.sources.poll import fetcher_for
from workers.webhooks.deliver import Deliverer, Fanout, verify

FAST = {
    "fetch_allow_private": True,
    "fetch_timeout_s": 2.0,
    "webhook_retry_base_s": 0.05,
    "webhook_retry_max_s": 0.2,
}


class Receiver:
    """Answers from a script (then 200 for ever), checking every signature; 503 to everything
    while it is down (until `down_until`, a time.monotonic())."""

    def __init__(self, server: LoopbackServer, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.down_until = 0.0
        self.secret = ""
        self.got: list[tuple[dict[str, Any], bool, int]] = []  # body, signature valid, answer
        server.routes["/hook"] = self.route

    def route(self, seen: Seen) -> Reply:
        valid = verify(
            self.secret, seen.body, seen.headers.get("x-storyfold-signature", ""), time.time()
        )
        status = 503 if time.monotonic() < self.down_until else self.scripted()
        body = json.loads(seen.body)
        assert seen.headers["x-storyfold-delivery"] == body["delivery_id"]
        self.got.append((body, valid, status))
        return Reply(status, b"ok")

    def scripted(self) -> int:
        return self.statuses.pop(0) if self.statuses else 200

    def delivered(self) -> list[dict[str, Any]]:
        return [body for body, _, status in self.got if status == 200]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as s:
        yield s


class Pipeline:
    def __init__(self, r: redis.Redis, settings: Settings, name: str = "w1") -> None:
        keys = Keys(settings.key_prefix)
        self.webhooks = Webhooks(r, keys)
        self.fanout = Fanout(self.webhooks, Stories(r, keys), name, claim_idle_ms=0)
        self.deliverer = Deliverer(settings, self.webhooks, fetcher_for(settings), name)

    def until(self, done: Callable[[], bool], timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, "not delivered in time"
            self.fanout.run_once()
            self.deliverer.run_once()
            time.sleep(0.02)

    def settle(self, seconds: float = 0.5) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.fanout.run_once()
            self.deliverer.run_once()
            time.sleep(0.02)


def subscribe(
    client: TestClient, server: LoopbackServer, receiver: Receiver, events: list[str]
) -> str:
    resp = client.post("/webhooks", json={"url": f"{server.base}/hook", "events": events})
    assert resp.status_code == 201, resp.text
    receiver.secret = resp.json()["secret"]
    assert len(receiver.secret) >= 32
    hook_id: str = resp.json()["id"]
    return hook_id


def test_signed_delivery_fails_twice_then_is_acknowledged_once(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    s = settings.model_copy(update=FAST)
    receiver = Receiver(server, [500, 500])
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created", "story.updated"])
        assert client.get(f"/webhooks/{hook_id}").json()["secret"] is None  # shown once
        desk = Desk(r)
        desk.article("s_dam", "Northwind", created=True)
        desk.article("s_dam", "Harbor")
        desk.summarise("s_dam", v1())
        pipeline = Pipeline(r, s)
        pipeline.until(lambda: len(receiver.delivered()) == 1)
        pipeline.settle()

        assert [(b["attempt"], ok, status) for b, ok, status in receiver.got] == [
            (1, True, 500),
            (2, True, 500),
            (3, True, 200),
        ]
        assert len({b["delivery_id"] for b, _, _ in receiver.got}) == 1
        body = receiver.delivered()[0]
        assert (body["event"], body["story_id"], body["story"]["headline"]) == (
            "story.created",
            "s_dam",
            "Millbrook dam gives way",
        )
        assert body["changes"]["outlets_added"] == ["Harbor", "Northwind"]
        log = client.get(f"/webhooks/{hook_id}/deliveries").json()["deliveries"]
        assert [(d["attempt"], d["outcome"], d["status"]) for d in log] == [
            (3, "delivered", 200),
            (2, "failed", 500),
            (1, "failed", 500),
        ]
        hook = client.get(f"/webhooks/{hook_id}").json()
        assert (hook["enabled"], hook["failures"]) == (True, 0)
    assert not verify(receiver.secret, body_bytes(body), "sha256=" + "0" * 64, time.time())


def test_a_receiver_that_answers_with_a_long_page_has_its_delivery(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """Many receivers answer 200 with a whole HTML page: the delivery arrived, so it is not
    retried (a duplicate) nor counted towards disabling the hook."""
    s = settings.model_copy(update=FAST)
    receiver = Receiver(server)
    page = b"<html>" + b"<p>thanks</p>" * 20_000 + b"</html>"  # ~260 kB
    server.routes["/hook"] = lambda seen: (receiver.route(seen), Reply(200, page))[1]
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created"])
        desk = Desk(r)
        desk.article("s_page", "Northwind", created=True)
        desk.summarise("s_page", v1())
        pipeline = Pipeline(r, s)
        pipeline.until(lambda: len(receiver.got) == 1)
        pipeline.settle()
        assert len(receiver.got) == 1  # not posted again
        log = client.get(f"/webhooks/{hook_id}/deliveries").json()["deliveries"]
        assert [(d["attempt"], d["outcome"], d["status"]) for d in log] == [(1, "delivered", 200)]
        assert client.get(f"/webhooks/{hook_id}").json()["failures"] == 0


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def test_signature_check_refuses_tampering_and_replays() -> None:
    from workers.webhooks.deliver import sign

    body = json.dumps({"event": "story.created", "timestamp": 1_000_000}).encode()
    good = sign("k" * 32, body)
    assert verify("k" * 32, body, good, now=1_000_100)
    assert not verify("k" * 32, body.replace(b"created", b"updated"), good, now=1_000_100)
    assert not verify("x" * 32, body, good, now=1_000_100)
    assert not verify("k" * 32, body, good, now=1_000_000 + 3600)  # a replay an hour later


def test_ordered_per_story_and_nothing_lost_when_workers_die(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    s = settings.model_copy(update=FAST)
    receiver = Receiver(server, [500])  # the story's first event fails once
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created", "story.updated"])
    desk = Desk(r)
    desk.article("s_dam", "Northwind", created=True)
    desk.summarise("s_dam", v1())
    desk.article("s_dam", "The Ledger")
    desk.summarise("s_dam", v2())
    pipeline = Pipeline(r, s)
    pipeline.until(lambda: len(receiver.delivered()) == 2)
    sent = [(b["event"], status) for b, _, status in receiver.got]
    # The update waited behind the created event's retry: per story, in event order.
    assert sent == [("story.created", 500), ("story.created", 200), ("story.updated", 200)]
    # Both rewrites landed before the fan-out: the first event tells every change once, the
    # second has nothing left to tell.
    created, updated = receiver.delivered()
    assert created["changes"]["outlets_added"] == ["Harbor", "Northwind", "The Ledger"]
    assert updated["changes"]["since"] == updated["changes"]["version"] == 2
    assert updated["changes"]["facts_added"] == updated["changes"]["outlets_added"] == []

    # A worker killed after its POST, before acknowledging: the delivery is sent again, same id.
    desk.article("s_dam", "Harbor")
    desk.summarise("s_dam", Summary(headline="Dam", consensus=[fact("New fact.", "Harbor")]))
    dying = Pipeline(r, s, "dying")

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    dying.fanout.run_once()
    dying.webhooks.settle = killed  # type: ignore[method-assign]
    (due,) = dying.webhooks.due(time.time(), 10)
    assert dying.webhooks.lease(*due, "dying", 30)
    with pytest.raises(SystemExit):
        dying.deliverer.attempt(*due)
    assert len(receiver.got) == 4
    other = Pipeline(r, s, "other")
    assert other.deliverer.run_once() == 0  # the dead worker's lease still holds it
    r.delete(Keys(s.key_prefix).webhook_lease(*due))  # its TTL runs out
    other.until(lambda: len(receiver.got) == 5)
    assert receiver.got[3][0]["delivery_id"] == receiver.got[4][0]["delivery_id"]
    resent = receiver.got[4][0]["delivery_id"]
    logged = [(d.delivery_id, d.outcome) for d in other.webhooks.log(hook_id)]
    assert logged[0] == (resent, "delivered") and logged.count((resent, "delivered")) == 1

    # A worker killed while fanning out: the event stays pending and another worker takes it.
    desk.article("s_dam", "Coastal Times")
    desk.summarise(
        "s_dam", Summary(headline="Dam", consensus=[fact("Later fact.", "Coastal Times")])
    )
    crashing = Pipeline(r, s, "crashing")
    crashing.webhooks.fan_out = killed  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        crashing.fanout.run_once()
    other.until(lambda: len(receiver.got) == 6)
    other.settle()
    assert len(receiver.got) == 6
    assert receiver.got[5][0]["changes"]["outlets_added"] == ["Coastal Times"]


def test_persistent_failure_disables_and_default_settings_refuse_loopback(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    s = settings.model_copy(update={**FAST, "webhook_max_failures": 3})
    receiver = Receiver(server, [500] * 100)
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created"])
        desk = Desk(r)
        desk.article("s_dam", "Northwind", created=True)
        desk.summarise("s_dam", v1())
        pipeline = Pipeline(r, s)
        pipeline.until(lambda: not client.get(f"/webhooks/{hook_id}").json()["enabled"])
        hook = client.get(f"/webhooks/{hook_id}").json()
        assert "3 failed attempts in a row" in hook["disabled_reason"]
        desk.article("s_ferry", "Harbor", created=True)
        desk.summarise("s_ferry", v1())
        pipeline.settle()
        assert len(receiver.got) == 3  # nothing more after it was disabled

        # The receiver is fixed; its owner turns the webhook on again.
        receiver.statuses = []
        back = client.patch(f"/webhooks/{hook_id}", json={"enabled": True})
        assert back.status_code == 200, back.text
        assert back.json()["enabled"] and back.json()["failures"] == 0
        assert back.json()["disabled_reason"] is None
        desk.article("s_bridge", "Harbor", created=True)
        desk.summarise("s_bridge", v1())
        pipeline.until(lambda: bool(receiver.delivered()))
        pipeline.settle()
        # Events from while it was off are not replayed: only the new story arrives.
        assert [b["story_id"] for b in receiver.delivered()] == ["s_bridge"]
        paused = client.patch(f"/webhooks/{hook_id}", json={"enabled": False}).json()
        assert not paused["enabled"] and paused["disabled_reason"] == "disabled by its owner"
        bad = client.patch(f"/webhooks/{hook_id}", json={"enabled": "soon"})
        assert bad.status_code == 422 and "enabled" in bad.text
        assert client.patch("/webhooks/wh_nope", json={"enabled": True}).status_code == 404

    r.flushdb()
    blocked = Receiver(server)
    with TestClient(create_app(settings)) as client:  # default settings: loopback refused
        for url in (f"{server.base}/hook", "ftp://x.test/", "http://169.254.169.254/"):
            resp = client.post("/webhooks", json={"url": url, "events": ["story.created"]})
            assert resp.status_code == 422, resp.text
        # A name that resolved to a public address when posted and to loopback later: refused
        # when delivering (stored here directly, as the API would have).
        hook = Webhooks(r, Keys()).add(
            WebhookIn(url=f"{server.base}/hook", events=["story.created"])
        )
        hook_id = hook.id
        desk = Desk(r)
        desk.article("s_dam", "Northwind", created=True)
        desk.summarise("s_dam", v1())
        pipeline = Pipeline(r, settings)
        pipeline.until(
            lambda: bool(client.get(f"/webhooks/{hook_id}/deliveries").json()["deliveries"])
        )
        (entry,) = client.get(f"/webhooks/{hook_id}/deliveries").json()["deliveries"]
        assert entry["outcome"] == "blocked" and "non-public" in entry["error"]
    assert blocked.got == []


DOOMED = """
import threading
from core.config import Settings
from storyfold.compose import build_storage
from workers.sources.outside import OutsideWork

s = Settings()
OutsideWork(build_storage(s, s.redis_url), s, "doomed").hooks.run(threading.Event())
"""


def test_a_delivering_worker_killed_mid_post_loses_nothing(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """A real worker process is SIGKILLed while its POST is in flight: the delivery stays queued,
    another worker sends it again (same delivery id), and it is logged delivered once."""
    import os
    import signal
    import subprocess
    import sys

    s = settings.model_copy(update=FAST)
    receiver = Receiver(server)
    arrived, release = threading.Event(), threading.Event()
    first: list[str] = []

    def hold_first(seen: Seen) -> Reply:
        if not first:
            first.append(seen.headers["x-storyfold-delivery"])
            arrived.set()
            release.wait(60)  # the worker is killed while waiting for this answer
            return Reply(200)
        return receiver.route(seen)

    server.routes["/hook"] = hold_first
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created"])
    desk = Desk(r)
    desk.article("s_dam", "Northwind", created=True)
    desk.summarise("s_dam", v1())
    env = {
        **os.environ,
        "STORYFOLD_REDIS_URL": s.redis_url or "",
        "STORYFOLD_FETCH_ALLOW_PRIVATE": "true",
        "STORYFOLD_LOG_JSON": "true",
    }
    doomed = subprocess.Popen([sys.executable, "-c", DOOMED], env=env, cwd=os.getcwd())
    try:
        assert arrived.wait(120), "the worker process never posted"
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    try:
        keys = Keys(s.key_prefix)
        assert r.llen(keys.webhook_queue(hook_id, "s_dam")) == 1  # still queued
        assert Webhooks(r, keys).log(hook_id) == []  # and never settled
        r.delete(keys.webhook_lease(hook_id, "s_dam"))  # the dead worker's lease expires
        survivor = Pipeline(r, s, "survivor")
        survivor.until(lambda: len(receiver.delivered()) == 1)
        survivor.settle()
    finally:
        release.set()
    assert [body["delivery_id"] for body in receiver.delivered()] == first  # sent again, same id
    assert len(receiver.got) == 1
    log = Webhooks(r, keys).log(hook_id)
    assert [(d.outcome, d.attempt) for d in log] == [("delivered", 1)]


def test_a_short_outage_with_many_stories_queued_delays_them_and_loses_none(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """A receiver restarting while more stories wait than WEBHOOK_MAX_FAILURES: it is tried once
    per back-off step, not once per story, so it stays enabled and gets every event, each story's
    in order."""
    s = settings.model_copy(update={**FAST, "webhook_max_failures": 10})
    receiver = Receiver(server)
    stories = [f"s_{n:02d}" for n in range(32)]
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created", "story.updated"])
        desk = Desk(r)
        for story in stories:
            desk.article(story, "Northwind", created=True)
            desk.summarise(story, v1())
            desk.article(story, "The Ledger")
            desk.summarise(story, v2())

        def all_delivered() -> bool:
            assert client.get(f"/webhooks/{hook_id}").json()["enabled"], "disabled"
            return len(receiver.delivered()) == 2 * len(stories)

        def restarting(seen: Seen) -> Reply:
            if not receiver.got:  # down for half a second from the first delivery on
                receiver.down_until = time.monotonic() + 0.5
            return receiver.route(seen)

        server.routes["/hook"] = restarting
        Pipeline(r, s).until(all_delivered, timeout_s=20)
        hook = client.get(f"/webhooks/{hook_id}").json()
        assert (hook["enabled"], hook["failures"]) == (True, 0)
    failed = [b for b, _, status in receiver.got if status == 503]
    assert 1 <= len(failed) <= 6, len(failed)  # one per back-off step (0.05 s doubling to 0.2)
    for story in stories:
        events = [b["event"] for b in receiver.delivered() if b["story_id"] == story]
        assert events == ["story.created", "story.updated"], story
    assert len({b["delivery_id"] for b in receiver.delivered()}) == 2 * len(stories)


def test_a_webhook_that_breaks_the_sender_fails_alone_and_is_disabled(
    r: redis.Redis, settings: Settings, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error nobody foresaw while sending to one webhook is that webhook's failed attempt
    (retried, then disabled): every other webhook still gets its deliveries."""
    s = settings.model_copy(update={**FAST, "webhook_max_failures": 3})
    receiver = Receiver(server)
    with TestClient(create_app(s)) as client:
        for url in (f"{server.base}/h\u0001", f"{server.base}/h\u007f", f"{server.base}/a b"):
            refused = client.post("/webhooks", json={"url": url, "events": ["story.created"]})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["field"] == "body.url"
        broken = client.post(
            "/webhooks", json={"url": f"{server.base}/broken", "events": ["story.created"]}
        ).json()["id"]
        subscribe(client, server, receiver, ["story.created"])
        desk = Desk(r)
        desk.article("s_dam", "Northwind", created=True)
        desk.summarise("s_dam", v1())
        pipeline = Pipeline(r, s)
        send = pipeline.deliverer.fetcher.post

        def buggy(url: str, body: bytes, headers: Any) -> Any:
            if url.endswith("/broken"):
                raise RuntimeError("resolver answered garbage")
            return send(url, body, headers)

        monkeypatch.setattr(pipeline.deliverer.fetcher, "post", buggy)
        pipeline.until(lambda: not client.get(f"/webhooks/{broken}").json()["enabled"])
        desk.article("s_ferry", "Harbor", created=True)
        desk.summarise("s_ferry", v1())
        pipeline.until(lambda: len(receiver.delivered()) == 2)
        assert [b["story_id"] for b in receiver.delivered()] == ["s_dam", "s_ferry"]
        hook = client.get(f"/webhooks/{broken}").json()
        assert "3 failed attempts in a row" in hook["disabled_reason"]
        log = client.get(f"/webhooks/{broken}/deliveries").json()["deliveries"]
        assert [(d["attempt"], d["outcome"]) for d in log] == [(n, "failed") for n in (3, 2, 1)]
        assert log[0]["error"] == "RuntimeError: resolver answered garbage"


def test_a_webhook_deleted_while_its_delivery_is_in_flight_is_gone(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """The receiver answers 2xx after its webhook was deleted: nothing of it comes back."""
    s = settings.model_copy(update=FAST)
    receiver = Receiver(server)
    with TestClient(create_app(s)) as client:
        hook_id = subscribe(client, server, receiver, ["story.created"])

        def delete_then_answer(seen: Seen) -> Reply:
            assert client.delete(f"/webhooks/{hook_id}").status_code in (204, 404)
            return receiver.route(seen)

        server.routes["/hook"] = delete_then_answer
        desk = Desk(r)
        for story in ("s_dam", "s_ferry"):
            desk.article(story, "Northwind", created=True)
            desk.summarise(story, v1())
        pipeline = Pipeline(r, s)
        pipeline.until(lambda: len(receiver.got) == 1)
        pipeline.settle(0.3)
        assert len(receiver.got) == 1  # the other story's delivery was dropped with the webhook
        assert client.get(f"/webhooks/{hook_id}").status_code == 404
        assert client.patch(f"/webhooks/{hook_id}", json={"enabled": True}).status_code == 404
        assert client.get(f"/webhooks/{hook_id}/deliveries").status_code == 404
        assert client.get("/webhooks").json()["webhooks"] == []
    assert list(r.scan_iter(match=f"*{hook_id}*")) == []


def test_an_event_trimmed_while_pending_does_not_stop_fan_out(
    r: redis.Redis, settings: Settings, server: LoopbackServer
) -> None:
    """A worker dies between reading an event and fanning it out, and the stream is trimmed past
    that event before anyone reads it again: that event is lost, the later ones are delivered."""
    s = settings.model_copy(update=FAST)
    receiver = Receiver(server)
    with TestClient(create_app(s)) as client:
        subscribe(client, server, receiver, ["story.created"])
    desk = Desk(r)
    stream = Keys(s.key_prefix).events_stream

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    sent: list[str] = []
    # The worker restarts under its own name (its pending entry), then under another (claimed).
    for crashed, successor, story in (("w1", "w1", "s_dam"), ("w2", "other", "s_ferry")):
        desk.article(f"{story}_lost", "Northwind", created=True)
        desk.summarise(f"{story}_lost", v1())
        crashing = Pipeline(r, s, crashed)
        crashing.webhooks.fan_out = killed  # type: ignore[method-assign]
        with pytest.raises(SystemExit):
            crashing.fanout.run_once()
        desk.article(story, "Northwind", created=True)
        desk.summarise(story, v1())
        r.xtrim(stream, maxlen=1, approximate=False)  # as EVENTS_RETENTION trims, much later
        Pipeline(r, s, successor).until(lambda: len(receiver.delivered()) == len(sent) + 1, 5)
        sent.append(story)
    assert [b["story_id"] for b in receiver.delivered()] == sent == ["s_dam", "s_ferry"]
