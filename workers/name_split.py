"""The repair's name split: a story that holds two events told with different names (pure).

Two events of one kind (two earthquakes, two Oscar-host announcements, two double murders) read
alike to the embedding model, and a story that took in a report of the other event can grow into
both: the name check of the assigner (workers.assign.scoring) stops an article that shares no
name with the story, but the two events share their kind's names ("Survey", "Academy",
"Colts"). What still tells them apart is that each event's reports keep naming someone or
somewhere the other event's reports never name: "Jenkin" and "Millom" against "New Bedford";
"Capaldi" against "Matt Smith".

So, over a story's members in the repair window: look for two names, each used by at least
`min_group` members, never by the same member, that together cover `cover` of the members.
The members naming one go to one side, those naming the other to the other side, and the rest
go to the side whose own names (used by two of its members, none of the other side's) they name
more, else to the side whose centroid is nearer. The split stands only when both sides keep
`min_group` members and their centroids are less alike (cosine below `max_cos`) than reports of
one event usually are: within one event, a story's reports also fall into groups naming
different people (the victim's family, the suspect's lawyers), but those read alike.

HDBSCAN still sees the two events as one cluster, so the next repair would merge the side that
left back into its parent; a merge the name split would undo is dropped from the plan.

The rule's form was found reading ECB+'s merges; its values are the fit on all dev sets
(benchmarks.threshold_lodo). Fitted without ECB+ (on the other dev sets, where it rarely fires) it
would stay off: docs/benchmarks.md, "A name split in the repair" and the section after it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.story_state import unit_vector
from workers.repair import RepairPlan

MAX_ANCHORS = 40  # the most used names tried as anchors: bounds the pairs at 780 per story


@dataclass(frozen=True)
class NameSplitParams:
    min_group: int = 4  # members each side needs (and each anchor name)
    cover: float = 0.5  # share of the members the two anchor names must cover between them
    max_cos: float = 0.85  # the sides' centroids must be less alike than this; 0 turns it off


def split_by_names(
    names: Sequence[frozenset[str]],
    vectors: npt.NDArray[np.float32],
    params: NameSplitParams = NameSplitParams(),
) -> tuple[list[int], list[int]] | None:
    """Two sides (member positions, the side of member 0 first) when the members tell two events
    apart by name, else None.

    names: each member's names (workers.assign.evidence.proper_names); vectors: their unit
    article vectors, one row each."""
    n, k = len(names), params.min_group
    if params.max_cos <= 0 or n < 2 * k:
        return None
    used = Counter(name for member in names for name in member)
    anchors = sorted((a for a, c in used.items() if k <= c <= n - k), key=lambda a: (-used[a], a))
    who = {a: frozenset(i for i, member in enumerate(names) if a in member)
           for a in anchors[:MAX_ANCHORS]}
    best: tuple[tuple[int, int], frozenset[int], frozenset[int]] | None = None
    for a, b in itertools.combinations(sorted(who), 2):
        side_a, side_b = who[a], who[b]
        if side_a & side_b or len(side_a | side_b) < params.cover * n:
            continue
        key = (len(side_a | side_b), min(len(side_a), len(side_b)))
        if best is None or key > best[0]:
            best = (key, side_a, side_b)
    if best is None:
        return None
    sides = _place_the_rest(names, vectors, set(best[1]), set(best[2]))
    if min(len(sides[0]), len(sides[1])) < k:
        return None
    if _cos(vectors[sides[0]].mean(axis=0), vectors[sides[1]].mean(axis=0)) >= params.max_cos:
        return None
    first, second = sorted(sides)  # the side holding the first member first
    return first, second


def _place_the_rest(
    names: Sequence[frozenset[str]], vectors: npt.NDArray[np.float32], a: set[int], b: set[int]
) -> tuple[list[int], list[int]]:
    """Members naming neither anchor join the side whose own names they name more (names two of
    that side's members use and none of the other's), else the side with the nearer centroid."""
    used_a = Counter(name for i in a for name in names[i])
    used_b = Counter(name for i in b for name in names[i])
    own_a = {name for name, c in used_a.items() if c >= 2 and name not in used_b}
    own_b = {name for name, c in used_b.items() if c >= 2 and name not in used_a}
    centre_a, centre_b = vectors[sorted(a)].mean(axis=0), vectors[sorted(b)].mean(axis=0)
    side_a, side_b = set(a), set(b)
    for i in range(len(names)):
        if i in a or i in b:
            continue
        by_a, by_b = len(names[i] & own_a), len(names[i] & own_b)
        if by_a != by_b:
            (side_a if by_a > by_b else side_b).add(i)
        else:
            near_a = float(vectors[i] @ centre_a) >= float(vectors[i] @ centre_b)
            (side_a if near_a else side_b).add(i)
    return sorted(side_a), sorted(side_b)


def _cos(u: npt.NDArray[np.float32], v: npt.NDArray[np.float32]) -> float:
    return float(unit_vector(u) @ unit_vector(v))


def with_name_splits(
    plan: RepairPlan,
    current: Mapping[str, str],
    names: Mapping[str, frozenset[str]],
    vectors: Mapping[str, npt.NDArray[np.float32]],
    new_id: Callable[[], str],
    params: NameSplitParams = NameSplitParams(),
) -> RepairPlan:
    """The plan without the merges the name split would undo, and with each story it leaves
    holding two events split until no part of it splits again (the larger side keeps the story's
    ID; each other side becomes a split with `parent` = that story). Splitting to the end in one
    repair makes the next repair over the same window a no-op: one side at a time, a story of
    four events took three repairs to come apart, and a reader saw it change at each.
    current: article_id -> story_id before the plan."""
    out = _without_merges_of_two_events(plan, current, names, vectors, params)
    for story, ids in sorted(_members(out.apply(current)).items()):
        root = out.splits.get(story, story)  # a split reconcile made points to its parent
        parts = [(story, ids)]  # (story id, its articles): each part is tried until it holds
        while parts:
            part_id, part_ids = parts.pop()
            known, sides = _split(part_ids, names, vectors, params)
            if sides is None:
                continue
            # The smaller side leaves (on a tie, the side without the earliest-sorted member).
            leaving = sides[1] if len(sides[1]) <= len(sides[0]) else sides[0]
            split = new_id()
            out.splits[split] = root
            for i in leaving:
                out.moves[known[i]] = split
            # Articles without names or vector stay on the part's side, as before the split.
            gone = {known[i] for i in leaving}
            parts += [(part_id, [a for a in part_ids if a not in gone]),
                      (split, [known[i] for i in leaving])]
    return out


def _members(story_of: Mapping[str, str]) -> dict[str, list[str]]:
    """story_id -> its article ids, sorted (the repairs' order does not depend on dict order)."""
    members: dict[str, list[str]] = {}
    for article in sorted(story_of):
        members.setdefault(story_of[article], []).append(article)
    return members


def _split(
    ids: Sequence[str],
    names: Mapping[str, frozenset[str]],
    vectors: Mapping[str, npt.NDArray[np.float32]],
    params: NameSplitParams,
) -> tuple[list[str], tuple[list[int], list[int]] | None]:
    """split_by_names over the articles of `ids` whose names and vector are known (returned)."""
    known = [a for a in ids if a in names and a in vectors]
    if not known:
        return known, None
    return known, split_by_names([names[a] for a in known],
                                 np.stack([vectors[a] for a in known]), params)


def _without_merges_of_two_events(
    plan: RepairPlan,
    current: Mapping[str, str],
    names: Mapping[str, frozenset[str]],
    vectors: Mapping[str, npt.NDArray[np.float32]],
    params: NameSplitParams,
) -> RepairPlan:
    """Drop each merge whose two stories the name split would put on opposite sides (most of
    one story's articles on one side, most of the other's on the other), with its moves.
    HDBSCAN sees the two events as one cluster, so without this every repair would merge a
    story split by names back into its parent, and split it off again under a new ID."""
    members = _members(current)
    apart: set[str] = set()
    for story, dest in sorted(plan.merges.items()):
        ids, sides = _split(members.get(story, []) + members.get(dest, []), names, vectors, params)
        if sides is None:
            continue
        first = set(sides[0])
        own = np.mean([float(i in first) for i, a in enumerate(ids) if current[a] == story] or [0.5])
        other = np.mean([float(i in first) for i, a in enumerate(ids) if current[a] == dest] or [0.5])
        if (own - 0.5) * (other - 0.5) < 0:  # a majority of each, on different sides
            apart.add(story)
    return RepairPlan(
        {a: s for a, s in plan.moves.items() if current.get(a) not in apart},
        {s: d for s, d in plan.merges.items() if s not in apart},
        dict(plan.splits),
    )
