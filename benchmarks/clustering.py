"""Story clustering benchmark: storyfold (batch and streaming) against simple and BERTopic baselines.

    nice .venv/bin/python -m benchmarks.clustering /work/shared/benchmarks [--datasets ...]
        [--train-on ...] [--methods ...] [--no-bertopic] [--bertopic-max N] [--no-seeds]
        [--cache DIR] [--repair-every N] [--backend onnx-int8|torch]
        [--lodo-fit-on ...] [--lodo-search ...] [--jobs N]
        (progress bars go to stderr)

Methods (--methods; row labels in METHODS): "learned" rows use the learned join decision
(workers/assign/join_model.py), "LODO" fitted without the scored set's group (benchmarks/
train_assign.py, --train-on), "shipped fit" the all-sets fit that has seen it; "one-threshold"
rows the product's scorer (workers.assign.scoring.choose_story), as shipped ("tuned on all") or,
in the threshold-lodo rows (asked for by name: 26-40 minutes of grid runs on 2 cores), with
the --lodo-search parameters fitted on the --lodo-fit-on sets outside the scored set's group
(benchmarks/threshold_lodo.py's grid and fit; the fitted values are printed). See
docs/benchmarks.md.
"streaming" is the runner's loop without Redis (choose_story / absorb /
start_story one article at a time in time order, recluster + reconcile + name split over the open window every
N assignments); "storyfold batch" is the same online pass with a single repair at the end, as
after importing a backlog; "single pass τ=0.6" joins the best centroid at cosine >= 0.6;
BERTopic gets the same vectors (UMAP seeded), its outlier topic -1 scored as one cluster.
Datasets without timestamps (GoogleNews) share one timestamp, so time plays no part there.

Every method sees the same MiniLM vectors (cached under --cache). Full articles are embedded the
way the product does it: headline + lead sentences through workers.extract, combined with
workers.assign.article_vector. Headline-only items are one vector each. Metrics are computed here
(NMI and ARI from scikit-learn, BCubed written out) against the datasets' own labels; only the
LODO rows are fitted on labels here, never on the scored set's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from tqdm import tqdm

from benchmarks.datasets import LOADERS, Dataset, embed, load_seeds
from benchmarks.train_assign import GROUPS, Evidence, cached_replay, fit, terms_of
from core.story_state import StoryState
from workers.assign.evidence import ArticleTerms, StoryProfile, add_article
from workers.assign.join_model import JoinModel, choose_story_learned, load_join_model, shortlist
from workers.assign.scoring import (
    ArticleSignal,
    AssignParams,
    absorb,
    article_vector,
    build_story,
    choose_story,
    start_story,
)
from workers.name_split import NameSplitParams, with_name_splits
from workers.repair import RepairParams, recluster, reconcile

# Row labels. "LODO": fitted without this set's group (the learned decision by training, the
# one-threshold scorer by benchmarks/threshold_lodo.py's grid search over --lodo-fit-on); "tuned
# on it": the shipped fit, whose training data include this set; "tuned on all": the product's
# scorer as shipped, its parameters chosen on all dev sets (this one included).
METHODS = {
    "learned-stream": "learned streaming, LODO",
    "learned-batch": "learned batch, LODO",
    "learned-all": "learned streaming, shipped fit (tuned on it)",
    "threshold-lodo-stream": "one-threshold streaming, LODO",
    "threshold-lodo-batch": "one-threshold batch, LODO",
    "threshold-stream": "one-threshold streaming (tuned on all)",
    "threshold-batch": "one-threshold batch (tuned on all)",
    "single-pass": "single pass τ=0.6",
}
DEFAULT_METHODS = [m for m in METHODS if not m.startswith("threshold-lodo")]  # a half-hour fit
REPAIR_EVERY = 200  # the runner's default: repair after this many newly assigned articles
SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"


def bcubed(truth: Sequence[str], pred: Sequence[str]) -> tuple[float, float, float]:
    """BCubed precision, recall, F1 (Bagga & Baldwin; Amigó et al. 2009), averaged over items."""
    _, t = np.unique(np.asarray(truth), return_inverse=True)
    _, p = np.unique(np.asarray(pred), return_inverse=True)
    joint = np.zeros((t.max() + 1, p.max() + 1))
    np.add.at(joint, (t, p), 1)
    shared = joint[t, p]  # items sharing both the true and the predicted cluster, per item
    precision = float((shared / joint.sum(axis=0)[p]).mean())
    recall = float((shared / joint.sum(axis=1)[t]).mean())
    return precision, recall, 2 * precision * recall / (precision + recall)


def vectors(ds: Dataset) -> np.ndarray:
    return np.stack([
        article_vector(t if np.any(t) else None, s)
        for t, s in zip(ds.title_vecs, ds.sent_vecs, strict=True)
    ])


# -- storyfold ----------------------------------------------------------------------------------


@dataclass
class Run:
    labels: list[str]
    repairs: int = 0


@dataclass
class Learned:
    """The learned join decision instead of the one-threshold scorer."""

    model: JoinModel
    terms: list[ArticleTerms]


def storyfold(
    x: np.ndarray, ts: Sequence[float], leads: Sequence[str], params: AssignParams,
    rparams: RepairParams, repair_every: int | None, final_repair: bool, desc: str,
    learned: Learned | None = None, titles: Sequence[str] = (),
    split: NameSplitParams | None = None,
) -> Run:
    """The runner's loop without Redis: assign one article at a time in time order, repair
    every `repair_every` assignments over the active window, optionally once more at the end."""
    split = split or NameSplitParams()  # the product's name split unless told otherwise
    ev = Evidence()  # document frequencies and story profiles (learned decision only)
    counter = itertools.count()
    stories: dict[str, StoryState] = {}
    members: dict[str, list[int]] = defaultdict(list)
    story_of: dict[int, str] = {}
    # The headline and lead as the product's placement sees them (the vector, and the names).
    signals = [ArticleSignal(x[i], float(ts[i]), titles[i] if titles else "", leads[i])
               for i in range(len(x))]
    repairs = 0

    def new_id() -> str:
        return f"s{next(counter)}"

    def repair(now: float) -> None:
        window = [i for i in story_of if now - signals[i].published_ts <= params.window_s]
        if len(window) < 3:
            return
        labels = recluster(x[window], rparams)
        current = {str(i): story_of[i] for i in window}
        sizes = {sid: st.size for sid, st in stories.items()}
        sums = {sid: st.vector_sum for sid, st in stories.items()}
        plan = reconcile(current, {str(i): int(c) for i, c in zip(window, labels, strict=True)},
                         new_id, rparams, sizes, sums)
        plan = with_name_splits(plan, current, {str(i): signals[i].names for i in window},
                                {str(i): x[i] for i in window}, new_id, split)
        touched = set(plan.moves.values()) | set(plan.merges) | set(plan.splits)
        for article, target in plan.moves.items():
            i = int(article)
            touched.add(story_of[i])
            members[story_of[i]].remove(i)
            members[target].append(i)
            story_of[i] = target
        for sid in touched:
            if members[sid]:
                stories[sid] = build_story(sid, [signals[i] for i in members[sid]])
                if learned:
                    profile = StoryProfile()
                    for i in members[sid]:
                        profile = add_article(profile, learned.terms[i])
                    ev.profiles[sid] = profile
            else:  # merged away (answers through merged_into) or emptied
                stories.pop(sid, None)
                members.pop(sid, None)
                ev.profiles.pop(sid, None)

    for n, i in enumerate(tqdm(np.argsort(np.asarray(ts), kind="stable"), desc=desc,
                               leave=False, disable=not desc), start=1):
        sig = signals[i]
        # The store hands over open and archived stories; choose_story keeps the reachable ones.
        if learned:
            terms = learned.terms[i]
            short = shortlist(sig, list(stories.values()), params)
            sid = choose_story_learned(sig, terms, ev.doc_freq(terms), short, ev.profiles,
                                       params, learned.model).story_id
        else:
            sid = choose_story(sig, list(stories.values()), params)
        if sid is None:
            sid = new_id()
            stories[sid] = start_story(sid, sig)
        else:
            stories[sid] = absorb(stories[sid], sig)
        members[sid].append(int(i))
        story_of[int(i)] = sid
        if learned:
            ev.join(sid, learned.terms[i])
            ev.seen(learned.terms[i])
        if repair_every and n % repair_every == 0:
            repair(sig.published_ts)
            repairs += 1
    if final_repair:
        repair(max(ts))
        repairs += 1
    return Run([story_of[i] for i in range(len(x))], repairs)


def _labels(x: np.ndarray, ts: Sequence[float], leads: Sequence[str], params: AssignParams,
            rparams: RepairParams, repair_every: int | None, final_repair: bool,
            name: str, learned: Learned | None = None, titles: Sequence[str] = (),
            split: NameSplitParams | None = None) -> list[str]:
    desc = f"{name} {'stream' if repair_every else 'batch'}"
    return storyfold(x, ts, leads, params, rparams, repair_every, final_repair, desc,
                     learned, titles, split).labels


def single_pass(x: np.ndarray, ts: Sequence[float], tau: float = 0.6) -> list[str]:
    """Baseline: one cosine threshold against story centroids, no time, no repair."""
    sums = np.zeros((0, x.shape[1]), np.float32)
    labels = [0] * len(x)
    for i in tqdm(np.argsort(np.asarray(ts), kind="stable"), desc="single pass", leave=False):
        if len(sums):
            sims = (sums @ x[i]) / np.linalg.norm(sums, axis=1)
            j = int(sims.argmax())
            if sims[j] >= tau:
                sums[j] += x[i]
                labels[i] = j
                continue
        sums = np.vstack([sums, x[i]])
        labels[i] = len(sums) - 1
    return [str(v) for v in labels]


def bertopic(docs: list[str], x: np.ndarray, min_topic_size: int) -> list[str]:
    """BERTopic on the same vectors; its outlier topic -1 is scored as one cluster."""
    from bertopic import BERTopic
    from umap import UMAP

    umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
    model = BERTopic(umap_model=umap, min_topic_size=min_topic_size)
    topics, _ = model.fit_transform(docs, x)
    return [str(t) for t in topics]


# -- table --------------------------------------------------------------------------------------


def row(dataset: str, method: str, truth: list[str], pred: list[str], secs: float) -> str:
    p, r, f = bcubed(truth, pred)
    return (f"| {dataset} | {method} | {normalized_mutual_info_score(truth, pred):.3f} "
            f"| {adjusted_rand_score(truth, pred):.3f} | {p:.3f} | {r:.3f} | {f:.3f} "
            f"| {len(set(pred))} / {len(set(truth))} | {len(truth) / secs:,.0f} |")


def timed(fn: Callable[[], list[str]]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def seed_check(ds: Dataset, encode: Callable[[Sequence[str]], np.ndarray], cache: Path,
               params: AssignParams, rparams: RepairParams, model: JoinModel | None) -> str:
    """The five seed reports mixed into the middle of the stream: one story, nothing else in it."""
    mid = float(np.median([d.ts for d in ds.docs]))
    mixed = Dataset(ds.name + "+seeds", sorted(ds.docs + load_seeds(SEEDS_DIR, mid),
                                               key=lambda d: (d.ts, d.doc_id)))
    embed(mixed, encode, cache)
    learned = Learned(model, terms_of(mixed)) if model else None
    run = storyfold(vectors(mixed), [d.ts for d in mixed.docs], mixed.leads, params, rparams,
                    REPAIR_EVERY, True, "seeds", learned, mixed.titles)
    seed_stories = {s for d, s in zip(mixed.docs, run.labels, strict=True) if d.label == "seed"}
    others = sum(1 for d, s in zip(mixed.docs, run.labels, strict=True)
                 if s in seed_stories and d.label != "seed")
    ok = len(seed_stories) == 1 and others == 0
    return (f"seed check, {'learned' if model else 'one-threshold'} decision (5 seed reports "
            f"mixed into {ds.name} at its median date): {len(seed_stories)} story, {others} "
            f"other articles in it -> {'PASS' if ok else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--datasets", nargs="+", choices=list(LOADERS), default=list(LOADERS))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/storyfold/bench")
    ap.add_argument("--no-bertopic", action="store_true")
    ap.add_argument("--bertopic-max", type=int, default=3000,
                    help="BERTopic on the first N documents (stream order) of a larger set")
    ap.add_argument("--no-seeds", action="store_true")
    ap.add_argument("--train-on", nargs="+", choices=list(LOADERS), default=list(LOADERS),
                    help="the dev sets the learned decision's LODO fits are trained on")
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=DEFAULT_METHODS)
    ap.add_argument("--lodo-fit-on", nargs="+", choices=list(LOADERS),
                    default=["giveme5w1h-dev", "ecbplus", "UCI-sample"],
                    help="the dev sets the one-threshold LODO rows are fitted on")
    ap.add_argument("--lodo-search", nargs="+",
                    default=["threshold", "threshold_with_body", "decay_per_log_day",
                             "name_penalty"],
                    help="the scorer's parameters those fits search (benchmarks.threshold_lodo; "
                         "adding name_min doubles the grid: 696 runs)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="grid runs side by side for those fits")
    ap.add_argument("--repair-every", type=int, default=REPAIR_EVERY)
    ap.add_argument("--backend", choices=["torch", "onnx-int8"], default="onnx-int8",
                    help="the embedding backend (STORYFOLD_EMBED_BACKEND) whose vectors to use")
    args = ap.parse_args()
    if args.backend != "torch":  # its own vector cache
        args.cache = args.cache / args.backend

    encoder: list[Callable[[Sequence[str]], np.ndarray]] = []

    def encode(texts: Sequence[str]) -> np.ndarray:
        if not encoder:  # the model is loaded only when something is not cached yet
            from core.config import Settings
            from embedding.factory import select_backend as make_embedder

            settings = Settings(embed_backend=args.backend, _env_file=None)
            encoder.append(make_embedder(settings).encode)
        batches = [list(texts[i:i + 256]) for i in range(0, len(texts), 256)]
        return np.concatenate([encoder[0](b) for b in tqdm(batches, desc="embed", leave=False)])

    params, rparams = AssignParams(), RepairParams()
    # Every dev set is replayed for training (cached); each scored set gets a fit without its
    # group (leave-one-dataset-out), beside the shipped all-sets fit.
    scorer_lodo = any(m.startswith("threshold-lodo") for m in args.methods)
    wanted = sorted(set(args.train_on) | set(args.datasets)
                    | set(args.lodo_fit_on if scorer_lodo else ()))
    every = {name: embed(LOADERS[name](args.data_dir), encode, args.cache) for name in wanted}
    shipped = load_join_model()
    # The learned decision's fits, only when a learned row is asked for (replays are slow).
    learned_rows = any(m.startswith("learned") for m in args.methods)
    replays = [cached_replay(every[n], args.cache) for n in args.train_on] if learned_rows else []
    lodo = {g: fit(replays, exclude=g if g in {GROUPS[n] for n in args.train_on} else None)
            if learned_rows else shipped for g in sorted({GROUPS[n] for n in args.datasets})}
    lodo_fits = _scorer_lodo_fits(every, args) if scorer_lodo else {}
    print(f"storyfold: {params}\n           {rparams}, repair every {args.repair_every}")
    print(f"learned decision: shipped {shipped.header.get('date')} threshold "
          f"{shipped.threshold:.2f}; LODO thresholds "
          + ", ".join(f"without {g} {m.threshold:.2f}" for g, m in lodo.items()) + "\n")
    print("| data | method | NMI | ARI | B3 P | B3 R | B3 F1 | clusters found / true | art/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    notes = []
    for name in args.datasets:
        ds = every[name]
        x, ts, truth = vectors(ds), [d.ts for d in ds.docs], ds.labels
        terms = terms_of(ds)
        held_out, tuned = Learned(lodo[GROUPS[name]], terms), Learned(shipped, terms)
        run = partial(_labels, x, ts, ds.leads, params, rparams, titles=ds.titles)
        fitted = run  # replaced by the LODO fit's run whenever a threshold-lodo row is asked for
        if name in lodo_fits:  # the scorer with the parameters fitted without this set
            lodo_params, lodo_rparams, split = _params_of(lodo_fits[name])
            fitted = partial(_labels, x, ts, ds.leads, lodo_params, lodo_rparams,
                             titles=ds.titles, split=split)
        methods: dict[str, Callable[[], list[str]]] = {
            "learned-stream": partial(run, args.repair_every, False, name, held_out),
            "learned-batch": partial(run, None, True, name, held_out),
            "learned-all": partial(run, args.repair_every, False, name, tuned),
            "threshold-lodo-stream": partial(fitted, args.repair_every, False, name),
            "threshold-lodo-batch": partial(fitted, None, True, name),
            "threshold-stream": partial(run, args.repair_every, False, name),
            "threshold-batch": partial(run, None, True, name),
            "single-pass": partial(single_pass, x, ts),
        }
        for key in args.methods:
            method, fn = METHODS[key], methods[key]
            pred, secs = timed(fn)
            print(row(name, method, truth, pred, secs), flush=True)
        if not args.no_bertopic:
            n = min(len(ds.docs), args.bertopic_max)
            sub = "" if n == len(ds.docs) else f" (first {n})"
            docs = [(d.title + " " + d.text[:1000]).strip() for d in ds.docs[:n]]
            for label, size in (("BERTopic default", 10), ("BERTopic min_topic_size=2", 2)):
                pred, secs = timed(partial(bertopic, docs, x[:n], size))
                print(row(name, label + sub, truth[:n], pred, secs), flush=True)
        if not args.no_seeds and name == "giveme5w1h-dev":  # mixing seeds re-embeds the set
            for model in (None, shipped):
                notes.append(seed_check(ds, encode, args.cache, params, rparams, model))
    print()
    for note in notes:
        print(note)


def _scorer_lodo_fits(every: dict[str, Dataset], args: argparse.Namespace
                      ) -> dict[str, dict[str, float]]:
    """For each scored set, the scorer's parameters fitted without its group on --lodo-fit-on
    (best mean of streaming and batch BCubed F1, as `benchmarks.threshold_lodo --with-batch`)."""
    from benchmarks import threshold_lodo as lodo

    if unknown := sorted(set(args.lodo_search) - set(lodo.GRID)):
        raise SystemExit(f"--lodo-search: no grid for {unknown}; choose from {list(lodo.GRID)}")
    fit_sets = {n: every[n] for n in args.lodo_fit_on}
    scores = lodo.Scores(fit_sets, args.repair_every, with_batch=True)
    points = lodo.grid_points(args.lodo_search)
    lodo.score_grid(scores, points, args.jobs)
    fits = {}
    for name in args.datasets:
        group = [n for n in fit_sets if GROUPS[n] == GROUPS[name]]
        fits[name] = lodo.fit_without(scores, points, group)
        shown = ", ".join(f"{k} {fits[name][k]:g}" for k in args.lodo_search)
        print(f"one-threshold LODO for {name}: fitted on "
              f"{', '.join(n for n in fit_sets if n not in group)}: {shown}")
    return fits


def _params_of(point: dict[str, float]) -> tuple[AssignParams, RepairParams, NameSplitParams]:
    from benchmarks.threshold_lodo import params_of

    return params_of(tuple(sorted(point.items())))


if __name__ == "__main__":
    main()
