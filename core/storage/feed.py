"""The story feed: filters, two orders, and opaque cursors that neither skip nor repeat a story.

sort=updated (default): latest change first, keyset on the update sequence `seq` (unique per
change, see stories._TOUCH). The cursor holds the seq of the last story returned and the next page
is everything below it. A story changed mid-read gets a seq above every page, i.e. it moves ahead
of the reader: it is not repeated, and not lost either, because every page carries `latest_seq`
(the seq when the traversal began) and `?updated_after=latest_seq` after the last page returns
exactly the stories changed or created meanwhile.

sort=size: most articles first, ties by id (both descending). Sizes change under a reader, and a
live keyset would skip a story that grows past the cursor, so the first page freezes every story's
size in a snapshot zset (read story by story, then renamed into place). The snapshot is named after
the update seq it was taken at, shared by every traversal starting within SNAPSHOT_REUSE_S of it
(those report its seq as latest_seq), and expires
feed_snapshot_ttl_s after its last use; the cursor is the (size, id) of the last story returned in
it. Cards show live data in snapshot order; what changed meanwhile again comes from updated_after.
A cursor whose snapshot has expired answers 410: start again from the first page.

Filters are checked against live data while walking the order, at most feed_scan_max stories per
request, so a sparse filter may answer a short (even empty) page with has_more=true.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis

from core.cursors import Key, decode_cursor, encode_cursor
from core.errors import InvalidInput, StoryfoldError
from core.keys import Keys
from core.records import StoryCard, StoryPage
from core.storage.article_codec import decode_hash
from core.storage.stories import Stories

Sort = Literal["updated", "size"]
_WORD = re.compile(r"\w+")
_CHUNK = 100  # at most this many stories read per round trip while walking the order

# A fresh sort=size traversal within this many seconds of the last snapshot walks that one (and
# reports its seq as latest_seq, so updated_after still returns exactly what changed since):
# at most feed_snapshot_ttl_s / SNAPSHOT_REUSE_S snapshots live at once, not one per feed update.
SNAPSHOT_REUSE_S = 30


class CursorExpired(StoryfoldError):
    status = 410
    title = "Cursor expired"
    slug = "cursor-expired"


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class FeedQuery:
    limit: int
    sort: Sort = "updated"
    cursor: str | None = None
    updated_after: int | None = None
    min_sources: int | None = None
    q: str | None = None
    source: str | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None
    include_merged: bool = False

    def fingerprint(self) -> str:
        """What a cursor is bound to: the order and the filters, not the page size."""
        parts = [
            self.sort,
            self.updated_after,
            self.min_sources,
            sorted(words(self.q or "")),
            self.source,
            self.published_after and self.published_after.timestamp(),
            self.published_before and self.published_before.timestamp(),
            self.include_merged,
        ]
        return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:12]


def _summary_words(raw: bytes | None) -> set[str]:
    if not raw:
        return set()
    summary: dict[str, Any] = json.loads(raw)
    texts = [str(summary.get("headline") or "")]
    texts += [c.get("text", "") for c in summary.get("consensus", [])]
    texts += [f.get("text", "") for u in summary.get("unique", []) for f in u.get("facts", [])]
    for conflict in summary.get("conflicts", []):
        texts += [conflict.get("about", "")] + [c.get("text", "") for c in conflict["claims"]]
    return words(" ".join(texts))


class Feed:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        stories: Stories,
        scan_max: int = 2000,
        snapshot_ttl_s: int = 600,
    ) -> None:
        self.r = client
        self.keys = keys
        self.stories = stories
        self.scan_max = scan_max
        self.snapshot_ttl_s = snapshot_ttl_s

    def page(self, query: FeedQuery) -> StoryPage:
        key: Key | None = None
        if query.cursor:
            latest_seq, key = decode_cursor(query.cursor, query.fingerprint(), query.sort == "size")
        else:
            latest_seq = int(self.r.get(self.keys.update_seq) or 0)
        if query.sort == "size" and query.cursor is None:
            latest_seq = self._snapshot(latest_seq)
        if query.sort == "size":
            walk = self._walk_size(latest_seq, key, query.limit + 1, fresh=query.cursor is None)
        else:
            walk = self._walk_updated(query.updated_after, key, query.limit + 1)
        cards, next_key = self._collect(query, walk)
        return StoryPage(
            stories=cards,
            next_cursor=None
            if next_key is None
            else encode_cursor(query.fingerprint(), latest_seq, next_key),
            has_more=next_key is not None,
            latest_seq=latest_seq,
        )

    # -- orders: chunks of (story id, its position) ---------------------------------------------
    # The first chunk is what an unfiltered page needs; filters that drop stories make the
    # following chunks grow, so a sparse filter takes few round trips.
    def _walk_updated(
        self, after: int | None, key: Key | None, chunk: int
    ) -> Iterator[list[tuple[str, Key]]]:
        upper = f"({key}" if key is not None else "+inf"
        lower = f"({after}" if after is not None else "-inf"
        while True:
            rows = self.r.zrevrangebyscore(
                self.keys.stories_updated, upper, lower, start=0, num=chunk, withscores=True
            )
            if not rows:
                return
            yield [(sid.decode(), int(score)) for sid, score in rows]
            upper, chunk = f"({int(rows[-1][1])}", min(chunk * 2, _CHUNK)

    def _walk_size(
        self, seq: int, key: Key | None, chunk: int, fresh: bool
    ) -> Iterator[list[tuple[str, Key]]]:
        snapshot = self.keys.feed_size_snapshot(seq)
        if fresh:
            pass  # page() just made or chose it
        elif not self.r.expire(snapshot, self.snapshot_ttl_s):
            raise CursorExpired(
                f"the size order this cursor walks was dropped after {self.snapshot_ttl_s}s "
                "unused; start again from the first page",
                field="cursor",
            )
        start = 0
        if isinstance(key, tuple):
            rank = self.r.zrevrank(snapshot, key[1])
            if rank is None:
                raise InvalidInput("not a cursor this server issued", field="cursor")
            start = rank + 1
        while True:
            rows = self.r.zrevrange(snapshot, start, start + chunk - 1, withscores=True)
            if not rows:
                return
            yield [(sid.decode(), (int(score), sid.decode())) for sid, score in rows]
            start, chunk = start + len(rows), min(chunk * 2, _CHUNK)

    def _snapshot(self, seq: int) -> int:
        """The seq of the snapshot a fresh traversal walks: the last one if it is recent (see
        SNAPSHOT_REUSE_S), else a new one taken at `seq`. The sizes are read story by story (each
        story hash is its own slot on a cluster), written under a temporary name and renamed
        into place: a reader sees a whole snapshot or none, and two readers making the same one
        keep the first."""
        last = self.r.get(self.keys.feed_size_latest)
        if last is not None and self.r.expire(
            self.keys.feed_size_snapshot(int(last)), self.snapshot_ttl_s
        ):
            return int(last)
        snapshot = self.keys.feed_size_snapshot(seq)
        if not self.r.expire(snapshot, self.snapshot_ttl_s):
            ids = self.r.zrange(self.keys.stories_updated, 0, -1)
            temp = f"{snapshot}:building:{uuid.uuid4().hex[:8]}"
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                pipe = self.r.pipeline(transaction=False)
                for sid in chunk:
                    pipe.hget(self.keys.story(sid.decode()), "article_count")
                sizes = pipe.execute()
                self.r.zadd(temp, {sid: int(n or 0) for sid, n in zip(chunk, sizes, strict=True)})
            if ids:
                self.r.expire(temp, self.snapshot_ttl_s)
                if not self.r.renamenx(temp, snapshot):
                    self.r.delete(temp)
                self.r.expire(snapshot, self.snapshot_ttl_s)
        self.r.set(self.keys.feed_size_latest, seq, ex=SNAPSHOT_REUSE_S)
        return seq

    # -- filters ---------------------------------------------------------------------------------
    def _collect(
        self, query: FeedQuery, walk: Iterator[list[tuple[str, Key]]]
    ) -> tuple[list[StoryCard], Key | None]:
        """The page's cards and the position to continue after (None: the order is exhausted)."""
        found: list[tuple[StoryCard, Key]] = []
        scanned = 0
        for chunk in walk:
            matches = self._matching(query, [sid for sid, _ in chunk])
            for sid, key in chunk:
                scanned += 1
                card = matches.get(sid)
                if card is not None:
                    found.append((card, key))
                    if len(found) > query.limit:
                        return [c for c, _ in found[: query.limit]], found[query.limit - 1][1]
                if scanned >= self.scan_max:
                    # Budget spent: answer what was found and continue after what was examined.
                    return [c for c, _ in found], key
        return [c for c, _ in found], None

    def _matching(self, query: FeedQuery, ids: list[str]) -> dict[str, StoryCard]:
        pipe = self.r.pipeline(transaction=False)
        for sid in ids:
            pipe.hgetall(self.keys.story(sid))
        # What changed after updated_after is what the update order says: a touch moves the story
        # there (with the event) one step before it stamps `seq` on the story, so the hash's copy
        # can lag and a poll in between would skip the change for good. The updated walk starts
        # past updated_after already; the size walk asks the order.
        after = query.updated_after if query.sort == "size" else None
        if after is not None:
            pipe.zmscore(self.keys.stories_updated, ids)
        replies = pipe.execute()
        seqs = replies.pop() if after is not None else [None] * len(ids)
        cards: dict[str, StoryCard] = {}
        for sid, raw, seq in zip(ids, replies, seqs, strict=True):
            if not raw:
                continue
            fields = decode_hash(raw)
            card = self.stories.card(fields)
            if card.merged_into and not query.include_merged:
                continue
            if query.min_sources is not None and card.source_count < query.min_sources:
                continue
            if after is not None and (seq is None or seq <= after):
                continue
            cards[sid] = card
        # Cheapest first: each check reads Redis only for the stories the previous ones kept.
        for check in (self._has_words, self._published_within, self._has_source):
            if cards:
                keep = check(query, cards)
                cards = {sid: card for sid, card in cards.items() if sid in keep}
        return cards

    def _has_words(self, query: FeedQuery, cards: dict[str, StoryCard]) -> set[str]:
        """Every word of `q` in the headline or anywhere in the summary's text."""
        wanted = words(query.q or "")
        if not wanted:
            return set(cards)
        summaries = self.stories.summaries_stored(list(cards))  # archived ones from disk
        return {
            sid
            for (sid, card), summary in zip(cards.items(), summaries, strict=True)
            if wanted <= words(card.headline) | _summary_words(summary)
        }

    def _published_within(self, query: FeedQuery, cards: dict[str, StoryCard]) -> set[str]:
        """At least one article published (else received) within the range, ends included."""
        ids = list(cards)
        if query.published_after is None and query.published_before is None:
            return set(ids)
        low = query.published_after.timestamp() if query.published_after else "-inf"
        high = query.published_before.timestamp() if query.published_before else "+inf"
        pipe = self.r.pipeline(transaction=False)
        for sid in ids:
            pipe.zcount(self.keys.story_articles(sid), low, high)
        return {sid for sid, n in zip(ids, pipe.execute(), strict=True) if n}

    def _has_source(self, query: FeedQuery, cards: dict[str, StoryCard]) -> set[str]:
        """An article from exactly this source (near-duplicates count: they were published)."""
        ids = list(cards)
        if query.source is None:
            return set(ids)
        pipe = self.r.pipeline(transaction=False)
        for sid in ids:
            pipe.zrange(self.keys.story_articles(sid), 0, -1)
        members = dict(zip(ids, pipe.execute(), strict=True))
        for article_ids in members.values():
            for aid in article_ids:
                pipe.hget(self.keys.article(aid.decode()), "source")
        answers = iter(pipe.execute())
        wanted = query.source.encode()
        return {
            sid
            for sid, article_ids in members.items()
            if wanted in {next(answers) for _ in article_ids}
        }
