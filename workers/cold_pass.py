"""The worker's side of the hot window: now and then, move quiet stories to the archive on disk.

Every COLD_EVERY_S (per worker), the worker holding the cold lease moves, oldest first, the stories
quiet for more than STORYFOLD_HOT_DAYS of story time, each under its story's lock (so no article
joins a story half-moved), a batch at a time. A story whose summary does not yet cover every
member is deferred (logged): left hot, passed over, and looked at again by every later pass until
its summary catches up. The moves themselves, and why a crash anywhere loses nothing:
core.storage.cold.
"""

from __future__ import annotations

import time

import structlog

from core.config import Settings
from core.storage import Storage

log = structlog.get_logger(__name__)

COLD_EVERY_S = 60.0
BATCH = 50  # stories per look at the window


class ColdPass:
    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.cold = storage.cold
        self.stories = storage.stories
        self.hot_s = settings.hot_days * 86400
        self._last = 0.0

    def run_if_due(self) -> int | None:
        """Stories moved, or None when it is not yet time (or there is no archive)."""
        if self.cold is None or time.monotonic() - self._last < COLD_EVERY_S:
            return None
        self._last = time.monotonic()
        try:
            return self.run()
        except OSError:  # the archive folder: full, unmounted, not writable
            log.exception("archive.pass_failed")  # nothing moved is lost: the story stays hot
            return 0

    def run(self, limit: int | None = None) -> int:
        """Move every story that is due (up to `limit`); returns how many moved. 0 when another
        worker holds the lease."""
        if self.cold is None:
            return 0
        moved = 0
        with self.cold.lease() as held:
            if not held:
                return 0
            self.cold.finish_interrupted()
            moved += self._retry_deferred()
            handled: set[str] = set()  # a story this pass could not move is not looked at twice
            while limit is None or moved < limit:
                due = self.cold.due(
                    self.hot_s, BATCH if limit is None else min(BATCH, limit - moved)
                )
                fresh = [story_id for story_id in due if story_id not in handled]
                if not fresh:
                    break
                for story_id in fresh:
                    handled.add(story_id)
                    if not self.cold.settled(story_id):
                        # A summary still to come (or one that keeps failing): deferred, so one
                        # stuck story never holds up the others; every pass looks at it again.
                        log.warning("story.archive_deferred", story_id=story_id)
                        self.cold.defer(story_id)
                    else:
                        moved += self._move(story_id)
                    self.cold.advance(story_id)
        if moved:
            log.info("archive.pass", moved=moved, cold=self.cold.count())
        return moved

    def _retry_deferred(self) -> int:
        """Move the deferred stories whose summary has caught up; forget those no longer due."""
        assert self.cold is not None
        quiet, gone = self.cold.deferred(self.hot_s)
        self.cold.undefer(*gone)
        moved = 0
        for story_id in quiet:
            if self.cold.settled(story_id):
                moved += self._move(story_id)
                self.cold.undefer(story_id)
        return moved

    def _move(self, story_id: str) -> bool:
        """Archive one story under its lock (no article joins it half-moved)."""
        assert self.cold is not None
        with self.stories.locks.story(story_id):
            return self.cold.move_out(story_id) > 0
