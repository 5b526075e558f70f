"""Posting an article: store it, claim its indexes, enqueue it, and finish any post cut short.

Posting spans slots on a cluster (the article's, each index's, the stream's, the unfinished-posts
set's), so it is a sequence of single-slot steps, each safe to repeat, instead of one script:
  0. Note the article id in `posts:unfinished` (scored by now): from here on, a crash anywhere
     below leaves a trace a worker follows (`finish_stale`).
  1. _CREATE the article hash (its own slot): an id already stored wins, first write wins.
  2. Claim the URL index and the content index (SET NX, one round trip): an index another
     stored article holds makes this post that article (the URL's holder first; ours is removed,
     our claims handed to it); an index whose article is gone (a post that died between 1 and 2)
     is taken over.
  3. Enqueue (XADD), then mark the article `enqueued` and take it off `posts:unfinished`.
A post found again (step 1, same id) whose article is queued but not marked enqueued goes on from
step 2. So does a worker, for a post left unfinished longer than a grace period: a poster that
died between 1 and 2 (its client, retrying without an id, stored a second article) would
otherwise leave an article `queued` forever. A job enqueued twice is placed once (the worker's
steps are idempotent); a job never enqueued would be lost.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from core.keys import Keys
from core.records import Accepted, ArticleIn, ArticleStatus
from core.storage.article_codec import _digest, _ts, canonical_url, content_digest
from core.storage.connection import is_cluster

log = structlog.get_logger(__name__)

_CREATE = """
-- KEYS: article hash; ARGV: the article's field/value pairs. Returns {created, status, enqueued}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local got = redis.call('HMGET', KEYS[1], 'status', 'enqueued')
  return {0, got[1] or 'queued', got[2] or ''}
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return {1, 'queued', ''}
"""
# Steps 0 and 1 at once, on a single server (there, one script may touch any keys): KEYS: article
# hash, unfinished posts; ARGV: the note's score, the article id, then _CREATE's field/value pairs.
_NOTE_AND_CREATE = """
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
""" + _CREATE.replace("unpack(ARGV)", "unpack(ARGV, 3)")
# KEYS: an index; ARGV: its holder now, the new holder (or '' to release it).
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class FinishedPosts:
    """What one pass over the unfinished posts did."""

    queued: int = 0  # cut short before its enqueue: now queued
    dropped: int = 0  # cut short before its indexes, and posted again under another id: removed
    cleared: int = 0  # already finished, or never stored: only its trace removed


class Posting:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._create = client.register_script(_CREATE)
        self._swap = client.register_script(_SWAP)
        self.clustered = is_cluster(client)
        self._note_create = client.register_script(_NOTE_AND_CREATE)

    def post(self, article: ArticleIn) -> Accepted:
        article_id = article.id or f"a_{uuid.uuid4().hex[:20]}"
        fields: dict[str, str] = {
            "id": article_id,
            "source": article.source,
            "title": article.title or "",
            "url": article.url or "",
            "published_at": _ts(article.published_at),
            "received_at": f"{time.time():.3f}",
            "status": ArticleStatus.QUEUED,
            "text": article.text or "",
            "html": article.html or "",
        }
        created, status, enqueued = self._note_and_create(article_id, fields)
        if created:
            return self._finish(article_id, fields, "articles_accepted")
        if status.decode() == ArticleStatus.QUEUED and enqueued != b"1":
            # Its first post died before enqueuing it: go on from its indexes.
            stored = self._stored(article_id)
            if stored is not None:
                found = self._finish(article_id, stored, "articles_existing")
                return Accepted(id=found.id, status=found.status, existing=True)
        self.r.pipeline(transaction=False).zrem(self.keys.posts_unfinished, article_id).hincrby(
            self.keys.metrics, "articles_existing", 1
        ).execute()
        return Accepted(id=article_id, status=status.decode(), existing=True)

    def finish_stale(self, older_than_s: float, limit: int = 100) -> FinishedPosts:
        """Finish the posts noted longer than `older_than_s` ago and never finished (their poster
        died). The grace period keeps this off posts still under way; were it to meet one, both
        would do the same steps, each safe to repeat."""
        ids = [
            raw.decode()
            for raw in self.r.zrangebyscore(
                self.keys.posts_unfinished, "-inf", time.time() - older_than_s, 0, limit
            )
        ]
        queued = dropped = cleared = 0
        for article_id in ids:
            stored = self._stored(article_id)
            if stored is None or stored["status"] != ArticleStatus.QUEUED or stored["enqueued"]:
                self.r.zrem(self.keys.posts_unfinished, article_id)
                cleared += 1
                continue
            kept = self._finish(article_id, stored, "posts_recovered")
            if kept.id == article_id:
                queued += 1
                log.warning("post.finished_late", article_id=article_id, outcome="queued")
            else:
                dropped += 1
                log.warning(
                    "post.finished_late", article_id=article_id, outcome="dropped", kept=kept.id
                )
        return FinishedPosts(queued, dropped, cleared)

    # -- the steps ---------------------------------------------------------------------------
    def _note_and_create(self, article_id: str, fields: dict[str, str]) -> list[Any]:
        """Steps 0 and 1: one script on a single server; on a cluster two calls (the note and the
        article live in different slots), the note first."""
        note, article = self.keys.posts_unfinished, self.keys.article(article_id)
        pairs = [x for kv in fields.items() for x in kv]
        if self.clustered:
            self.r.zadd(note, {article_id: time.time()})
            return list(self._create(keys=[article], args=pairs))
        return list(self._note_create(keys=[article, note], args=[time.time(), article_id, *pairs]))

    def _stored(self, article_id: str) -> dict[str, str] | None:
        names = ("status", "enqueued", "source", "text", "html", "url")
        got = self.r.hmget(self.keys.article(article_id), names)
        if got[0] is None:
            return None
        return {n: (v or b"").decode() for n, v in zip(names, got, strict=True)}

    def _finish(self, article_id: str, fields: dict[str, str], counter: str) -> Accepted:
        """Steps 2 and 3 for an article stored in step 1."""
        body = fields["text"] or fields["html"]
        indexes = [self.keys.content_index(content_digest(fields["source"], body))]
        if fields["url"]:  # checked first: the same URL is the same article whatever its text
            indexes.insert(0, self.keys.url_index(_digest(canonical_url(fields["url"]))))
        while True:
            owners = self._claim(indexes, article_id)
            other = self._yields_to(owners, article_id, fields["url"])
            if other is None:
                self._enqueue(article_id, counter)
                return Accepted(id=article_id, status=ArticleStatus.QUEUED, existing=False)
            got = self.r.hmget(self.keys.article(other), "status", "enqueued")
            if got[0] is not None:
                break
            # The holder went away since the claim (its post yielded to a third): claim again.
        # Another stored article holds an index (the URL's first): this post is that article, and
        # hands it the indexes it won (the same text under another URL is that article too).
        for index, owner in zip(indexes, owners, strict=True):
            if owner == article_id:
                self._swap(keys=[index], args=[article_id, other])
        self.r.delete(self.keys.article(article_id))
        self.r.zrem(self.keys.posts_unfinished, article_id)
        counter = "posts_dropped" if counter == "posts_recovered" else "articles_existing"
        status = got[0].decode()
        held = self._stored(other) if status == ArticleStatus.QUEUED and got[1] != b"1" else None
        if held is not None:
            # Its poster died before enqueuing it, maybe before claiming all its indexes. (Its
            # body is read only then: a repost of a stored article reads two short fields.)
            kept = self._finish(other, held, counter)
            return Accepted(id=kept.id, status=kept.status, existing=True)
        self.r.hincrby(self.keys.metrics, counter, 1)
        return Accepted(id=other, status=status, existing=True)

    def _yields_to(self, owners: list[str], article_id: str, url: str) -> str | None:
        """The stored article this post is (the first index's holder other than this post), or
        None: it is new. Except that a post holding the URL index does not yield on the content
        index to a post of the same URL still under way: that one lost the URL to this post and
        yields to it. (On a cluster the two indexes live on different nodes, so two posts of one
        article can each win one; each yielding to the other deleted both.)"""
        other = next((o for o in owners if o != article_id), None)
        if other is None or owners[0] != article_id or not url:
            return other
        their_url, enqueued = self.r.hmget(self.keys.article(other), "url", "enqueued")
        racing = enqueued != b"1" and their_url is not None
        if racing and canonical_url(their_url.decode()) == canonical_url(url):
            return None
        return other

    def _claim(self, indexes: list[str], article_id: str) -> list[str]:
        """The article holding each index once this returns: `article_id` unless another stored
        article held it first. All claimed in one round trip; an index left by a post that died
        before storing its article (its article is gone) is taken over."""
        pipe = self.r.pipeline(transaction=False)
        for index in indexes:
            pipe.set(index, article_id, nx=True)
            pipe.get(index)
        raw = pipe.execute()[1::2]
        owners = []
        for index, owner_raw in zip(indexes, raw, strict=True):
            owner = owner_raw.decode() if owner_raw is not None else article_id
            while owner != article_id and not self.r.exists(self.keys.article(owner)):
                # Taken over when still held by the dead post's id; else see who holds it now.
                if self._swap(keys=[index], args=[owner, article_id]):
                    owner = article_id
                elif not self.r.set(index, article_id, nx=True):
                    owner = (self.r.get(index) or article_id.encode()).decode()
                else:
                    owner = article_id
            owners.append(str(owner))
        return owners

    def _enqueue(self, article_id: str, counter: str) -> None:
        # The entry first, the mark after, never both at once: on a cluster the stream and the
        # article are different slots, and a mark without its entry would lose the article.
        self.r.xadd(self.keys.articles_stream, {"article_id": article_id})
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(self.keys.article(article_id), "enqueued", "1")
        pipe.hincrby(self.keys.metrics, counter, 1)
        pipe.zrem(self.keys.posts_unfinished, article_id)
        pipe.execute()
