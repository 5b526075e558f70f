"""The worker's traffic with the outside world, beside its two pipeline stages: feeds polled in
(workers.sources.poll) and webhooks delivered out (workers.webhooks.deliver).

Run by workers.runner.Worker: in a long-running worker, two daemon threads until `stop`; in burst
mode, the due feeds are polled before the streams are drained (so their articles are placed in
the same run) and the webhook deliveries due are sent after (so the events of that run go out).
Each loop has its own HTTP client (httpx clients are not shared across threads here).
"""

from __future__ import annotations

import threading

from core.config import Settings
from core.storage import Storage
from core.storage.sources import Sources
from core.storage.webhooks import Webhooks
from workers.sources.fetch import Resolver
from workers.sources.poll import Poller, PollLoop, fetcher_for
from workers.webhooks.deliver import Deliverer, Fanout, WebhookLoop


class OutsideWork:
    def __init__(
        self, storage: Storage, settings: Settings, name: str, resolve: Resolver | None = None
    ) -> None:
        self.name = name
        poller = Poller(
            settings, Sources.of(storage), storage.articles, fetcher_for(settings, resolve), name
        )
        self.feeds = PollLoop(poller)
        webhooks = Webhooks.of(storage)
        fanout = Fanout(webhooks, storage.stories, name, settings.claim_min_idle_ms)
        deliverer = Deliverer(settings, webhooks, fetcher_for(settings, resolve), name)
        self.hooks = WebhookLoop(fanout, deliverer)

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Poll feeds and deliver webhooks in the background until `stop` is set."""
        threads = [
            threading.Thread(
                target=self.feeds.run, args=(stop,), name=f"{self.name}-feeds", daemon=True
            ),
            threading.Thread(
                target=self.hooks.run, args=(stop,), name=f"{self.name}-webhooks", daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        return threads

    def poll_due(self, stop: threading.Event) -> int:
        """Burst: every feed due now, once."""
        return self.feeds.run(stop, burst=True)

    def deliver_due(self, stop: threading.Event) -> int:
        """Burst: fan out the waiting events and send what is due now."""
        return self.hooks.run(stop, burst=True)
