"""Stage 2's model work: the sentences after the lead, embedded before a story's summary.

A summary job embeds its own article's other sentences and also those of the story's other
members still waiting for theirs (up to EXTRA_PER_BATCH): a burst places many members of a story
before any summary job runs, and embedding them together lets one summary take them all in,
instead of one summary per job over a story that grows by one member each time. Their own jobs
then find them processed.

With several workers that would embed the same article twice (one as its own job, another as an
extra), so each article is claimed first (`SET NX` with a TTL). An extra already claimed is left
to its claimer. An own article claimed by someone else is waited for a few seconds, then embedded
here anyway: its claimer may have died, and a job is only acknowledged once its article is done.

IO: the store (sentences and vectors, claims) and the summary model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np

from core.config import Settings
from core.queue import Queue
from core.records import ArticleStatus
from core.storage import Storage
from embedding.base import Embedder

# Members embedded ahead of their own summary job, at most, per batch: enough to fold a burst's
# story into one summary, few enough to keep one batch well under a second of model time.
EXTRA_PER_BATCH = 48
CLAIM_MS = 30_000  # longer than any batch's model time; a dead claimer's claims lapse after it
AWAIT_S = 5.0  # how long an own article claimed by another worker is waited for


class RestStage:
    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        embedder: Embedder,
        name: str,
        background: Embedder | None = None,
    ) -> None:
        """`background`: the same model, run after story decisions waiting for it (the default
        while summaries keep up); `embedder` itself runs when they fall behind."""
        self.max_sentences = settings.summary_max_sentences
        self.store = storage.articles
        self.stories = storage.stories
        self.metrics = storage.metrics
        self.embedder = embedder
        self.background = background or embedder
        self.name = name
        self._ahead = "0-0"  # the last summary job embed_ahead looked at

    def embed(self, own: Sequence[str], stories: Iterable[str], urgent: bool = False) -> None:
        """Embed the rest of `own` (this batch's articles still missing vectors) and of the
        waiting members of `stories`; returns once every one of `own` has all its vectors.
        `urgent`: summaries are behind, the model takes these in turn with story decisions."""
        model = self.embedder if urgent else self.background
        claimed = self._claim(own)
        others = [a for a, ok in zip(own, claimed, strict=True) if not ok]
        mine = [a for a, ok in zip(own, claimed, strict=True) if ok]
        extras = self._waiting_members(stories, set(own))
        extras = [a for a, ok in zip(extras, self._claim(extras), strict=True) if ok]
        self._embed(model, mine + extras)
        self._embed(model, self._await_embedded(others))

    def embed_ahead(self, queue: Queue, count: int) -> int:
        """Embed, in the background, the articles of up to `count` summary jobs no worker has
        read yet, claimed as usual (their jobs then find them done); for a summary stage that
        holds its summaries back while stage 1 is placing. Returns the jobs looked at (0: none
        is waiting past those looked at before)."""
        jobs = queue.peek_unread(count, after=self._ahead)
        if not jobs:
            return 0
        self._ahead = jobs[-1].entry_id
        ids = [j.article_id for j in jobs]
        waiting = [
            a.id
            for a in self.store.records(ids)
            if a and a.status == ArticleStatus.CLUSTERED and a.waits_for_vectors
        ]
        mine = [a for a, ok in zip(waiting, self._claim(waiting), strict=True) if ok]
        self._embed(self.background, mine)
        return len(jobs)

    def _claim(self, article_ids: Sequence[str]) -> list[bool]:
        """Whether each is this worker's to embed: newly claimed, or claimed by this same name
        before (a worker restarted under its name picks up its own articles at once)."""
        return self.store.claim_rest(article_ids, self.name, CLAIM_MS)

    def _waiting_members(self, stories: Iterable[str], taken: set[str]) -> list[str]:
        extra: list[str] = []
        for story_id in stories:
            for m in self.stories.members(story_id):
                if len(extra) >= EXTRA_PER_BATCH:
                    return extra
                if (
                    m.status == ArticleStatus.CLUSTERED
                    and not m.embedded
                    and m.article_id not in taken
                ):
                    extra.append(m.article_id)
        return extra

    def _await_embedded(self, article_ids: list[str]) -> list[str]:
        """Those of `article_ids` another worker has not embedded within AWAIT_S."""
        deadline = time.monotonic() + AWAIT_S
        waiting = article_ids
        while waiting:
            records = self.store.records(waiting)
            waiting = [
                aid for aid, a in zip(waiting, records, strict=True) if a and a.waits_for_vectors
            ]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return waiting

    def _embed(self, model: Embedder, article_ids: list[str]) -> None:
        """The sentences after the lead, all articles in one model call; stored whole."""
        if not article_ids:
            return
        loaded = [
            (target_sentences(sentences, self.max_sentences), lead)
            for sentences, lead in self.store.load_extracted(article_ids)
        ]
        texts = [s for sentences, lead in loaded for s in sentences[len(lead) :]]
        with self.metrics.embed(len(texts)):
            vectors = model.encode(texts)
        row = 0
        for aid, (sentences, lead) in zip(article_ids, loaded, strict=True):
            rest = vectors[row : row + len(sentences) - len(lead)]
            row += len(rest)
            self.store.save_sentence_vectors(aid, np.vstack([lead, rest]))


def target_sentences(sentences: list[str], max_sentences: int) -> list[str]:
    """The sentences that get a vector: the first `max_sentences` (0: all)."""
    return sentences[:max_sentences] if max_sentences else sentences
