"""Redis side of the lexical evidence the assigner weighs (workers.assign.evidence).

Two things, shared by every worker:
- document frequencies learned online from the stream: `terms:df` (term -> how many articles
  used it) and `terms:docs` (how many articles were counted). An article reads the counts of its
  own terms only (one HMGET), so the cost does not grow with the vocabulary or the archive;
- one small JSON profile per story (`story:{id}:evidence`: its recurring words, names and
  numbers, capped by the assigner), read for the few shortlisted candidates of an article.

Values are plain (ints, JSON text): the assigner owns their meaning, core imports no workers.
The vocabulary hash grows with the distinct words of the stream (a few hundred thousand in a
year of news, ~10 MB); it is not pruned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import redis

from core.keys import Keys


class TermStats:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys

    def doc_freqs(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        """(articles counted so far, document frequency of each of `terms`)."""
        wanted = sorted(set(terms))
        pipe = self.r.pipeline(transaction=False)
        pipe.get(self.keys.term_docs)
        if wanted:
            pipe.hmget(self.keys.term_df, wanted)
        got = pipe.execute()
        counts = got[1] if wanted else []
        return int(got[0] or 0), {t: int(c) for t, c in zip(wanted, counts, strict=True) if c}

    def count(self, articles: Sequence[Iterable[str]]) -> None:
        """Count articles (each one's distinct terms) into the document frequencies."""
        if not articles:
            return
        pipe = self.r.pipeline(transaction=False)
        for terms in articles:
            for term in set(terms):
                pipe.hincrby(self.keys.term_df, term, 1)
        pipe.incrby(self.keys.term_docs, len(articles))
        pipe.execute()

    def profiles(self, story_ids: Sequence[str]) -> dict[str, str]:
        """The stored profile (JSON text) of each story that has one."""
        if not story_ids:
            return {}
        # GETs, not one MGET: each profile lives in its story's hash slot (Redis Cluster).
        pipe = self.r.pipeline(transaction=False)
        for sid in story_ids:
            pipe.get(self.keys.story_evidence(sid))
        raw = pipe.execute()
        return {sid: v.decode() for sid, v in zip(story_ids, raw, strict=True) if v}

    def save_profiles(
        self, profiles: Mapping[str, str], pipe: redis.client.Pipeline | None = None
    ) -> None:
        """Write profiles (JSON text); into `pipe` when given (the caller's transaction)."""
        target = pipe if pipe is not None else self.r.pipeline(transaction=False)
        for sid, text in profiles.items():
            target.set(self.keys.story_evidence(sid), text)
        if pipe is None:
            target.execute()

    def drop_profiles(self, story_ids: Sequence[str]) -> None:
        if story_ids:  # one DEL per story: each is its own hash slot on a cluster
            pipe = self.r.pipeline(transaction=False)
            for sid in story_ids:
                pipe.delete(self.keys.story_evidence(sid))
            pipe.execute()
