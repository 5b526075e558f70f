"""Articles in Redis: the only module (with core.storage.stories) that reads and writes them.

Posting is a short sequence of single-slot steps, each safe to repeat (core.storage.posting):
the same id, else the same canonical URL, else the same source + text returns the
article already stored and changes nothing (first write wins, also for an id re-posted with
different text).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import redis

from core.errors import ModelMismatch, NotFound, ServiceUnavailable
from core.keys import Keys
from core.records import Accepted, ArticleIn, ArticleOut, ArticleRecord, ArticleStatus
from core.storage.article_codec import (
    DIM,
    _record,
    from_ts,
    pack_sentence_vectors,
    unpack_sentence_vectors,
)
from core.storage.connection import cluster_write_problem, is_cluster
from core.storage.posting import Posting
from core.storage.story_locks import held
from embedding.spec import MODEL, ModelSpec

# KEYS: an article hash. Drops the posted text and HTML, and writes the other fields back as a new
# hash. Why rewrite: Redis stores a hash compactly (listpack) only while its every value is short
# (hash-max-listpack-value: 512 bytes in the embedded server's config), and a hash that once held
# the posted text keeps the large encoding after HDEL: 1.7 kB per article against 0.65 kB.
_DROP_TEXT = """
redis.call('HDEL', KEYS[1], 'text', 'html')
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
return 1
"""



class Store:
    def __init__(self, client: redis.Redis, keys: Keys, model: ModelSpec = MODEL) -> None:
        self.r = client
        self.keys = keys
        self.model = model  # the tag every stored vector carries (ModelMismatch on another)
        self.posting = Posting(client, keys)  # POST's steps, and finishing a post cut short
        self._drop_text = client.register_script(_DROP_TEXT)

    # -- posting -----------------------------------------------------------------------------
    def add_article(self, article: ArticleIn) -> Accepted:
        try:
            return self.posting.post(article)
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"storage is unreachable: {exc}") from exc

    def add_articles(self, articles: Sequence[ArticleIn]) -> list[Accepted]:
        return [self.add_article(a) for a in articles]

    # -- reading -----------------------------------------------------------------------------
    def article_fields(self, article_id: str) -> dict[str, str]:
        raw = self.r.hgetall(self.keys.article(article_id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def article(self, article_id: str) -> ArticleOut:
        f = self.article_fields(article_id)
        if not f:
            raise NotFound(f"no article with id {article_id!r}", field="id")
        return ArticleOut(
            id=f["id"],
            status=f["status"],
            source=f["source"],
            title=f.get("title") or f.get("clean_title") or None,
            url=f.get("url") or None,
            published_at=from_ts(f.get("published_at")),
            received_at=from_ts(f["received_at"]) or datetime.now(UTC),
            story_id=f.get("story_id") or None,
            duplicate_of=f.get("duplicate_of") or None,
            reason=f.get("reason") or None,
            sentence_count=int(f["sentence_count"]) if f.get("sentence_count") else None,
        )

    def records(self, article_ids: Sequence[str]) -> list[ArticleRecord | None]:
        """Each article as a typed record, in one round trip (None for one that is gone)."""
        return [_record(f) if f else None for f in self.articles_fields(article_ids)]

    def record(self, article_id: str) -> ArticleRecord | None:
        return self.records([article_id])[0]

    def articles_fields(self, article_ids: Sequence[str]) -> list[dict[str, str]]:
        """article_fields of each, in one round trip ({} for an article that is gone)."""
        pipe = self.r.pipeline(transaction=False)
        for article_id in article_ids:
            pipe.hgetall(self.keys.article(article_id))
        return [{k.decode(): v.decode() for k, v in raw.items()} for raw in pipe.execute()]

    def copies_of(self, article_ids: Sequence[str]) -> list[str | None]:
        """The original each of these articles is a near-duplicate of (None: it is an original)."""
        pipe = self.r.pipeline(transaction=False)
        for article_id in article_ids:
            pipe.hget(self.keys.article(article_id), "duplicate_of")
        return [v.decode() if v else None for v in pipe.execute()]

    # -- worker side -------------------------------------------------------------------------
    def count_deliveries(self, article_ids: Sequence[str]) -> list[int]:
        """Count one more delivery of each (existing) article; returns the new counts."""
        pipe = self.r.pipeline(transaction=False)
        for article_id in article_ids:
            pipe.hincrby(self.keys.article(article_id), "deliveries", 1)
        return [int(n) for n in pipe.execute()]

    def count_error(self, article_id: str) -> int:
        return int(self.r.hincrby(self.keys.article(article_id), "errors", 1))

    def save_extracted(
        self,
        article_id: str,
        title: str | None,
        sentences: list[str],
        vectors: npt.NDArray[np.float32],
        article_vector: npt.NDArray[np.float32],
        vector_target: int | None = None,
    ) -> None:
        """The clean sentences, the vectors of the first len(vectors) of them (the lead, at first:
        the rest follow with save_sentence_vectors), the article vector, and how many sentences
        get a vector in the end (`vector_target`, default all)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.keys.article_sentences(article_id), json.dumps(sentences))
        pipe.set(self.keys.article_vectors(article_id), pack_sentence_vectors(vectors))
        pipe.set(self.keys.article_vector(article_id), article_vector.astype("<f4").tobytes())
        mapping = {
            "model": self.model.tag,
            "sentence_count": str(len(sentences)),
            "vector_rows": str(len(vectors)),
            "vector_target": str(len(sentences) if vector_target is None else vector_target),
        }
        if title:
            mapping["clean_title"] = title
        pipe.hset(self.keys.article(article_id), mapping=mapping)
        pipe.execute()
        # The text is stored once: from here on, as the clean sentences (the posted text and
        # HTML were the same words again, ~60% of an article's text bytes). A crash before this
        # leaves the text in place: bytes, not a wrong answer.
        self._drop_text(keys=[self.keys.article(article_id)])

    def save_sentence_vectors(self, article_id: str, vectors: npt.NDArray[np.float32]) -> None:
        """Every sentence's vector (lead included), replacing the lead-only rows: written whole,
        so a second worker finishing the same article writes the same bytes.

        What a summary of the article's story would say changes with them: the story's
        `member_rev` moves too (see Stories.write_summary), so a summary built before they were
        stored never counts as covering the article."""
        story_id = self.r.hget(self.keys.article(article_id), "story_id")
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.keys.article_vectors(article_id), pack_sentence_vectors(vectors))
        pipe.hset(self.keys.article(article_id), "vector_rows", str(len(vectors)))
        pipe.execute()
        # After the vectors (the story is another slot): a summary that read the old number may
        # already see the new vectors, never the reverse. A crash in between redelivers the job,
        # which stores the same bytes and moves the number then.
        if story_id:
            self.r.hincrby(self.keys.story(story_id.decode()), "member_rev", 1)

    def save_copy(
        self, article_id: str, title: str | None, sentences: list[str], original_id: str
    ) -> None:
        """A near-duplicate keeps its own sentences (for reading) but no vectors: it is never
        embedded, and the summary counts its original once."""
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.keys.article_sentences(article_id), json.dumps(sentences))
        mapping = {"sentence_count": str(len(sentences)), "duplicate_of": original_id}
        if title:
            mapping["clean_title"] = title
        pipe.hset(self.keys.article(article_id), mapping=mapping)
        pipe.execute()

    def clear_copy(self, article_id: str) -> None:
        self.r.hdel(self.keys.article(article_id), "duplicate_of", "sentence_count")

    def load_extracted(
        self, article_ids: Sequence[str]
    ) -> list[tuple[list[str], npt.NDArray[np.float32]]]:
        """(sentences, vectors) per article; vectors has fewer rows than sentences while only the
        lead is embedded."""
        self.check_model(article_ids)
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.get(self.keys.article_sentences(aid))
            pipe.get(self.keys.article_vectors(aid))
        raw = pipe.execute()
        out = []
        for sentences_raw, vectors_raw in zip(raw[::2], raw[1::2], strict=True):
            sentences = json.loads(sentences_raw) if sentences_raw else []
            # Rows for the first sentences only while the rest are not embedded yet.
            vectors = (
                unpack_sentence_vectors(vectors_raw)
                if vectors_raw and sentences
                else np.zeros((0, DIM), dtype=np.float32)
            )
            out.append((sentences, vectors))
        return out

    def article_vectors(self, article_ids: Sequence[str]) -> npt.NDArray[np.float32]:
        """Stored article vectors, one row per id (the repair re-clusters these)."""
        self.check_model(article_ids)
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.get(self.keys.article_vector(aid))
        rows = [np.frombuffer(raw, "<f4") for raw in pipe.execute()]
        return np.vstack(rows) if rows else np.zeros((0, DIM), np.float32)

    def check_model(self, article_ids: Sequence[str]) -> None:
        """Refuse vectors another model made: they would compare as garbage, not fail. (Articles
        stored before vectors were tagged carry no tag and were made by MiniLM-L6, the only
        model then.)"""
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.hget(self.keys.article(aid), "model")
        for aid, tag in zip(article_ids, pipe.execute(), strict=True):
            if tag and tag.decode() != self.model.tag:
                raise ModelMismatch(
                    f"article {aid} holds vectors of {tag.decode()}, this process embeds with "
                    f"{self.model.tag}: run both with the same model (or re-post the article)",
                    field="model",
                )

    def claim_rest(self, article_ids: Sequence[str], owner: str, ttl_ms: int) -> list[bool]:
        """Whether each article's remaining sentences are `owner`'s to embed: newly claimed, or
        claimed by this same owner before (a worker restarted under its name takes its own
        articles back at once). A claim lapses after `ttl_ms`, so a dead claimer's do too."""
        if not article_ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            key = self.keys.article_rest_claim(aid)
            pipe.set(key, owner, nx=True, px=ttl_ms)
            pipe.get(key)
        raw = pipe.execute()
        mine = owner.encode()
        return [bool(new) or got == mine for new, got in zip(raw[::2], raw[1::2], strict=True)]

    def mark_failed(self, article_id: str, reason: str) -> None:
        self.r.hset(
            self.keys.article(article_id), mapping={"status": ArticleStatus.FAILED, "reason": reason[:500]}
        )

    @contextmanager
    def assign_lock(self, timeout_s: float = 30.0) -> Iterator[None]:
        """The creation lock: one worker at a time opens a new story, so two reports of a new
        event cannot each open one (core.storage.story_locks; joins take only their story's
        lock). The repair holds it too. Held for milliseconds; the timeout frees it if its
        holder dies."""
        with held(self.r, self.keys.assign_lock, timeout_s, "the story assignment lock"):
            yield

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False

    def write_problem(self) -> str | None:
        """Why the store cannot take writes now (None: it can). A PONG is not enough: a cluster
        with a master down answers PINGs and refuses its slots' writes, a server whose disk
        failed refuses writes (MISCONF), a replica refuses them (READONLY)."""
        try:
            if is_cluster(self.r):
                problem = cluster_write_problem(self.r)
                if problem:
                    return problem
            self.r.set(self.keys.write_probe, f"{time.time():.3f}", ex=60)
        except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
