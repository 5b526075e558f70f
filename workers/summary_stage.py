"""Stage 2's batch work: embed the rest of each job's article (workers.rest), then rewrite each
touched story's summary once, marking the members it reflects `processed`.

In a worker's loop the summaries wait while stage 1 has articles to place (up to YIELD_S): they
are Python work, and would take the GIL, so time, from story decisions. Meanwhile this stage
embeds the articles of the summary jobs queued behind its own, in the model's background, and
while it writes a batch's summaries, the next jobs' articles are embedded beside it.

IO: the store and the summary queue, through workers.rest and workers.story_ops.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import structlog

from core.config import Settings
from core.queue import Job
from core.records import ArticleStatus
from core.storage import STORAGE_UNAVAILABLE, Storage
from workers.rest import RestStage
from workers.story_ops import BatchResult, StoryOps, count_deliveries, fail

log = structlog.get_logger(__name__)

# Longest a summary batch waits for stage 1 to run out of articles: under a sustained stream that
# never lets up, summaries still go on, a batch every few seconds at least.
YIELD_S = 5.0


class SummaryStage:
    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        ops: StoryOps,
        rest: RestStage,
        placing_idle: threading.Event,
        name: str,
    ) -> None:
        self.settings = settings
        self.store = storage.articles
        self.metrics = storage.metrics
        self.ops = ops
        self.rest = rest
        self.summary_queue = storage.summary_queue
        self.placing_idle = placing_idle  # set while stage 1 has no articles waiting
        self.processed_total = 0
        self._ahead = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-ahead")

    def summarise(self, jobs: list[Job], after_placing: bool = False) -> BatchResult:
        """Embed the rest of each article, then rewrite each touched story's summary once.

        `after_placing` (the worker's own loop): between the two, wait while stage 1 has articles
        waiting, up to YIELD_S. The summaries are Python work that would take the GIL, and so
        time, from story decisions; the model work goes on beside them (in the background)."""
        result = BatchResult()
        to_summarise: dict[str, list[str]] = {}
        to_embed: list[str] = []
        live = []
        for job, a in zip(jobs, self.store.records([j.article_id for j in jobs]), strict=True):
            if a and a.status == ArticleStatus.PROCESSED:
                result.processed.append(job.article_id)  # another job's summary took it in
            elif a and a.status != ArticleStatus.FAILED and a.story_id:
                live.append((job, a))  # else a redelivery of a job whose article failed or is gone
        for (job, a), deliveries in zip(live, count_deliveries(self.store, live), strict=True):
            if deliveries > self.settings.max_deliveries:
                fail(self.store, job.article_id, "delivered too often without finishing", result)
                continue
            if a.waits_for_vectors:
                to_embed.append(a.id)
            to_summarise.setdefault(a.story_id or "", []).append(a.id)
        lag = self.summary_queue.oldest_waiting_age_s() if to_embed else 0.0
        urgent = lag > self.settings.summary_max_lag_s
        self.rest.embed(to_embed, to_summarise, urgent=urgent)
        if after_placing and not urgent:
            self._embed_ahead_while_placing()
        # The model embeds the next jobs' articles while this thread writes the summaries.
        ahead = self._ahead.submit(self._embed_ahead_once) if after_placing else None
        try:
            for story_id, article_ids in to_summarise.items():
                # Counted as processed where the summary marks them (also members of other jobs).
                self.processed_total += len(self.ops.summarise(story_id))
                result.stories.add(story_id)
                result.processed += article_ids
        finally:
            if ahead is not None:
                ahead.result()
        self.summary_queue.ack(jobs)  # every job is now processed, failed, or was already done
        self.metrics.batch([], result.failed, {})
        return result

    def _embed_ahead_while_placing(self) -> None:
        """Hold this batch's summaries back while stage 1 has articles waiting (up to YIELD_S),
        embedding the coming summary jobs' articles meanwhile: the model's background work goes
        on beside story decisions, the summaries' Python work does not take their GIL."""
        deadline = time.monotonic() + YIELD_S
        while not self.placing_idle.is_set() and time.monotonic() < deadline:
            if not self._embed_ahead_once():
                self.placing_idle.wait(0.05)

    def _embed_ahead_once(self) -> int:
        """Work ahead of the jobs in hand, never charged to them: an article that fails here
        fails again in its own job, which counts its errors and fails it alone."""
        try:
            return self.rest.embed_ahead(self.summary_queue, self.settings.worker_batch)
        except STORAGE_UNAVAILABLE:
            raise
        except Exception:
            log.exception("worker.embed_ahead_failed")
            return 0
