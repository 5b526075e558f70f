"""Merged, cited story summary from several articles' clean sentences and their vectors.

First cut: sentences of different sources are grouped greedily by cosine similarity; a group backed
by two or more independent sources is consensus, a sentence no other source matches is unique.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workers.summary_model import ConsensusFact, SourceDoc, SourceFacts, Summary, UniqueFact

# all-MiniLM-L6-v2 puts paraphrases of one news statement at roughly 0.7-0.9 and sentences that
# merely share a topic at 0.4-0.65; 0.7 keeps the first and leaves the second apart.
SAME_FACT_COSINE = 0.7


def summarize(docs: Sequence[SourceDoc]) -> Summary:
    docs = sorted(docs, key=lambda d: d.article_id)
    by_id = {d.article_id: d for d in docs}

    def independent_key(doc: SourceDoc) -> str:
        seen = set()
        while doc.duplicate_of and doc.duplicate_of in by_id and doc.article_id not in seen:
            seen.add(doc.article_id)
            doc = by_id[doc.duplicate_of]
        return doc.source

    units = [
        (doc, i, sentence)
        for doc in docs
        for i, sentence in enumerate(doc.sentences)
        if doc.duplicate_of is None or doc.duplicate_of not in by_id
    ]
    if not units:
        return Summary(headline=next((d.title for d in docs if d.title), ""))
    vectors = np.vstack([doc.vectors[i] for doc, i, _ in units]).astype(np.float32)
    sims = vectors @ vectors.T
    keys = [independent_key(doc) for doc, _, _ in units]

    assigned = [-1] * len(units)
    groups: list[list[int]] = []
    for a in range(len(units)):
        if assigned[a] >= 0:
            continue
        group = [a]
        assigned[a] = len(groups)
        for b in np.argsort(-sims[a], kind="stable"):
            b = int(b)
            if assigned[b] >= 0 or sims[a, b] < SAME_FACT_COSINE:
                continue
            if keys[b] in {keys[m] for m in group}:
                continue
            group.append(b)
            assigned[b] = len(groups)
        groups.append(group)

    consensus = []
    unique: dict[str, list[UniqueFact]] = {}
    for group in groups:
        group_keys = sorted({keys[m] for m in group})
        if len(group_keys) >= 2:
            best = max(group, key=lambda m: float(sims[m, group].sum()))
            sources = sorted({units[m][0].source for m in group}
                             | {d.source for d in docs if d.duplicate_of in
                                {units[m][0].article_id for m in group}})
            consensus.append(ConsensusFact(
                text=units[best][2], sources=sources, support=len(group_keys),
                article_ids=sorted({units[m][0].article_id for m in group}),
            ))
        else:
            doc, _, sentence = units[group[0]]
            unique.setdefault(doc.source, []).append(UniqueFact(sentence, doc.article_id))
    consensus.sort(key=lambda c: -c.support)
    headline = next((d.title for d in docs if d.title), consensus[0].text if consensus else "")
    return Summary(
        headline=headline,
        consensus=consensus,
        unique=[SourceFacts(source, facts) for source, facts in sorted(unique.items())],
        conflicts=[],
    )
