"""Stage 1's own work on a batch: clean text, near-duplicates set aside, the headline and lead
embedded (the story decision needs nothing more; the other sentences wait for the summary stage).

IO: the store (extracted text, lead vectors, the near-duplicate index) and the lead model.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from core.config import Settings
from core.storage import metrics
from core.storage.articles import Store
from core.storage.dedup_index import DAY_S, DedupIndex, Probe
from embedding.base import Embedder
from workers import dedup
from workers.assign import scoring as assign
from workers.extract import extract
from workers.rest import target_sentences
from workers.story_ops import Prepared


class LeadStage:
    def __init__(
        self, client: redis.Redis, settings: Settings, store: Store, embedder: Embedder
    ) -> None:
        self.r = client
        self.store = store
        self.embedder = embedder  # headline + lead: decides the story
        self.max_sentences = settings.summary_max_sentences
        self.dedup_index = DedupIndex(client, store.keys, settings.story_window_days)

    def prepare(
        self,
        rows: list[tuple[str, dict[str, str]]],
        fail: Callable[[str, str], None],
        check_copies: bool = True,
    ) -> tuple[list[Prepared], list[tuple[str, str, float]]]:
        """Extract every article of the batch, set near-duplicates aside, then embed the others'
        headlines and leads in one model call (the rest waits for the summary stage). Returns
        (prepared originals, (copy, original, ts))."""
        every = []
        for article_id, f in rows:
            ex = extract(
                text=f.get("text") or None, html=f.get("html") or None, title=f.get("title") or None
            )
            if not ex.sentences and not ex.title:
                fail(article_id, "no article text left after removing captions and markup")
                continue
            every.append((article_id, f, ex))
        originals = (
            self.originals_of([(aid, ex.sentences, article_ts(f)) for aid, f, ex in every])
            if check_copies
            else {}
        )
        extracted, copies = [], []
        for article_id, f, ex in every:
            if original := originals.get(article_id):
                self.store.save_copy(article_id, ex.title, ex.sentences, original)
                copies.append((article_id, original, article_ts(f)))
            else:
                extracted.append((article_id, f, ex))
        texts: list[str] = []
        for _, _, ex in extracted:
            lead = ex.sentences[: assign.LEAD_SENTENCES]
            texts += [ex.title, *lead] if ex.title else lead
        with metrics.timed_embed(self.r, self.store.keys, len(texts)):
            vectors = self.embedder.encode(texts)
        out, row = [], 0
        for article_id, f, ex in extracted:
            title_vec = vectors[row] if ex.title else None
            row += 1 if ex.title else 0
            lead_vecs = vectors[row : row + min(len(ex.sentences), assign.LEAD_SENTENCES)]
            row += len(lead_vecs)
            vector = assign.article_vector(title_vec, lead_vecs)
            target = len(target_sentences(ex.sentences, self.max_sentences))
            self.store.save_extracted(article_id, ex.title, ex.sentences, lead_vecs, vector, target)
            out.append(Prepared(article_id, ex.title or "", ex.sentences, vector, article_ts(f)))
        return out, copies

    def originals_of(self, items: list[tuple[str, list[str], float]]) -> dict[str, str]:
        """The earlier article each of these copies, following copies back to their original
        (copy id -> original id). An article earlier in the batch counts as earlier; all are
        registered afterwards, in order, so that later copies find them."""
        probes, sigs = [], {}
        for article_id, sentences, ts in items:
            body = " ".join(sentences)
            if dedup.eligible(body):
                sig = sigs[article_id] = dedup.signature(body)
                bands = dedup.band_keys(sig)
                probes.append(Probe(article_id, dedup.signature_to_bytes(sig), bands, ts))
        if not probes:
            return {}
        matches = []
        for k, (p, stored) in enumerate(
            zip(probes, self.dedup_index.candidates(probes), strict=True)
        ):
            sig, days = sigs[p.article_id], self.dedup_index.days(p.ts)
            found = {
                o
                for o, raw in stored.items()
                if dedup.is_near_duplicate(sig, dedup.signature_from_bytes(raw))
            }
            found |= {
                q.article_id
                for q in probes[:k]
                if int(q.ts // DAY_S) in days
                and not set(q.bands).isdisjoint(p.bands)
                and dedup.is_near_duplicate(sig, sigs[q.article_id])
            }
            matches.append(found - {p.article_id})
        in_batch = {p.article_id for p in probes}
        stored_hits = sorted(set().union(*matches) - in_batch)
        roots = dict(zip(stored_hits, self.store.copies_of(stored_hits), strict=True))
        out: dict[str, str] = {}
        for p, found in zip(probes, matches, strict=True):
            for other in found:
                root = (out.get(other) if other in in_batch else roots[other]) or other
                out[p.article_id] = min(out.get(p.article_id) or root, root)  # deterministic
        self.dedup_index.register(probes)
        return out

    def reload(self, article_ids: list[str]) -> list[Prepared]:
        """Articles embedded in an earlier, interrupted attempt: their stored vectors, no model."""
        loaded = self.store.load_extracted(article_ids)
        vectors = self.store.article_vectors(article_ids)
        out = []
        for aid, (sentences, _), vector in zip(article_ids, loaded, vectors, strict=True):
            f = self.store.article_fields(aid)
            title = f.get("clean_title") or f.get("title") or ""
            out.append(Prepared(aid, title, sentences, vector.copy(), article_ts(f)))
        return out


def article_ts(f: dict[str, str]) -> float:
    """Story time: when it was published, else when we received it."""
    return float(f.get("published_at") or f.get("received_at") or time.time())
