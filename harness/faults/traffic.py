"""The fault run's clients: a producer that POSTs and retries as a client must, a reader."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx


def _body_ids(resp: httpx.Response) -> list[tuple[str, bool]]:
    body = resp.json()
    rows = body.get("articles", [body])
    return [(a["id"], bool(a["existing"])) for a in rows]


class Producer(threading.Thread):
    """POSTs the articles at `rate` per second; retries what fails for as long as the run lasts."""

    def __init__(
        self,
        base_url: str,
        items: list[dict[str, Any]],
        rate: float,
        deadline: float,
        seed: int,
        batch_share: float,
        on_posted: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name="producer", daemon=True)
        self.base_url, self.items, self.rate, self.deadline = base_url, items, rate, deadline
        self.rng = random.Random(seed)
        self.batch_share = batch_share
        self.on_posted = on_posted
        self.accepted: dict[str, float] = {}  # id -> time.monotonic() of its 2xx
        self.stats: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.rejected: list[str] = []
        self.posted = 0  # articles whose POST has finished (accepted, rejected or given up)
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while self.posted < len(self.items) and not self.stop.is_set():
                size = self.rng.randint(2, 4) if self.rng.random() < self.batch_share else 1
                chunk = self.items[self.posted : self.posted + size]
                delay = start + self.posted / self.rate - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                self._post(client, chunk if len(chunk) > 1 else chunk[0], len(chunk))
                self.posted += len(chunk)
                if self.on_posted:
                    self.on_posted(len(chunk))

    def _post(self, client: httpx.Client, body: Any, n: int) -> None:
        backoff = 0.05
        while not self.stop.is_set():
            if time.monotonic() > self.deadline:
                self.stats["gave_up"] += n
                return
            self.stats["requests"] += 1
            try:
                resp = client.post("/articles", json=body)
            except httpx.TransportError:
                self.stats["transport_errors"] += 1  # the API is down or died mid-request
            else:
                if resp.status_code in (200, 202):
                    now = time.monotonic()
                    for article_id, existing in _body_ids(resp):
                        self.accepted.setdefault(article_id, now)
                        self.stats["existing" if existing else "new"] += 1
                    return
                if resp.status_code == 503:
                    self.stats["http_503"] += 1  # the API is up, Redis is not
                elif resp.status_code >= 500:
                    self.stats["http_5xx"] += 1
                    self.server_errors.append(f"{resp.status_code} {resp.text[:300]}")
                else:
                    self.stats["rejected"] += n
                    self.rejected.append(f"{resp.status_code} {resp.text[:300]}")
                    return
            self.stats["retries"] += 1
            self.stop.wait(backoff)
            backoff = min(1.0, backoff * 2)


class Reader(threading.Thread):
    """Reads feeds, stories and articles while the faults happen; remembers every story id the
    API ever returned, so the end can check none of them disappeared."""

    def __init__(self, base_url: str, producer: Producer, seed: int) -> None:
        super().__init__(name="reader", daemon=True)
        self.base_url, self.producer = base_url, producer
        self.rng = random.Random(seed)
        self.seen: dict[str, float] = {}  # story id -> time.monotonic() first returned
        self.stats: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.stop = threading.Event()

    def _get(self, client: httpx.Client, url: str, **params: Any) -> dict[str, Any] | None:
        self.stats["requests"] += 1
        try:
            resp = client.get(url, params=params)
        except httpx.TransportError:
            self.stats["failed"] += 1
            return None
        if resp.status_code == 200:
            self.stats["ok"] += 1
            body: dict[str, Any] = resp.json()
            return body
        if resp.status_code == 503:
            self.stats["failed"] += 1
        elif resp.status_code >= 500:
            self.stats["http_5xx"] += 1
            self.server_errors.append(f"GET {url}: {resp.status_code} {resp.text[:300]}")
        else:
            self.stats[f"http_{resp.status_code}"] += 1
        return None

    def _saw(self, story_id: str | None) -> None:
        if story_id:
            self.seen.setdefault(story_id, time.monotonic())

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self.stop.wait(0.25):
                page = self._get(client, "/stories", limit=50)
                for card in (page or {}).get("stories", []):
                    self._saw(card["id"])
                ids = list(self.producer.accepted)
                if ids:
                    article = self._get(client, f"/articles/{self.rng.choice(ids)}")
                    self._saw((article or {}).get("story_id"))
                if self.seen:
                    self._get(client, f"/stories/{self.rng.choice(list(self.seen))}")
