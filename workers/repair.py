"""Periodic repair of the online assignment: re-cluster with HDBSCAN, then reconcile story IDs.

Online assignment is order-dependent: a story can be born twice (two fragments) when its first
reports arrive before they look alike, or absorb a neighbouring story's article. recluster() looks
at all recent vectors at once; reconcile() turns its labels into a plan that changes as little as
possible and never renames a story: an old ID survives where the overlap says it is the same
story, a story that is merged away answers through `merged_into`, a split gets a new ID with
`parent`. Both functions are pure; the runner loads the vectors and applies the plan.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import hdbscan
import numpy as np
import numpy.typing as npt
from sklearn.decomposition import PCA


@dataclass(frozen=True)
class RepairParams:
    pca_dims: int = 50  # HDBSCAN's density estimates degrade in 384 dims; 50 keeps ~all variance
    min_cluster_size: int = 2  # news stories can be two reports; smaller means "no opinion"
    min_samples: int = 1
    # Clusters closer than this (euclidean on unit PCA vectors) are not split apart: it stops
    # HDBSCAN from cutting one story into sub-topics, which reconcile would turn into splits.
    selection_epsilon: float = 0.5
    seed: int = 0
    # reconcile: a split needs this many articles, so one odd article never spawns a story, and
    # this share of its parent, so sub-topics of a big story are not peeled off one by one
    min_split: int = 3
    split_share: float = 0.3
    # reconcile: a story is merged away only when at least this share of its articles sits in
    # clusters owned by one other story
    merge_share: float = 0.5
    # reconcile: ...and only when the two stories' centroids are at least this similar (the
    # assigner's join threshold). HDBSCAN chains single articles through dense regions; on the
    # benchmarks its merges below this similarity were wrong about six times in seven.
    merge_min_cos: float = 0.45


def recluster(vectors: npt.NDArray[np.float32], params: RepairParams = RepairParams()) -> npt.NDArray[np.int64]:
    """HDBSCAN labels for unit article vectors (-1 = noise: no opinion about that article)."""
    n = len(vectors)
    if n < max(params.min_cluster_size, 2):
        return np.full(n, -1, np.int64)
    x = np.asarray(vectors, np.float64)
    dims = min(params.pca_dims, n - 1, x.shape[1])
    if dims < x.shape[1]:
        x = PCA(dims, random_state=params.seed).fit_transform(x)
    # Back on the unit sphere, euclidean distance is a monotone function of cosine distance.
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    labels = hdbscan.HDBSCAN(
        min_cluster_size=params.min_cluster_size,
        min_samples=params.min_samples,
        cluster_selection_epsilon=params.selection_epsilon,
        metric="euclidean",
        # Exact Prim on a KD-tree: same clusters as the default Boruvka here, ~3x faster at 50 dims.
        algorithm="prims_kdtree",
        core_dist_n_jobs=1,
    ).fit_predict(x)
    return np.asarray(labels, np.int64)


@dataclass
class RepairPlan:
    moves: dict[str, str] = field(default_factory=dict)  # article_id -> its new story_id
    merges: dict[str, str] = field(default_factory=dict)  # old story_id -> merged_into story_id
    splits: dict[str, str] = field(default_factory=dict)  # new story_id -> parent story_id

    def apply(self, current: Mapping[str, str]) -> dict[str, str]:
        """The article -> story mapping after the plan (what the runner writes back)."""
        return {a: self.moves.get(a, s) for a, s in current.items()}


def _ranked(counter: Mapping[str, int]) -> list[str]:
    # Deterministic: most overlap first, ties broken by ID so repeated repairs agree.
    return sorted(counter, key=lambda s: (-counter[s], s))


def _cos(vectors: Mapping[str, npt.NDArray[np.float32]], a: str, b: str) -> float:
    if a not in vectors or b not in vectors:
        return 1.0  # no vector, no objection: HDBSCAN's word stands
    va, vb = np.asarray(vectors[a], np.float64), np.asarray(vectors[b], np.float64)
    norms = float(np.linalg.norm(va)) * float(np.linalg.norm(vb))
    return float(va @ vb) / max(norms, 1e-12)


def reconcile(
    current: Mapping[str, str],
    proposed: Mapping[str, int],
    new_id: Callable[[], str],
    params: RepairParams = RepairParams(),
    story_sizes: Mapping[str, int] | None = None,
    story_vectors: Mapping[str, npt.NDArray[np.float32]] | None = None,
) -> RepairPlan:
    """Plan that moves the online result towards the proposed clustering without renaming.

    current: article_id -> story_id (online) for the articles in the repair window;
    proposed: article_id -> cluster label (-1 noise); story_sizes: each story's total size
    (StoryState.size) when it has members older than the window; story_vectors: each story's
    StoryState.vector_sum, which lets merges be checked against merge_min_cos. Articles absent from
    `proposed`, and noise, keep their story (unless that story is merged).
    """
    overlap: dict[int, Counter[str]] = defaultdict(Counter)  # cluster -> story -> articles
    window_sizes: Counter[str] = Counter(current.values())
    # A story with a long history must not be merged away on the strength of its latest article.
    sizes = {s: max(n, (story_sizes or {}).get(s, 0)) for s, n in window_sizes.items()}
    for article, label in proposed.items():
        if label >= 0 and article in current:
            overlap[label][current[article]] += 1

    # Each cluster is owned by the story that contributes most to it. A story owning several
    # clusters keeps its ID on the largest one; the other ones become splits of it.
    owner = {c: _ranked(cnt)[0] for c, cnt in overlap.items()}
    owned: dict[str, list[int]] = defaultdict(list)
    for c, s in owner.items():
        owned[s].append(c)
    target: dict[int, str] = {}
    plan = RepairPlan()
    for story, clusters in sorted(owned.items()):
        clusters.sort(key=lambda c: (-overlap[c][story], -sum(overlap[c].values()), c))
        target[clusters[0]] = story
        for c in clusters[1:]:
            need = max(params.min_split, params.split_share * window_sizes[story])
            if overlap[c][story] >= need:
                split = new_id()
                plan.splits[split] = story
                target[c] = split
            # A cluster too small to split off is left alone: its articles stay where they are.

    # Where each story's clustered articles are headed, counted per destination.
    heading: dict[str, Counter[str]] = defaultdict(Counter)
    for article, label in proposed.items():
        if article in current and label in target:
            heading[current[article]][target[label]] += 1

    # A story that owns no cluster and sends most of its articles to one other existing story is
    # the same story told twice: it is merged, and its unclustered articles follow it.
    for story, heads in sorted(heading.items()):
        if story in target.values():
            continue
        best = _ranked(heads)[0]
        alike = story_vectors is None or _cos(story_vectors, story, best) >= params.merge_min_cos
        if best not in plan.splits and heads[best] >= params.merge_share * sizes[story] and alike:
            plan.merges[story] = best

    # Only whole-story decisions move articles: a merged story moves as a unit, a split takes its
    # own part of the parent. A lone article that HDBSCAN places in another story's cluster stays:
    # on the benchmarks those single moves were wrong more often than right, and a reader sees
    # articles hop between stories for nothing.
    for article, story in current.items():
        label = proposed.get(article, -1)
        if story in plan.merges:
            dest = plan.merges[story]
        elif label in target and plan.splits.get(target[label]) == story:
            dest = target[label]
        else:
            continue
        plan.moves[article] = dest
    return plan
