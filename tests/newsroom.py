"""Stories written through the real write path (Stories.commit_assignment and write_summary, as
the worker calls them) without the model, so feed and event tests can shape them exactly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import redis

from core.keys import Keys
from core.storage.stories import Stories
from core.storage.story_records import MemberDoc
from core.summary import Summary

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


class Newsroom:
    def __init__(self, r: redis.Redis, keys: Keys | None = None) -> None:
        self.r = r
        self.keys = keys or Keys()
        self.stories = Stories(r, self.keys)
        self._ids = itertools.count(1)
        self.facts: dict[str, str] = {}

    def article(self, source: str, published: datetime = T0, url: str = "", title: str = "") -> str:
        aid = f"a{next(self._ids):04d}"
        self.r.hset(
            self.keys.article(aid),
            mapping={
                "id": aid,
                "source": source,
                "title": title,
                "url": url,
                "published_at": f"{published.timestamp():.3f}",
                "received_at": f"{published.timestamp():.3f}",
                "status": "queued",
                "text": "",
                "html": "",
            },
        )
        return aid

    def story(
        self,
        headline: str,
        sources: list[str],
        fact: str = "",
        published: datetime = T0,
        story_id: str | None = None,
    ) -> str:
        """A new story with one article per source, summarised once (story.created)."""
        sid = story_id or f"s_{next(self._ids):04d}"
        self.facts[sid] = fact
        for i, source in enumerate(sources):
            self.add(sid, source, published, created=i == 0, headline=headline, summarise=False)
        self.summarise(sid, headline)
        return sid

    def add(
        self,
        story_id: str,
        source: str,
        published: datetime = T0,
        created: bool = False,
        headline: str = "",
        summarise: bool = True,
        duplicate_of: str | None = None,
    ) -> str:
        """One more article in the story; by default the story is summarised again (updated)."""
        aid = self.article(source, published)
        ts = published.timestamp()
        self.stories.commit_assignment(
            aid, story_id, {"size": "1"}, ts, ts, created, headline, duplicate_of
        )
        if summarise:
            self.summarise(story_id, headline or self.headline(story_id))
        return aid

    def headline(self, story_id: str) -> str:
        return (self.r.hget(self.keys.story(story_id), "headline") or b"").decode()

    def summarise(self, story_id: str, headline: str) -> None:
        fact = self.facts.get(story_id, "")

        def build(members: list[MemberDoc]) -> Summary:
            return Summary.from_dict(
                {
                    "headline": headline,
                    "consensus": [
                        {
                            "text": fact or headline,
                            "sources": sorted({m.source for m in members}),
                            "support": len({m.source for m in members}),
                            "article_ids": [m.article_id for m in members],
                        }
                    ],
                    "unique": [],
                    "conflicts": [],
                }
            )

        # Each call stands for a story that changed (the feed and event tests shape versions
        # one by one); an unchanged story's summary is not written again.
        self.stories.mark_changed(story_id)
        self.stories.write_summary(story_id, build)
