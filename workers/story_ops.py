"""Story-level work of a worker: assign an article, summarise a story, run the repair.

IO lives here and in runner.py only; the decisions are the pure functions of workers.assign,
workers.repair and workers.summarize.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import structlog

from core.config import Settings
from core.queue import Job
from core.records import ArticleRecord, ArticleStatus
from core.storage import Storage
from core.storage.articles import Store
from core.storage.repair_store import WindowArticle
from core.storage.story_records import MemberDoc, new_story_id
from core.story_state import StoryState
from core.summary import Summary
from embedding.base import Vectors
from workers.assign.scoring import (
    LEAD_SENTENCES,
    ArticleSignal,
    AssignParams,
    build_story,
)
from workers.name_split import NameSplitParams, with_name_splits
from workers.placement import Placement
from workers.repair import RepairParams, RepairPlan, recluster, reconcile
from workers.summarize import summarize_members
from workers.summarize.source import SourceDoc

log = structlog.get_logger(__name__)


@dataclass
class Prepared:
    """An article after extract + embed, ready for assignment."""

    article_id: str
    title: str
    sentences: list[str]
    vector: Vectors
    ts: float

    @property
    def signal(self) -> ArticleSignal:
        return ArticleSignal(
            vector=self.vector,
            published_ts=self.ts,
            title=self.title,
            text=" ".join(self.sentences[:LEAD_SENTENCES]),
        )


@dataclass
class BatchResult:
    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stories: set[str] = field(default_factory=set)


def fail(store: Store, article_id: str, reason: str, result: BatchResult) -> None:
    store.mark_failed(article_id, reason)
    result.failed.append(article_id)
    log.warning("article.failed", article_id=article_id, reason=reason)


def count_deliveries(store: Store, live: Sequence[tuple[Job, ArticleRecord]]) -> list[int]:
    return store.count_deliveries([job.article_id for job, _ in live]) if live else []


@dataclass(frozen=True)
class RepairOutcome:
    articles: int
    moved: int
    merged: dict[str, str]
    split: dict[str, str]


class StoryOps:
    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.settings = settings
        self.store = storage.articles
        self.stories = storage.stories
        self.repairs = storage.repairs
        self.metrics = storage.metrics
        self.cold = storage.cold  # the archive on disk (core.storage.cold), if there is one
        self.params = AssignParams(window_s=settings.story_window_days * 86400)
        self.placement = Placement(storage, settings, self.params)
        self.repair_params = RepairParams()
        self.name_split_params = NameSplitParams()

    # -- assignment ------------------------------------------------------------------------------
    def assign(self, p: Prepared) -> str:
        return self.assign_many([p])[0]

    def assign_many(self, prepared: Sequence[Prepared]) -> list[str]:
        """Each article, in order, to the nearest story or a new one (workers.placement: no
        global lock; the story index is refreshed per article). Returns their story ids."""
        if not prepared:
            return []
        # A placement a crash cut short after its story took the article in is finished, not
        # redone (its story's state already counts the article).
        done = self.stories.finish_placements([p.article_id for p in prepared])
        story_ids = [
            done.get(p.article_id)
            or self.placement.place(
                p.article_id, p.signal, p.title or (p.sentences[0] if p.sentences else "")
            )
            for p in prepared
        ]
        self.repairs.count_placed(len(prepared))
        return story_ids

    # -- summary -------------------------------------------------------------------------------
    def summarise(self, story_id: str) -> list[str]:
        """Rewrite the story's summary from its embedded members; returns the articles it made
        `processed` (counted and logged here, whoever asked for the summary)."""

        def load(members: list[MemberDoc]) -> list[SourceDoc]:
            loaded = self.store.load_extracted([m.article_id for m in members])
            return [
                SourceDoc(
                    article_id=m.article_id,
                    source=m.source,
                    sentences=sentences,
                    vectors=vectors,
                    title=m.title,
                    published_at=m.published_at,
                    duplicate_of=m.duplicate_of,
                )
                for m, (sentences, vectors) in zip(members, loaded, strict=True)
            ]

        def build(members: list[MemberDoc]) -> Summary:
            # Near-duplicate copies are left out: their original already speaks for them, so a
            # syndicated story run by five sites is still one source of each fact. Undated
            # posts are dated by their arrival, as story time is: a weekday ("on Monday") is
            # only compared against a date it can be placed from.
            dated = [
                m if m.published_at else replace(m, published_at=_arrival(m.received_at))
                for m in members
                if not m.duplicate_of
            ]
            # Only the articles this worker has not read before in a big story are loaded.
            return summarize_members(dated, load)

        if self.cold is not None and self.stories.is_cold(story_id):
            # Only a job delivered again after its story went cold: its members' sentences are
            # on disk, so the story comes back before it is summarised.
            with self.stories.locks.story(story_id):
                self.cold.revive(story_id)
        members = self.stories.write_summary(story_id, build)
        if not members:  # every member still waits for its vectors; their own jobs will do it
            log.info("story.summary_deferred", story_id=story_id)
            return []
        log.info("story.summarised", story_id=story_id, articles=len(members))
        newly = [m for m in members if m.status != ArticleStatus.PROCESSED]
        received = {m.article_id: m.received_at for m in newly if m.received_at}
        self.metrics.batch([m.article_id for m in newly], [], received)
        for m in newly:
            log.info("article.processed", article_id=m.article_id, story_id=story_id)
        return [m.article_id for m in newly]

    # -- repair --------------------------------------------------------------------------------
    def repair_if_due(self) -> RepairOutcome | None:
        if self.repairs.due() < self.settings.repair_every:
            return None
        return self.repair()

    def repair(self) -> RepairOutcome | None:
        """Re-cluster the active window with HDBSCAN and reconcile with the online stories.
        One worker at a time (a lock); None when another worker is already repairing."""
        with self.repairs.lease() as held:
            return self._repair() if held else None

    def _repair(self) -> RepairOutcome:
        window = self.repairs.window(self.params.window_s)
        originals = [a for a in window if not a.duplicate_of]
        if len(originals) < 3:
            return RepairOutcome(len(originals), 0, {}, {})
        ids = [a.article_id for a in originals]
        vectors = np.asarray(self.store.article_vectors(ids), np.float32)
        labels = recluster(vectors, self.repair_params)
        current = {a.article_id: a.story_id for a in originals}
        # Each story's whole history (size, centroid), not just its members in the window, so a
        # long-running story is not merged away on the strength of its latest few articles.
        states = self.stories.states(sorted(set(current.values())))
        plan = reconcile(
            current,
            dict(zip(ids, (int(x) for x in labels), strict=True)),
            new_story_id,
            self.repair_params,
            story_sizes={sid: st.size for sid, st in states.items()},
            story_vectors={sid: st.vector_sum for sid, st in states.items()},
        )
        if self.name_split_params.max_cos > 0:
            # The names each article was placed with: a story holding two events is split.
            rows = self.repairs.signal_rows(ids, LEAD_SENTENCES)
            names = {row.article_id: ArticleSignal(vec, row.ts, row.title, row.lead).names
                     for row, vec in zip(rows, vectors, strict=True)}
            plan = with_name_splits(
                plan, current, names, dict(zip(ids, vectors, strict=True)), new_story_id,
                self.name_split_params,
            )
        if not (plan.moves or plan.merges or plan.splits):
            return RepairOutcome(len(ids), 0, {}, {})
        touched = self._apply(plan, window)
        for story_id in sorted(touched - set(plan.merges)):
            self.summarise(story_id)
        log.info(
            "repair.applied",
            articles=len(ids),
            moved=len(plan.moves),
            merged=len(plan.merges),
            split=len(plan.splits),
        )
        return RepairOutcome(len(ids), len(plan.moves), dict(plan.merges), dict(plan.splits))

    def _apply(self, plan: RepairPlan, window: Sequence[WindowArticle]) -> set[str]:
        members: dict[str, list[str]] = {}
        ts = {a.article_id: a.ts for a in window}
        follows: dict[str, list[str]] = {}  # original -> its near-duplicate copies
        for a in window:
            if a.duplicate_of:
                follows.setdefault(a.duplicate_of, []).append(a.article_id)
        # The creation lock: no story opens meanwhile (core.storage.story_locks, its order).
        with self.store.assign_lock(timeout_s=120):
            # Assignment went on while HDBSCAN ran: only move articles still where they were.
            candidates = [m for aid in plan.moves for m in (aid, *follows.get(aid, []))]
            now = self.repairs.story_of(candidates)
            moves: dict[str, tuple[str, str, float]] = {}
            for aid, target in plan.moves.items():
                for moved in (aid, *follows.get(aid, [])):
                    source = now[moved]
                    if source and source != target:
                        moves[moved] = (source, target, ts.get(moved, 0.0))
            touched = {s for s, _, _ in moves.values()} | {t for _, t, _ in moves.values()}
            touched |= set(plan.merges) | set(plan.splits)
            # Joins take only their story's lock: hold every story this plan rewrites.
            with self.stories.locks.stories(touched):
                for sid in touched:
                    members[sid] = self.stories.member_ids(sid)
                for aid, (source, target, _) in moves.items():
                    members[source] = [m for m in members[source] if m != aid]
                    members[target] = [*members[target], aid]
                states = {sid: self._rebuild(sid, ids) for sid, ids in members.items() if ids}
                headlines = {new: self._headline(members.get(new, [])) for new in plan.splits}
                self.repairs.apply(
                    moves,
                    plan.merges,
                    {new: (parent, headlines[new]) for new, parent in plan.splits.items()},
                    {sid: st for sid, st in states.items() if st},
                )
        return touched

    def _rebuild(self, story_id: str, article_ids: list[str]) -> StoryState | None:
        """A story's assigner state folded again from its members (no model call: stored vectors).
        Near-duplicate copies never moved a centroid, so they are left out here too."""
        copies = self.repairs.copies(article_ids)
        originals = [a for a in article_ids if a not in copies]
        if not originals:
            return None
        rows = self.repairs.signal_rows(originals, LEAD_SENTENCES)
        vectors = self.store.article_vectors(originals)
        signals = [
            ArticleSignal(
                vector=np.asarray(vec, np.float32),
                published_ts=row.ts,
                title=row.title,
                text=row.lead,
            )
            for row, vec in zip(rows, vectors, strict=True)
        ]
        return build_story(story_id, signals)

    def _headline(self, article_ids: list[str]) -> str:
        rows = self.repairs.signal_rows(article_ids[:1], LEAD_SENTENCES)
        return rows[0].title if rows else ""


def _arrival(received_at: float) -> datetime | None:
    return datetime.fromtimestamp(received_at, tz=UTC) if received_at else None
