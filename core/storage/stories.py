"""Stories in Redis: membership, the assigner's state, summaries and their history, the feed.

Derived numbers (article and source counts) are written together with the summary they come from,
so a reader never sees a count that disagrees with the summary beside it.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy.typing as npt
import redis

from core.keys import Keys
from core.records import ArticleStatus
from core.storage.article_codec import from_ts, missing_vectors
from core.storage.cold import ColdStore
from core.storage.story_codec import decode_state, encode_state
from core.storage.story_index import QUIET_FIELDS, StoryIndex, quiet_state
from core.storage.story_locks import StoryLocks
from core.storage.story_reads import StoryReads
from core.storage.story_records import (
    JOIN_RECORD,
    MEMBER_FIELDS,
    MemberDoc,
    _ready,
    new_story_fields,
)
from core.story_state import StoryState
from core.summary import Summary
from core.summary_diff import SummaryChanges

# Bumps the global update sequence, moves the story to the top of the feed and records an event,
# all at once, so feed order and event ids never disagree. (Every key here is a coordination key,
# one slot: core/keys.py.) GT: a touch that lost a race to a later one never moves the story back.
_TOUCH = """
-- KEYS: stories:updated, seq counter, events stream
-- ARGV: story id, event type, maxlen, then field/value pairs the event also carries
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], 'GT', seq, ARGV[1])
local entry = {'type', ARGV[2], 'story_id', ARGV[1], 'seq', seq}
for i = 4, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
return seq
"""
# The story hash's copy of its latest seq (the story's own slot), never moved backwards.
_STAMP = """
-- KEYS: story hash; ARGV: seq, now, summary version the touch was for ('' for none)
if tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[2], 'seq', ARGV[1])
end
if ARGV[3] ~= '' and tonumber(redis.call('HGET', KEYS[1], 'touched_version') or '0') < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'touched_version', ARGV[3])
end
return 1
"""


# Summary versions kept whole: the last KEEP_VERSIONS, and before them the last one of each day
# (UTC, by when it was written). A busy story rewrites its summary with every article: without
# thinning one 90-article story kept 48 versions (270 kB).
KEEP_VERSIONS = 20


class Stories(StoryReads):
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        events_retention: int = 10_000,
        cold: ColdStore | None = None,
    ) -> None:
        self.r = client
        self.keys = keys
        self.events_retention = events_retention
        self.cold = cold
        self.locks = StoryLocks(client, keys)  # who may change a story, and when
        self._touch = client.register_script(_TOUCH)
        self._stamp = client.register_script(_STAMP)
        self._join = client.register_script(JOIN_RECORD)  # story_records: status kept if processed
        # Quiet stories' centroids, for assignment (loaded on first use, kept current by the log).
        self.index = StoryIndex(client, keys)

    def touch(
        self,
        story_id: str,
        event: str,
        version: int | None = None,
        changes: SummaryChanges | None = None,
    ) -> int:
        """Bump the story's update sequence and record `event` for /events (the coordination
        slot), then stamp the story hash with it (the story's slot). Called after the change it
        announces is stored; `version`: the summary version it announces (write_summary finishes
        a touch that a crash cut short by comparing it with `summary_version`), carried by the
        event with `changes`, what that version changed since the one before it."""
        extra: list[str | int] = []
        if version is not None:
            extra += ["version", version]
        if changes is not None:
            extra += ["changes", changes.model_dump_json()]
        seq = int(
            self._touch(
                keys=[self.keys.stories_updated, self.keys.update_seq, self.keys.events_stream],
                args=[story_id, event, self.events_retention, *extra],
            )
        )
        self._stamp(
            keys=[self.keys.story(story_id)],
            args=[seq, f"{time.time():.3f}", "" if version is None else version],
        )
        return seq

    def is_cold(self, story_id: str) -> bool:
        """Moved to the archive on disk (core.storage.cold)."""
        return bool(self.r.hget(self.keys.story(story_id), "cold_at"))

    # -- assignment --------------------------------------------------------------------------
    def active_states(self, ts: float, window_s: float) -> dict[str, dict[bytes, bytes]]:
        """Assigner state of every story with an article within `window_s` of `ts`."""
        return self.index.active_states(ts, window_s)

    def archived_states(
        self,
        ts: float,
        window_s: float,
        archive_s: float,
        vector: npt.ArrayLike,
        min_cosine: float,
        refresh: bool = True,
    ) -> dict[str, dict[bytes, bytes]]:
        """Centroid fields only of stories quiet for longer than `window_s`, up to `archive_s`,
        whose centroid cosine to `vector` reaches `min_cosine` (the article's threshold: no other
        quiet story can be chosen). A late follow-up can still join, without loading every old
        story; the index (core.storage.story_index) is brought up to date first."""
        return self.index.archived_states(ts, window_s, archive_s, vector, min_cosine, refresh)

    def candidates(
        self, ts: float, window_s: float, archive_s: float, vector: npt.ArrayLike, min_cosine: float
    ) -> list[StoryState]:
        """The stories an article at `ts` could join: open ones whole, quiet ones (up to
        `archive_s`) by centroid, if their centroid reaches `min_cosine`."""
        raw = self.active_states(ts, window_s)
        # active_states just brought the index up to date, under the same lock.
        raw |= self.archived_states(ts, window_s, archive_s, vector, min_cosine, refresh=False)
        return [decode_state(sid, data) for sid, data in raw.items()]

    def states(self, story_ids: Sequence[str]) -> dict[str, StoryState]:
        return {sid: decode_state(sid, raw) for sid, raw in self.state_hashes(story_ids).items()}

    def fresh_state(
        self, story_id: str, with_members: bool, article_id: str
    ) -> tuple[StoryState | None, bool, bool]:
        """The story's assigner state as stored now (None: gone, merged away), whether the story
        is in the archive on disk, and whether `article_id` is a member already; one round trip.
        Without members the state is what a quiet story's candidate holds (its centroid fields
        only)."""
        pipe = self.r.pipeline(transaction=False)
        if with_members:
            pipe.hgetall(self.keys.story_state(story_id))
        else:
            pipe.hmget(self.keys.story_state(story_id), *QUIET_FIELDS)
        pipe.hget(self.keys.story(story_id), "cold_at")
        pipe.zscore(self.keys.story_articles(story_id), article_id)
        found, cold_at, member = pipe.execute()
        if not with_members:
            found = quiet_state(found) or {}
        state = decode_state(story_id, found) if found else None
        return state, bool(cold_at), member is not None

    def member_ids(self, story_id: str) -> list[str]:
        return [m.decode() for m in self.r.zrange(self.keys.story_articles(story_id), 0, -1)]

    def state_hashes(self, story_ids: Sequence[str]) -> dict[str, dict[bytes, bytes]]:
        pipe = self.r.pipeline(transaction=False)
        for sid in story_ids:
            pipe.hgetall(self.keys.story_state(sid))
        return {sid: raw for sid, raw in zip(story_ids, pipe.execute(), strict=True) if raw}

    def commit_assignment(
        self,
        article_id: str,
        story_id: str,
        state: StoryState | Mapping[str, bytes | str],
        article_ts: float,
        last_ts: float,
        created: bool,
        headline: str,
        duplicate_of: str | None = None,
    ) -> None:
        """Article joins story and the story's state moves. Three slots on a cluster (the
        article's, the story's, the coordination keys'), so three steps, under the story's lock
        (or, for a new story, the creation lock: core.storage.story_locks):
          1. the article records the story it is joining (`placing`);
          2. one MULTI on the story: member, state, member_rev (and its hash if new);
          3. stories:active and the change log; last, the article's story_id (its "done").
        A crash after 2 leaves `placing` with the article already a member: finish_placements
        completes 3 instead of placing it again (its state already counts it). A crash before 2
        leaves nothing to undo: the article is placed afresh."""
        if isinstance(state, StoryState):
            state = encode_state(state)
        self.r.hset(self.keys.article(article_id), "placing", story_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self.keys.story_articles(story_id), {article_id: article_ts})
        pipe.hset(self.keys.story_state(story_id), mapping=dict(state))
        if created:
            pipe.hset(self.keys.story(story_id), mapping=new_story_fields(story_id, headline))
        self.member_rev(pipe, story_id)
        pipe.execute()
        seq = self._index_and_join(article_id, story_id, last_ts, duplicate_of)
        self.index.took_own(story_id, state, last_ts, seq)

    def _index_and_join(
        self, article_id: str, story_id: str, last_ts: float, duplicate_of: str | None = None
    ) -> int:
        self.r.zadd(self.keys.stories_active, {story_id: last_ts})
        seq = self.index.record([story_id])
        self._join(
            keys=[self.keys.article(article_id)],
            args=[story_id, f"{time.time():.3f}", duplicate_of or ""],
        )
        return seq

    def finish_placements(self, article_ids: Sequence[str]) -> dict[str, str]:
        """Complete the placements a crash cut short after the story took the article in
        (commit_assignment step 2); returns article -> story for those. Call before placing
        these articles (each is in one worker's hands: the stream's pending entry is its)."""
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.hmget(self.keys.article(aid), "placing", "story_id")
        cut = {
            aid: placing.decode()
            for aid, (placing, story) in zip(article_ids, pipe.execute(), strict=True)
            if placing and not story
        }
        done = {}
        for aid, sid in cut.items():
            if self.r.zscore(self.keys.story_articles(sid), aid) is None:
                continue  # the story never took it in: place it afresh
            last = self.r.hget(self.keys.story_state(sid), "last_ts")
            self._index_and_join(aid, sid, float(last or 0))
            done[aid] = sid
        return done

    def commit_copy(
        self, article_id: str, story_id: str, original_id: str, article_ts: float
    ) -> None:
        """A near-duplicate joins its original's story. The story's state does not move: a copy
        of an article already counted is no new evidence of what the story is about. The story
        takes it in first, then the article records it: a crash in between redelivers the copy,
        which joins the same story again (a member is added once)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self.keys.story_articles(story_id), {article_id: article_ts})
        self.member_rev(pipe, story_id)
        pipe.execute()
        self._join(
            keys=[self.keys.article(article_id)], args=[story_id, f"{time.time():.3f}", original_id]
        )

    # -- summaries ---------------------------------------------------------------------------
    def members(self, story_id: str) -> list[MemberDoc]:
        ids = [i.decode() for i in self.r.zrange(self.keys.story_articles(story_id), 0, -1)]
        pipe = self.r.pipeline(transaction=False)
        for aid in ids:
            pipe.hmget(self.keys.article(aid), *MEMBER_FIELDS)
        out = []
        for aid, row in zip(ids, pipe.execute(), strict=True):
            f = {k: v.decode() if v else "" for k, v in zip(MEMBER_FIELDS, row, strict=True)}
            out.append(
                MemberDoc(
                    aid,
                    f["source"],
                    f["clean_title"] or f["title"] or None,
                    from_ts(f["published_at"]),
                    f["duplicate_of"] or None,
                    ArticleStatus(f["status"] or ArticleStatus.QUEUED),
                    # A copy is never embedded; no vector_rows: stored before vectors were counted.
                    embedded=bool(f["duplicate_of"])
                    or not f["vector_rows"]
                    or not missing_vectors(f),
                    received_at=float(f["received_at"] or 0),
                    sentence_count=int(f["sentence_count"] or 0),
                    vector_rows=int(f["vector_rows"] or 0),
                )
            )
        return out

    def member_rev(self, pipe: redis.client.Pipeline, story_id: str) -> None:
        """Queue on `pipe` (the MULTI that changes the story's members): one more change to what
        its summary would say (a member joined or left; Store.save_sentence_vectors counts a
        member's vectors arriving too). A summary records the number it was built at
        (`summary_basis`)."""
        pipe.hincrby(self.keys.story(story_id), "member_rev", 1)

    def mark_changed(self, story_id: str) -> None:
        """The story's summary must be built again even though no member changed (a summariser
        upgrade, an edit): the next write_summary is not taken as already covered."""
        self.r.hincrby(self.keys.story(story_id), "member_rev", 1)

    def summary_basis(self, story_id: str) -> tuple[int, list[MemberDoc]]:
        """The story's membership change number and its members, read in that order (so the
        members are at least as new as the number says)."""
        rev = int(self.r.hget(self.keys.story(story_id), "member_rev") or 0)
        return rev, self.members(story_id)

    def write_summary(
        self, story_id: str, build: Callable[[list[MemberDoc]], Summary], retries: int = 50
    ) -> list[MemberDoc]:
        """Summarise the members whose sentences are all embedded and store the result as a new
        version; those members are marked processed. Members still waiting for the rest of their
        vectors are counted in the story but left to their own summary job. Returns the members
        summarised (none: nothing was written).

        The summary is built outside any transaction, then written with a compare-and-set on the
        story's `summary_basis`: it is stored unless a summary built from a later (or the same)
        membership already is, in which case that one covers these members and marks them
        processed (_announce). Only the cheap write is retried on contention, never the summarisation, so a
        busy story's summaries trail by at most one build instead of being thrown away."""
        rev, members = self.summary_basis(story_id)
        ready = _ready(members)
        if not ready:
            return []
        summary = build(ready)
        sources = {m.source for m in members if not m.duplicate_of}
        story_key = self.keys.story(story_id)
        for _ in range(retries):
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(story_key)
                    basis, version, touched = pipe.hmget(
                        story_key, "summary_basis", "summary_version", "touched_version"
                    )
                    if basis is not None and int(basis) >= rev and int(version or 0) > 0:
                        pipe.unwatch()
                        # A summary of this membership or a later one is stored. If its writer
                        # died before announcing it, finish that here (see below).
                        if int(touched or 0) < int(version):
                            self._announce(story_id, ready, int(version))
                        elif any(m.status != ArticleStatus.PROCESSED for m in ready):
                            # Announced, yet a member it would speak for is not processed: its
                            # vectors arrived without member_rev moving (a crash between the
                            # two writes of Store.save_sentence_vectors). Build again.
                            self.mark_changed(story_id)
                            return self.write_summary(story_id, build, retries - 1)
                        return []
                    summary.version = int(version or 0) + 1
                    blob = json.dumps(summary.to_dict())
                    today = int(time.time() // 86_400)
                    # The version leaving the last KEEP_VERSIONS, and the day of the one after it.
                    leaving = summary.version - 1 - KEEP_VERSIONS  # its list index
                    days = self.keys.story_version_days(story_id)
                    # Stories summarised before days were kept have none for their first
                    # versions: they are never thinned (their day list stays empty).
                    aligned = pipe.llen(days) == summary.version - 1
                    thin = aligned and leaving >= 0
                    if thin:
                        day, next_day = pipe.lindex(days, leaving), pipe.lindex(days, leaving + 1)
                        thin = day is not None and day == next_day
                    pipe.multi()
                    pipe.set(self.keys.story_summary(story_id), blob)
                    # Old versions are read rarely and are most of a story's bytes: compressed.
                    pipe.rpush(self.keys.story_versions(story_id), zlib.compress(blob.encode()))
                    if aligned:
                        pipe.rpush(days, today)
                    if thin:  # not its day's last version: an empty row keeps the indexes
                        pipe.lset(self.keys.story_versions(story_id), leaving, b"")
                    pipe.hset(
                        story_key,
                        mapping={
                            "headline": summary.headline,
                            "summary_version": str(summary.version),
                            "summary_basis": str(rev),
                            "article_count": str(len(members)),
                            "source_count": str(len(sources)),
                        },
                    )
                    pipe.execute()
                except redis.WatchError:
                    continue
            self._announce(story_id, ready, summary.version)
            return ready
        raise RuntimeError(f"story {story_id}: summary write kept colliding ({retries} tries)")

    def _announce(self, story_id: str, ready: Sequence[MemberDoc], version: int) -> None:
        """After a summary version is stored (the story's slot): its members are `processed`
        (each its own slot), then the feed and /events learn of it and the story records that
        they did (`touched_version`). Each step can be repeated: a crash anywhere here leaves
        the summary job unacknowledged, and its redelivery finds the version stored but not
        announced, and comes back here."""
        done = {"status": ArticleStatus.PROCESSED, "processed_at": f"{time.time():.3f}"}
        pipe = self.r.pipeline(transaction=False)
        for m in ready:
            if m.status != ArticleStatus.PROCESSED:
                pipe.hset(self.keys.article(m.article_id), mapping=done)
        pipe.execute()
        event = "story.created" if version == 1 else "story.updated"
        self.touch(story_id, event, version, self.step_changes(story_id, version))
