"""Stage 1's own work on a batch: clean text, near-duplicates set aside, the headline and lead
embedded (the story decision needs nothing more; the other sentences wait for the summary stage).

IO: the store (extracted text, lead vectors, the near-duplicate index) and the lead model.
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import Settings
from core.records import ArticleRecord
from core.storage import Storage
from core.storage.dedup_index import DAY_S, Probe
from embedding.base import Embedder
from workers import dedup
from workers.assign import scoring as assign
from workers.extract import extract
from workers.extract_quality import not_an_article
from workers.rest import target_sentences
from workers.story_ops import Prepared


class LeadStage:
    def __init__(
        self, storage: Storage, settings: Settings, embedder: Embedder
    ) -> None:
        self.store = storage.articles
        self.metrics = storage.metrics
        self.embedder = embedder  # headline + lead: decides the story
        self.max_sentences = settings.summary_max_sentences
        self.dedup_index = storage.dedup_index(settings.story_window_days)

    def prepare(
        self,
        rows: list[ArticleRecord],
        fail: Callable[[str, str], None],
        check_copies: bool = True,
    ) -> tuple[list[Prepared], list[tuple[str, str, float]]]:
        """Extract every article of the batch, set near-duplicates aside, then embed the others'
        headlines and leads in one model call (the rest waits for the summary stage). Returns
        (prepared originals, (copy, original, ts))."""
        every = []
        for a in rows:
            ex = extract(text=a.text, html=a.html, title=a.title)
            if not ex.sentences and not ex.title:
                fail(a.id, "no article text left after removing captions and markup")
                continue
            if reason := not_an_article(ex):  # index pages, section fronts, paywall stubs
                fail(a.id, reason)
                continue
            every.append((a, ex))
        originals = (
            self.originals_of([(a.id, ex.sentences, a.story_ts) for a, ex in every])
            if check_copies
            else {}
        )
        extracted, copies = [], []
        for a, ex in every:
            if original := originals.get(a.id):
                self.store.save_copy(a.id, ex.title, ex.sentences, original)
                copies.append((a.id, original, a.story_ts))
            else:
                extracted.append((a, ex))
        texts: list[str] = []
        for _, ex in extracted:
            lead = ex.sentences[: assign.LEAD_SENTENCES]
            texts += [ex.title, *lead] if ex.title else lead
        with self.metrics.embed(len(texts)):
            vectors = self.embedder.encode(texts)
        out, row = [], 0
        for a, ex in extracted:
            title_vec = vectors[row] if ex.title else None
            row += 1 if ex.title else 0
            lead_vecs = vectors[row : row + min(len(ex.sentences), assign.LEAD_SENTENCES)]
            row += len(lead_vecs)
            vector = assign.article_vector(title_vec, lead_vecs)
            target = len(target_sentences(ex.sentences, self.max_sentences))
            self.store.save_extracted(a.id, ex.title, ex.sentences, lead_vecs, vector, target)
            out.append(Prepared(a.id, ex.title or "", ex.sentences, vector, a.story_ts))
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
            a = self.store.record(aid)
            if a is None:
                continue  # gone meanwhile: nothing to place
            out.append(Prepared(aid, a.display_title, sentences, vector.copy(), a.story_ts))
        return out

