"""Placing an article in a story, with no global lock (core.storage.story_locks says who holds
what, and why that order cannot deadlock).

1. Choose, holding nothing: the stories the article could join (the index brought up to date),
   scored as ever (workers.assign.scoring).
2. Join story S: hold S's lock, re-read S's state as stored now (another worker may have joined
   it since step 1), fold the article in, commit. Joins of different stories run side by side.
3. Open a new story: hold the creation lock, choose again (a worker may have opened the story
   this article belongs to since step 1: then join it, step 2), else open it.

With one worker every step sees what step 1 saw, so the decisions are those the single-lock
placement made: the clustering benchmarks are unchanged by this (and say so by being re-run).
"""

from __future__ import annotations

import structlog

from core.config import Settings
from core.storage import Storage
from core.storage.story_records import new_story_id
from core.story_state import StoryState
from workers.assign.scoring import (
    ArticleSignal,
    AssignParams,
    absorb,
    choose_story,
    start_story,
    threshold_for,
)

log = structlog.get_logger(__name__)

# A story chosen and then merged away before its lock was taken: choose again, this many times.
RETRIES = 5


class Placement:
    def __init__(self, storage: Storage, settings: Settings, params: AssignParams) -> None:
        self.store = storage.articles
        self.stories = storage.stories
        self.cold = storage.cold
        self.params = params

    def place(self, article_id: str, signal: ArticleSignal, headline: str) -> str:
        """The article's story id, after the article joined it or opened it."""
        for _ in range(RETRIES):
            chosen, candidates = self._choose(signal)
            if chosen is None:
                with self.store.assign_lock():
                    chosen, candidates = self._choose(signal)  # stories opened meanwhile
                    if chosen is None:
                        return self._open(article_id, signal, headline)
            joined = self._join(article_id, signal, headline, chosen, candidates)
            if joined is not None:
                return joined
        with self.store.assign_lock():  # merged away again and again: open one, under the lock
            return self._open(article_id, signal, headline)

    def _choose(self, signal: ArticleSignal) -> tuple[str | None, list[StoryState]]:
        # Open stories with their member vectors; quiet ones (up to archive_s) by centroid only.
        candidates = self.stories.candidates(
            signal.published_ts,
            self.params.window_s,
            self.params.archive_s,
            signal.vector,
            threshold_for(signal, self.params),
        )
        return choose_story(signal, candidates, self.params), candidates

    def _join(
        self,
        article_id: str,
        signal: ArticleSignal,
        headline: str,
        story_id: str,
        candidates: list[StoryState],
    ) -> str | None:
        """Join `story_id` under its lock; None when it is gone by then (merged away)."""
        seen = next(c for c in candidates if c.story_id == story_id)
        with self.stories.locks.story(story_id):
            # As the candidate was read: whole (an open story), or its centroid (a quiet one).
            state, cold, member = self.stories.fresh_state(
                story_id, with_members=len(seen.members) > 0, article_id=article_id
            )
            if state is None:
                return None
            if member:
                # Another worker placed this article here meanwhile (a stream entry claimed from
                # it, or the article queued twice across a failover): counted once, not twice.
                self.stories.finish_placements([article_id])  # in case it died before its end
                return story_id
            if cold and self.cold is not None:
                self.cold.revive(story_id)  # a story in the archive comes back, history and all
            self._commit(article_id, signal, absorb(state, signal), headline, created=False)
        return story_id

    def _open(self, article_id: str, signal: ArticleSignal, headline: str) -> str:
        state = start_story(new_story_id(), signal)
        self._commit(article_id, signal, state, headline, created=True)
        return state.story_id

    def _commit(
        self,
        article_id: str,
        signal: ArticleSignal,
        state: StoryState,
        headline: str,
        created: bool,
    ) -> None:
        """Article and story state move together (Stories.commit_assignment's steps)."""
        self.stories.commit_assignment(
            article_id,
            state.story_id,
            state,
            article_ts=float(signal.published_ts),
            last_ts=state.last_ts,
            created=created,
            headline=headline,
        )
        log.info(
            "article.assigned", article_id=article_id, story_id=state.story_id, new_story=created
        )
