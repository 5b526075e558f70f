"""Stories written through the real write path (Stories.commit_assignment and write_summary, as
the worker calls them) with summaries given exactly, for the feed, change and webhook tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis

from core.keys import Keys
from core.storage.stories import Stories
from core.storage.story_records import MemberDoc
from core.summary import Claim, Conflict, ConsensusFact, SourceFacts, Summary, UniqueFact

T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
DAM = "The earthen dam above Millbrook partly gave way on Tuesday."
EVAC = "About 4,000 residents of Kestrel Valley were evacuated."
TOLL = "Two people were treated in hospital for hypothermia."


class Desk:
    """Stories written through the real write path (commit_assignment, write_summary)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.keys = Keys()
        self.stories = Stories(r, self.keys)
        self.n = 0

    def article(self, story_id: str, source: str, created: bool = False) -> None:
        self.n += 1
        aid = f"a{self.n:03d}"
        ts = T0.timestamp() + self.n
        self.r.hset(
            self.keys.article(aid),
            mapping={
                "id": aid,
                "source": source,
                "title": "",
                "url": "",
                "published_at": f"{ts:.3f}",
                "received_at": f"{ts:.3f}",
                "status": "queued",
                "text": "",
                "html": "",
            },
        )
        self.stories.commit_assignment(aid, story_id, {"size": "1"}, ts, ts, created, "Dam")

    def summarise(self, story_id: str, summary: Summary) -> None:
        # A new member each time, so the write is not skipped as already summarised.
        def build(members: list[MemberDoc]) -> Summary:
            return Summary.from_dict(summary.to_dict())

        assert self.stories.write_summary(story_id, build)
        time.sleep(0.01)  # distinct update times


def fact(text: str, *sources: str) -> ConsensusFact:
    return ConsensusFact(text=text, sources=list(sources), support=len(sources))


def v1() -> Summary:
    return Summary(
        headline="Millbrook dam gives way",
        consensus=[fact(DAM, "Northwind", "Harbor")],
        unique=[SourceFacts("Northwind", [UniqueFact(EVAC)])],
    )


def v2() -> Summary:
    """v1 plus a fact, an outlet (The Ledger) and a conflict."""
    return Summary(
        headline="Millbrook dam gives way, thousands evacuated",
        consensus=[
            fact(DAM, "Northwind", "Harbor", "The Ledger"),
            fact(EVAC, "Northwind", "The Ledger"),
        ],
        unique=[SourceFacts("Harbor", [UniqueFact(TOLL)])],
        conflicts=[
            Conflict(
                "evacuated",
                [
                    Claim("Northwind", "4,000", EVAC),
                    Claim("Harbor", "3,000", "3,000 left.", side=1),
                ],
            )
        ],
    )
