"""The worker loop, in two stages fed by two streams (core.queue):

  articles  → extract → near-duplicate? → embed the headline and lead → place in a story
              (status `clustered`) → queue a summary job → ack
  summaries → embed the rest of the article's sentences → rewrite its story's summary (marks every
              member it reflects `processed`) → ack

The stages run side by side in two threads of the worker. The story decision needs only the lead
(workers.assign.LEAD_SENTENCES sentences), a fraction of the model work, so its model batches go
first: under a burst every article is in its story long before every summary has caught up, and
the summary stage's batches fill the model's idle time (workers.summary_stage). Summaries are not
starved: when the oldest waiting summary job is older than `summary_max_lag_s`, their batches take
turns with the story decisions' instead.

Stage 1's batch work is workers.lead's, stage 2's workers.summary_stage's and workers.rest's; the
pipeline's IO goes through core.storage.articles / core.storage.stories / core.queue. Every step is
idempotent, keyed on what is already stored for the article, so an entry delivered twice (a crash
between the write and the XACK) is finished, not redone:
  queued, no sentences          → extract + embed the lead, store sentences and vectors
  sentences, no story_id        → assign under the lock (a placement cut short after the story
                                  took the article in is finished, not redone)
  story_id                      → (re)queue its summary job
  summary job, lead vectors     → embed the rest, store all vectors
  summary job, all vectors      → summarise its story
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable

import structlog

from core.config import Settings
from core.queue import Job, Queue
from core.records import ArticleRecord
from core.storage import STORAGE_UNAVAILABLE, Storage
from embedding.base import Embedder, in_background
from workers.cold_pass import ColdPass
from workers.lead import LeadStage
from workers.rest import RestStage
from workers.sources.outside import OutsideWork
from workers.story_ops import BatchResult, Prepared, StoryOps, count_deliveries, fail
from workers.summary_stage import SummaryStage

log = structlog.get_logger(__name__)

POSTS_EVERY_S = 5.0  # how often stage 1 looks for posts cut short (one ZRANGEBYSCORE)


def one_blas_thread() -> None:
    """numpy's BLAS on one thread in a worker process. Its matrices (a story's sentence cosines, a
    repair's window) are small: a second BLAS thread costs more in hand-offs than it saves, and
    it competes with the model's own threads for the same cores (measured: the summariser 2.5x
    slower with two). One setting everywhere also keeps summaries reproducible: a float sum's
    low bits, and so an exact tie between two sentences, depend on how BLAS splits the work."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        embedder: Embedder,
        name: str | None = None,
        summary_embedder: Embedder | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.embedder = embedder  # headline + lead: decides the story
        self.summary_embedder = summary_embedder or embedder  # the other sentences
        self.store = storage.articles
        self.stories = storage.stories
        self.queue = storage.queue  # articles to place in a story
        self.summary_queue = storage.summary_queue
        self.metrics = storage.metrics
        self.name = name or default_consumer_name()
        self.ops = StoryOps(storage, settings)
        self.cold_pass = ColdPass(storage, settings)
        self.lead = LeadStage(storage, settings, embedder)
        self.rest = RestStage(
            storage,
            settings,
            self.summary_embedder,
            self.name,
            background=in_background(self.summary_embedder),
        )
        # Cleared while stage 1 has articles waiting: stage 2 then holds its summaries back.
        self._placing_idle = threading.Event()
        self._placing_idle.set()
        self.summaries = SummaryStage(
            storage, settings, self.ops, self.rest, self._placing_idle, self.name
        )
        self.outside = OutsideWork(storage, settings, self.name)  # feeds in, webhooks out
        self._posts_checked = 0.0

    # -- loop ----------------------------------------------------------------------------------
    def run(self, burst: bool = False, stop: threading.Event | None = None) -> int:
        """Process until `stop` is set, or (burst) until both streams are drained. Returns the
        number of articles finished (summarised or failed).

        The two stages run side by side, each in its own thread over its own stream: while one
        runs Python (extract, assign, summarise) the other's model batches use the other core
        (onnxruntime releases the GIL). The model runs story decisions first (see BatchPool)."""
        stop = stop or threading.Event()
        if burst:
            self.outside.poll_due(stop)  # the feeds due now: their articles are drained below
        else:
            self.outside.start(stop)  # feeds and webhooks, in the background until `stop`
        placing_over = threading.Event()
        failure: list[BaseException] = []
        counts = [0, 0]

        def summaries() -> None:
            try:
                counts[1] = self._loop(self.summary_queue, burst, stop, after=placing_over)
            except BaseException as exc:  # a bug, not a bad article: stop the worker with it
                failure.append(exc)
                stop.set()

        thread = threading.Thread(target=summaries, name=f"{self.name}-summaries")
        thread.start()
        try:
            counts[0] = self._loop(self.queue, burst, stop)
        except BaseException:
            stop.set()
            raise
        finally:
            placing_over.set()
            self._placing_idle.set()
            thread.join()
        if failure:
            raise failure[0]
        if burst:
            self.outside.deliver_due(stop)  # the events of this run, to their webhooks
        return sum(counts)

    def _loop(
        self,
        queue: Queue,
        burst: bool,
        stop: threading.Event,
        after: threading.Event | None = None,
    ) -> int:
        """One stage's loop over its stream. In burst mode it ends when its stream is drained
        and the stage feeding it (`after`, if any) has ended: nothing more can arrive then."""
        batch = self.settings.worker_batch
        placing = queue is self.queue
        handler = self.place if placing else functools.partial(self.summarise, after_placing=True)
        pending = self._start(queue, batch, stop)
        done = 0
        last_report, since_report = time.monotonic(), 0
        while not stop.is_set():
            upstream_over = after is None or after.is_set()  # read before the stream is
            try:
                if placing:
                    self.finish_posts_if_due()
                jobs = pending or self._fetch(queue, batch, burst)
                pending = []
                if not jobs:
                    if burst and upstream_over:
                        break
                    if burst:
                        stop.wait(0.01)  # the other stage is still placing
                    continue
                result = self._process_isolating_failures(handler, queue, jobs)
                if placing and self._repaired():
                    for q in (self.queue, self.summary_queue):  # drop finished stream entries
                        q.trim_done()
                if placing:
                    self.cold_pass.run_if_due()
            except STORAGE_UNAVAILABLE as exc:
                # Storage went away: entries stay pending (claimed again later); wait and retry.
                log.warning("worker.storage_unavailable", error=str(exc), stream=queue.stream)
                stop.wait(1.0)
                pending = []
                continue
            done += len(result.processed) + len(result.failed)
            since_report += len(result.processed)
            if time.monotonic() - last_report > 30:
                per_s = since_report / (time.monotonic() - last_report)
                log.info(
                    "worker.throughput",
                    stage="place" if placing else "summarise",
                    articles=since_report,
                    per_s=round(per_s, 2),
                )
                last_report, since_report = time.monotonic(), 0
        return done

    def finish_posts_if_due(self) -> None:
        """Queue (or drop, when posted again) the articles whose POST died between its steps;
        the queued ones are read below like any other."""
        if time.monotonic() - self._posts_checked < POSTS_EVERY_S:
            return
        self._posts_checked = time.monotonic()
        self.store.posting.finish_stale(self.settings.post_grace_s)

    def _start(self, queue: Queue, batch: int, stop: threading.Event) -> list[Job]:
        """Join the group and take back what this name held before a restart; a worker started
        while Redis is down waits for it instead of exiting."""
        while not stop.is_set():
            try:
                queue.ensure_group()
                return queue.read_own_pending(self.name, batch)
            except STORAGE_UNAVAILABLE as exc:
                log.warning("worker.storage_unavailable", error=str(exc), stream=queue.stream)
                stop.wait(1.0)
        return []

    def _fetch(self, queue: Queue, batch: int, burst: bool) -> list[Job]:
        """Stale entries of a dead worker first, then new ones (blocking, unless burst)."""
        jobs = queue.claim_stale(self.name, self.settings.claim_min_idle_ms, batch)
        jobs = jobs or queue.read_new(self.name, batch, None)
        if queue is self.queue and jobs:
            self._placing_idle.clear()
        elif queue is self.queue:
            self._placing_idle.set()
        if jobs or burst:
            return jobs
        return queue.read_new(self.name, batch, self.settings.block_ms)

    def _repaired(self) -> bool:
        """Whether a repair that was due ran. A repair that fails is logged and left for the next
        batch: the repair improves stories already placed, so its bug must not stop placing."""
        try:
            return self.ops.repair_if_due() is not None
        except STORAGE_UNAVAILABLE:
            raise
        except Exception:
            log.exception("repair.failed")
            return False

    def _process_isolating_failures(
        self, handler: Callable[[list[Job]], BatchResult], queue: Queue, jobs: list[Job]
    ) -> BatchResult:
        """A batch that fails is retried one article at a time, so one bad article cannot hold
        back the others. A failing article stays pending (it is claimed again later) until it
        has failed `max_attempts` times; then it is marked failed with the error and acked."""
        try:
            return handler(jobs)
        except STORAGE_UNAVAILABLE:
            raise
        except Exception as exc:
            log.exception("worker.batch_failed", articles=len(jobs))
            if len(jobs) == 1:
                result = BatchResult()
                self._count_error(queue, jobs[0], exc, result)
                return result
        result = BatchResult()
        for job in jobs:
            try:
                one = handler([job])
            except STORAGE_UNAVAILABLE:
                raise
            except Exception as exc:
                log.exception("article.error", article_id=job.article_id)
                self._count_error(queue, job, exc, result)
                continue
            result.processed += one.processed
            result.failed += one.failed
            result.stories |= one.stories
        return result

    def _count_error(self, queue: Queue, job: Job, exc: Exception, result: BatchResult) -> None:
        errors = self.store.count_error(job.article_id)
        if errors >= self.settings.max_attempts:
            self._fail(job.article_id, f"processing failed {errors} times: {exc!r}"[:500], result)
            queue.ack([job])
            # The handler that raised never reached its own count: articles_failed counts it here.
            self.metrics.batch([], [job.article_id], {})

    # -- stage 1: place in a story ---------------------------------------------------------------
    def place(self, jobs: list[Job]) -> BatchResult:
        """Extract, embed the lead, assign; queue each placed article's summary job, then ack."""
        result = BatchResult()
        to_prepare: list[ArticleRecord] = []
        to_assign: list[str] = []
        copies: list[tuple[str, str, float]] = []  # (near-duplicate, its original, story time)
        placed: list[str] = []
        records = self.store.records([job.article_id for job in jobs])
        live = [
            (job, a)
            for job, a in zip(jobs, records, strict=True)
            if a and not a.finished  # else a redelivery
        ]
        for (job, a), deliveries in zip(live, count_deliveries(self.store, live), strict=True):
            if deliveries > self.settings.max_deliveries:
                self._fail(job.article_id, "delivered too often without finishing", result)
                continue
            if a.story_id:
                placed.append(a.id)  # placed before a crash: its summary job may be lost
            elif a.duplicate_of:
                copies.append((a.id, a.duplicate_of, a.story_ts))
            elif a.sentence_count is not None:
                to_assign.append(a.id)
            else:
                to_prepare.append(a)
        prepared, found = self._prepare(to_prepare, result)
        prepared += self.lead.reload(to_assign)
        # Originals first, so a copy whose original is in this same batch finds its story.
        result.stories.update(self.ops.assign_many(prepared))
        placed += [p.article_id for p in prepared]
        for article_id, original, ts in copies + found:
            result.stories.add(self._join_original(article_id, original, ts))
            placed.append(article_id)
        self.summary_queue.add(placed)  # before the ack: a crash in between re-queues, not loses
        self.queue.ack(jobs)
        self.metrics.batch([], result.failed, {})
        return result

    # -- stage 2: the summary --------------------------------------------------------------------
    def summarise(self, jobs: list[Job], after_placing: bool = False) -> BatchResult:
        """Embed the rest of each article, then rewrite each touched story's summary once
        (workers.summary_stage)."""
        return self.summaries.summarise(jobs, after_placing)

    @property
    def processed_total(self) -> int:
        return self.summaries.processed_total

    def process(self, jobs: list[Job]) -> BatchResult:
        """Both stages for these article jobs and every summary job waiting (tests, tools)."""
        result = self.place(jobs)
        while summaries := self.summary_queue.read_new(self.name, self.settings.worker_batch, None):
            one = self.summarise(summaries)
            result.processed += one.processed
            result.failed += one.failed
        return result

    def _embed_rest(self, article_ids: list[str]) -> None:
        self.rest.embed(article_ids, [])

    def _join_original(self, article_id: str, original: str, ts: float) -> str:
        """A near-duplicate joins its original's story, without a model pass. If the original is
        still being placed by another worker, wait briefly; failing that, the copy is treated
        as an original after all (embedded and assigned) rather than held back."""
        for _ in range(50):
            found = self.store.record(original)
            if found and found.duplicate_of:
                # The match was itself a copy (another worker was still placing it): the copy
                # joins that copy's original, which speaks for both in the summary.
                original = found.duplicate_of
                continue
            story_id = found.story_id if found else None
            if story_id:
                self.stories.commit_copy(article_id, story_id, original, ts)
                log.info(
                    "article.near_duplicate",
                    article_id=article_id,
                    duplicate_of=original,
                    story_id=story_id,
                )
                return story_id
            time.sleep(0.1)
        self.store.clear_copy(article_id)
        article = self.store.record(article_id)
        if article is None:
            raise LookupError(f"article {article_id} is gone")
        (p,) = self._prepare([article], BatchResult(), dedup=False)[0]
        return self.ops.assign(p)

    def _fail(self, article_id: str, reason: str, result: BatchResult) -> None:
        fail(self.store, article_id, reason, result)

    def _prepare(
        self, rows: list[ArticleRecord], result: BatchResult, dedup: bool = True
    ) -> tuple[list[Prepared], list[tuple[str, str, float]]]:
        return self.lead.prepare(rows, lambda aid, why: self._fail(aid, why, result), dedup)
