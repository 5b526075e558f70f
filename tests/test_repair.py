"""Repair: HDBSCAN finds obvious clusters; reconcile merges and splits without renaming stories."""

from __future__ import annotations

import itertools

import numpy as np

from workers.repair import RepairParams, RepairPlan, recluster, reconcile


def _resolve(story: str, plan: RepairPlan) -> str:
    """Where a story ID now answers: itself, or the story it was merged into."""
    while story in plan.merges:
        story = plan.merges[story]
    return story


def _new_ids() -> itertools.count[int]:
    return itertools.count(1)


def test_merge_two_fragments_and_split_one_story_without_renaming() -> None:
    current = {
        # s1 and s2: one story that the online pass started twice
        "a1": "s1", "a2": "s1", "a3": "s1", "a4": "s2", "a5": "s2",
        # s3: two stories glued together online
        "a6": "s3", "a7": "s3", "a8": "s3", "a9": "s3", "a10": "s3", "a11": "s3",
        # s4: a story HDBSCAN has no opinion about (noise)
        "a12": "s4", "a13": "s4",
    }
    proposed = {"a1": 0, "a2": 0, "a3": 0, "a4": 0, "a5": 0,
                "a6": 1, "a7": 1, "a8": 1, "a9": 2, "a10": 2, "a11": 2,
                "a12": -1, "a13": -1}
    counter = _new_ids()
    plan = reconcile(current, proposed, lambda: f"new{next(counter)}")

    assert plan.merges == {"s2": "s1"}
    assert plan.splits == {"new1": "s3"}
    assert plan.moves == {"a4": "s1", "a5": "s1", "a9": "new1", "a10": "new1", "a11": "new1"}

    after = plan.apply(current)
    # Every old ID still resolves to a live story, directly or through merged_into.
    live = set(after.values())
    for old in set(current.values()):
        assert _resolve(old, plan) in live
    # Nothing renamed: each surviving old story keeps the articles it had that stayed together.
    assert {a for a, s in after.items() if s == "s1"} == {"a1", "a2", "a3", "a4", "a5"}
    assert {a for a, s in after.items() if s == "s3"} == {"a6", "a7", "a8"}
    assert {a for a, s in after.items() if s == "s4"} == {"a12", "a13"}  # noise keeps its story
    # The split is a new story whose parent is the story it came from.
    assert {a for a, s in after.items() if s == "new1"} == {"a9", "a10", "a11"}

    # Repairing the repaired state again changes nothing (no flapping between repairs).
    again = reconcile(after, proposed, lambda: "never")
    assert not (again.moves or again.merges or again.splits)


def test_small_odd_groups_are_not_split_off() -> None:
    current = {f"a{i}": "s1" for i in range(10)}
    proposed = {f"a{i}": 0 for i in range(8)} | {"a8": 1, "a9": 1}  # two articles: too few
    plan = reconcile(current, proposed, lambda: "never")
    assert not (plan.moves or plan.merges or plan.splits)


def test_recluster_separates_two_clear_groups() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 384))
    x = np.vstack([c + 0.15 * rng.normal(size=(12, 384)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = recluster(x, RepairParams())
    assert len(set(labels[:12])) == 1 and len(set(labels[12:])) == 1
    assert labels[0] != labels[12] and labels[0] >= 0 and labels[12] >= 0
    assert list(recluster(x[:1], RepairParams())) == [-1]  # too few points: no opinion


def test_merge_needs_alike_centroids_when_vectors_are_given() -> None:
    current = {"a1": "s1", "a2": "s1", "a3": "s1", "a4": "s2"}
    proposed = {"a1": 0, "a2": 0, "a3": 0, "a4": 0}
    e1, e2 = np.eye(384, dtype=np.float32)[:2]
    near = {"s1": 3 * e1, "s2": e1 + 0.5 * e2}  # cosine 0.89
    far = {"s1": 3 * e1, "s2": e2}  # cosine 0
    assert reconcile(current, proposed, lambda: "never", story_vectors=near).merges == {"s2": "s1"}
    assert reconcile(current, proposed, lambda: "never", story_vectors=far).merges == {}
    # A story with a long history is not merged away because of its one recent article.
    big = reconcile(current, proposed, lambda: "never", story_sizes={"s2": 9})
    assert big.merges == {} and big.moves == {}
