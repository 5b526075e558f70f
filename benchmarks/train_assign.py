"""Train the learned join-or-new decision (workers/assign/join_model.json) on the labelled dev sets.

    nice .venv/bin/python -m benchmarks.train_assign /work/shared/benchmarks \
        [--out workers/assign/join_model.json] [--cache DIR] [--backend onnx-int8|torch]

How the examples are made (teacher forcing, as Miranda et al. 2018 train their join decision):
each dev set is replayed in its stream order against its *true* stories built so far; for every
article the product's shortlist (workers.assign.join_model.shortlist: the TOP_K reachable
stories by dense score) gives one example per candidate, labelled "this is the article's story".
Document frequencies are learned online along the replay, as the worker learns them. Each
dataset group weighs the same in the fit (GoogleNews T / S / TS are three views of one set of
documents: one group), so 11k GoogleNews items do not drown 179 giveme5w1h articles.

The decision threshold is the one that makes the most right decisions (join the right story, or
start a new story when the article's story does not exist yet) over the training replays, each
group weighing the same. `fit(..., exclude=GROUP)` is the leave-one-dataset-out fit the
clustering benchmark scores each set with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmarks.datasets import LOADERS, Dataset, embed
from core.story_state import StoryState
from workers.assign.evidence import ArticleTerms, DocFreq, StoryProfile, add_article, article_terms
from workers.assign.join_model import (
    FEATURES,
    MODEL_PATH,
    JoinModel,
    features,
    shortlist,
)
from workers.assign.scoring import ArticleSignal, AssignParams, absorb, article_vector, start_story

GROUPS = {
    "giveme5w1h-dev": "giveme5w1h-dev",
    "ecbplus": "ecbplus",
    "GoogleNews-TS": "GoogleNews",
    "GoogleNews-T": "GoogleNews",
    "GoogleNews-S": "GoogleNews",
    "UCI-sample": "UCI-sample",
}


def vectors(ds: Dataset) -> np.ndarray:
    return np.stack([
        article_vector(t if np.any(t) else None, s)
        for t, s in zip(ds.title_vecs, ds.sent_vecs, strict=True)
    ])


def terms_of(ds: Dataset) -> list[ArticleTerms]:
    return [article_terms(title, lead) for title, lead in zip(ds.titles, ds.leads, strict=True)]


@dataclass
class Evidence:
    """The in-memory stand-in for core.storage.term_stats: online document frequencies and one
    profile per story."""

    n_docs: int = 0
    df: Counter[str] = field(default_factory=Counter)
    profiles: dict[str, StoryProfile] = field(default_factory=dict)

    def doc_freq(self, terms: ArticleTerms) -> DocFreq:
        return DocFreq(self.n_docs, {t: self.df[t] for t in terms.words})

    def seen(self, terms: ArticleTerms) -> None:
        self.n_docs += 1
        self.df.update(terms.words)

    def join(self, story_id: str, terms: ArticleTerms) -> None:
        self.profiles[story_id] = add_article(self.profiles.get(story_id, StoryProfile()), terms)


@dataclass
class Replay:
    """One dataset's training examples."""

    name: str
    x: np.ndarray  # (examples, FEATURES)
    y: np.ndarray  # 1: the candidate is the article's story
    article: np.ndarray  # which article each example belongs to
    has_story: np.ndarray  # per article: its true story existed already (joining is right)


def replay(ds: Dataset) -> Replay:
    params = AssignParams()  # the product's time window and archive horizon
    x, terms, labels = vectors(ds), terms_of(ds), ds.labels
    stories: dict[str, StoryState] = {}
    ev = Evidence()
    rows: list[np.ndarray] = []
    ys: list[int] = []
    owners: list[int] = []
    has_story: list[bool] = []
    order = np.argsort(np.asarray([d.ts for d in ds.docs]), kind="stable")
    for n, i in enumerate(order):
        sig = ArticleSignal(x[i], ds.docs[i].ts, ds.titles[i], ds.leads[i])
        short = shortlist(sig, list(stories.values()), params)
        has_story.append(labels[i] in stories)
        if short:
            rows.append(features(sig, terms[i], ev.doc_freq(terms[i]), short, ev.profiles, params))
            ys.extend(int(s.story_id == labels[i]) for s in short)
            owners.extend([n] * len(short))
        label = labels[i]
        stories[label] = absorb(stories[label], sig) if label in stories else start_story(label, sig)
        ev.join(label, terms[i])
        ev.seen(terms[i])
    return Replay(ds.name, np.vstack(rows) if rows else np.zeros((0, len(FEATURES))),
                  np.asarray(ys), np.asarray(owners), np.asarray(has_story))


def _code_key() -> str:
    """Replays depend on the evidence and feature code: a change there makes new ones."""
    import workers.assign.evidence as ev_mod
    import workers.assign.join_model as jm_mod

    text = "".join(Path(m.__file__ or "").read_text() for m in (ev_mod, jm_mod))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_replay(ds: Dataset, cache: Path) -> Replay:
    """replay(ds), kept in `cache` (a GoogleNews replay takes minutes on two cores)."""
    key = hashlib.sha256(json.dumps([ds.labels, ds.leads]).encode()).hexdigest()[:12]
    path = cache / f"replay-{ds.name}-{key}-{_code_key()}.npz"
    if path.exists():
        with np.load(path) as z:
            return Replay(ds.name, z["x"], z["y"], z["article"], z["has_story"])
    rep = replay(ds)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=rep.x, y=rep.y, article=rep.article, has_story=rep.has_story)
    return rep


def _weights(replays: Sequence[Replay]) -> list[float]:
    """Per dataset: its share (each group weighs the same, split evenly over its datasets)."""
    groups = Counter(GROUPS.get(r.name, r.name) for r in replays)
    return [1.0 / len(groups) / groups[GROUPS.get(r.name, r.name)] for r in replays]


def _best_threshold(model: JoinModel, replays: Sequence[Replay], shares: Sequence[float]) -> float:
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    score = np.zeros(len(grid))
    for rep, share in zip(replays, shares, strict=True):
        prob = model.probability(rep.x)
        n = len(rep.has_story)
        best_p, best_right = np.zeros(n), np.zeros(n, bool)
        for a in range(n):  # the most probable candidate per article
            idx = np.flatnonzero(rep.article == a)
            if len(idx):
                j = idx[int(np.argmax(prob[idx]))]
                best_p[a], best_right[a] = prob[j], bool(rep.y[j])
        for g, theta in enumerate(grid):
            join = best_p >= theta
            right = np.where(join, best_right, ~rep.has_story)
            score[g] += share * right.mean()
    return float(grid[int(np.argmax(score))])


def fit(replays: Sequence[Replay], exclude: str | None = None, header: dict[str, object]
        | None = None) -> JoinModel:
    """Logistic regression over the replays, leaving out dataset group `exclude`."""
    used = [r for r in replays if GROUPS.get(r.name, r.name) != exclude and len(r.y)]
    shares = _weights(used)
    x = np.vstack([r.x for r in used])
    y = np.concatenate([r.y for r in used])
    w = np.concatenate([np.full(len(r.y), s / len(r.y)) for r, s in zip(used, shares, strict=True)])
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    lr = LogisticRegression(C=1.0, max_iter=2000)
    lr.fit((x - mean) / scale, y, sample_weight=w * len(y))
    model = JoinModel(mean, scale, lr.coef_[0].astype(np.float64), float(lr.intercept_[0]), 0.5,
                      header or {})
    theta = _best_threshold(model, used, shares)
    return JoinModel(mean, scale, model.coef, model.intercept, theta, model.header)


def load(names: Sequence[str], data_dir: Path, cache: Path, backend: str) -> list[Dataset]:
    encoder: list[Callable[[Sequence[str]], np.ndarray]] = []

    def encode(texts: Sequence[str]) -> np.ndarray:
        if not encoder:  # the model is loaded only when something is not cached yet
            from core.config import Settings
            from embedding.factory import select_backend

            settings = Settings(embed_backend=backend, _env_file=None)
            encoder.append(select_backend(settings).encode)
        return np.concatenate([encoder[0](list(texts[i:i + 256]))
                               for i in range(0, len(texts), 256)])

    return [embed(LOADERS[n](data_dir), encode, cache) for n in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/storyfold/bench")
    ap.add_argument("--backend", choices=["torch", "onnx-int8"], default="onnx-int8")
    ap.add_argument("--datasets", nargs="+", choices=list(LOADERS), default=list(LOADERS),
                    help="the dev sets to train on (a GoogleNews replay takes ~10 min on 2 cores)")
    args = ap.parse_args()
    cache = args.cache / args.backend if args.backend != "torch" else args.cache
    replays = [cached_replay(ds, cache) for ds in load(args.datasets, args.data_dir, cache,
                                                        args.backend)]
    header = {
        "script": "benchmarks/train_assign.py",
        "data": [f"{r.name} ({len(r.has_story)} articles, {len(r.y)} examples)" for r in replays],
        "backend": args.backend,
        "date": dt.date.today().isoformat(),
        "retrain": "python -m benchmarks.train_assign /work/shared/benchmarks --datasets "
                   + " ".join(args.datasets),
    }
    model = fit(replays, header=header)
    args.out.write_text(model.to_json())
    coefs = ", ".join(f"{f} {c:+.2f}" for f, c in zip(FEATURES, model.coef, strict=True))
    print(f"wrote {args.out}: threshold {model.threshold:.2f}; {coefs}")


if __name__ == "__main__":
    main()
