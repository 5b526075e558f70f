"""Which summary version each story's feed item (Atom, RSS, JSON Feed) shows, and since when.

A feed item is updated in place only when the story's summary changes materially (a new fact, a
new outlet, a new conflict: core.summary_diff), not for every rewrite. The versions written since
an item was last looked at are walked once, when a feed is read; the result is kept in
`story:{id}:feeditem` (checked version, shown version, when it was shown, what changed), so a
feed read costs one hash per story after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidInput
from core.records import StoryCard
from core.storage.article_codec import decode_hash, from_ts
from core.storage.stories import Stories
from core.summary import Summary
from core.summary_diff import SummaryChanges, diff, last_material

# Written only by a reader that checked a newer version than the one stored.
_SAVE = """
if tonumber(redis.call('HGET', KEYS[1], 'checked') or '-1') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'checked', ARGV[1], 'shown', ARGV[2], 'at', ARGV[3], 'changes', ARGV[4])
return 1
"""


@dataclass(frozen=True)
class FeedItem:
    card: StoryCard
    summary: Summary | None  # the version shown (None: the story has no summary yet)
    changes: SummaryChanges | None  # from the version shown before it
    updated_at: datetime


class StoryFeedItems:
    def __init__(self, stories: Stories) -> None:
        self.r = stories.r
        self.keys = stories.keys
        self.stories = stories
        self._save = self.r.register_script(_SAVE)

    def items(self, cards: list[StoryCard]) -> list[FeedItem]:
        return [self.item(card) for card in cards]

    def item(self, card: StoryCard) -> FeedItem:
        mark = decode_hash(self.r.hgetall(self.keys.story_feed_item(card.id)))
        checked = int(mark.get("checked") or 0)
        shown = int(mark.get("shown") or 0)
        at = from_ts(mark.get("at")) or card.created_at
        changes = (
            SummaryChanges.model_validate_json(mark["changes"]) if mark.get("changes") else None
        )
        current = card.summary_version
        # The version shown may since have been thinned: compare with the nearest one kept, not
        # with nothing (which would make every fact look new).
        shown_summary = self.nearest_kept(card.id, shown) if shown else None
        if current > checked:
            newer, _ = self.stories.versions(card.id, None, current - checked)
            newer.reverse()  # oldest first
            latest, change = last_material(card.id, newer, shown_summary)
            if change is not None and latest is not None:
                shown, shown_summary, changes = latest.version, latest, change
                at = card.updated_at
            self._save(
                keys=[self.keys.story_feed_item(card.id)],
                args=[
                    current,
                    shown,
                    f"{at.timestamp():.3f}",
                    changes.model_dump_json() if changes else "",
                ],
            )
        return FeedItem(card, shown_summary, changes, at)

    def nearest_kept(self, story_id: str, version: int) -> Summary | None:
        """Version `version`, or, when it was thinned (core.storage.stories: only the last
        KEEP_VERSIONS and each day's last are kept), the newest kept before it, else the oldest
        kept after it: the diff from it says which it is (`since`). None: no version at all."""
        if version <= 0:
            return None
        before, below = self.stories.versions(story_id, version, 32)
        while not before and below is not None:  # a long thinned run: page down
            before, below = self.stories.versions(story_id, below, 32)
        if before:
            return before[0]
        after, _ = self.stories.versions(story_id, None, 1 << 30)
        return after[-1] if after else None

    def changes(self, story_id: str, since: int, version: int | None) -> SummaryChanges:
        """What changed from version `since` (0: nothing) to `version` (None: the latest)."""
        latest, _ = self.stories.versions(story_id, None, 1)  # NotFound for no such story
        newest = latest[0].version if latest else 0
        to = newest if version is None else version
        if not 0 <= since <= to <= newest:
            raise InvalidInput(
                f"versions go from 0 to {newest} here; since={since}, version={to} is not a range",
                field="since",
            )
        new = self.nearest_kept(story_id, to)
        if new is None:  # version 0 to 0: a story with no summary yet
            return SummaryChanges(story_id=story_id, since=since, version=to)
        old = self.nearest_kept(story_id, since)
        if old is not None and old.version > new.version:  # both thinned, into one kept version
            old = new
        return diff(story_id, old, new)
