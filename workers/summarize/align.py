"""Fact groups: which clauses of different outlets report the same thing.

The score of a pair starts from the cosine of their sentence vectors and corrects it with what the
vectors blur: the particular words, names and numbers each clause commits to. Groups are then built
by average-linkage clustering, one clause per outlet per group.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workers.summarize import pairs
from workers.summarize.pairs import shares_of_sentence
from workers.summarize.units import FactUnit, Story

# Weight of the lexical evidence. In one story, all-MiniLM-L6-v2 puts paraphrases and mere topical
# neighbours only ~0.1 apart (0.65-0.9 vs 0.55-0.75), while outlets reporting the same fact keep
# its rare words ("ceasefire", "Lecornu", "IAEA"). Sharing half a clause's rare-word weight (Dice
# 0.5) over the baseline moves a pair by ~0.14: enough to lift a reworded paraphrase over the
# threshold, not enough to merge two facts that share a topic's vocabulary.
LEXICAL_WEIGHT = 0.4
# Weighted Dice two unrelated clauses of the same story typically reach through the story's
# common words; only overlap beyond it is evidence.
LEXICAL_BASELINE = 0.15
# Penalty when each side names particular things (rare names, counted things) the other lacks:
# "539 drones ... Kyiv" against "Izhevsk ... 1,000 kilometres" describe two different events even
# though both are "drone attacks with dozens wounded". Capped: evidence of difference, not proof.
CLASH_WEIGHT = 0.15
# Two clauses that count the same thing with numbers that cannot both be true ("12 hospitalized",
# "15 hospitalized") are one fact reported two ways only if the words around the numbers agree
# too; otherwise the numbers are the best evidence they are two facts (this year's 48,000-pound
# recall, 2019's 9,000-pound one) and the pair is penalised like a clash. A rarity-weighted Dice
# of 0.35 is about twice what clauses that merely share the story's topic reach.
NUMBERS_CONFIRMED = 0.35
# A name counts as particular when its rarity is at least this: it occurs in at most ~√n of the
# story's n clauses (rarity is IDF scaled to 0..1, so √n is exactly 0.5).
PARTICULAR_NAME = 0.5
# Score at which two clauses report the same fact: the cosine of a close paraphrase (~0.7) once
# the lexical and clash corrections are in.
SAME_FACT = 0.7
# Two groups merge when their best link is a same-fact pair and their average pair score is at
# most this much lower. Paraphrases of one fact by four outlets score anywhere from 0.6 to 0.9
# pairwise, so demanding a 0.7 average rejects true groups; letting any single link merge (single
# linkage) chains topical neighbours together. The margin is the spread of one fact's own
# paraphrase scores around their mean (~±0.1), halved.
AVERAGE_MARGIN = 0.05
# Below this, no other outlet says anything close: the clause is that outlet's own fact. Between
# the two thresholds a clause is neither shown as shared nor claimed as unique.
NOT_REPORTED_ELSEWHERE = 0.6


@dataclass(frozen=True)
class Alignment:
    scores: npt.NDArray[np.float64]  # pair scores; -inf within one outlet
    groups: list[list[int]]  # unit indices, each group sorted; groups sorted by first unit


def align(story: Story) -> Alignment:
    scores = pair_scores(story)
    return Alignment(scores=scores, groups=_cluster(story.units, scores, SAME_FACT))


def pair_scores(story: Story) -> npt.NDArray[np.float64]:
    units = story.units
    n = len(units)
    if n == 0:
        return np.zeros((0, 0))
    cosine = np.clip(story.vectors.astype(np.float64) @ story.vectors.T.astype(np.float64), -1, 1)
    outlet_index = {outlet: k for k, outlet in enumerate(story.outlets)}
    outlet_ids = np.array([outlet_index[u.outlet] for u in units])
    cross = outlet_ids[:, None] != outlet_ids[None, :]
    # What the cosine of two unrelated clauses of this story looks like: a clause that borrows its
    # sentence's vector is pulled toward it by the share of the sentence it does not hold.
    baseline = float(np.median(cosine[cross])) if cross.any() else 0.0
    share = shares_of_sentence(units)
    evidence = np.sqrt(share[:, None] * share[None, :])
    scores: npt.NDArray[np.float64] = baseline + evidence * (cosine - baseline)
    # The corrections are bounded (lexical ≤ +0.34, clash ≤ -0.15): a pair this far below
    # the unique-fact threshold cannot matter, and skipping it keeps large stories quick.
    reachable = scores >= NOT_REPORTED_ELSEWHERE - LEXICAL_WEIGHT
    scores -= LEXICAL_WEIGHT * LEXICAL_BASELINE
    # Each pair once (i < j), its correction added to both halves, so the matrix stays exactly
    # symmetric. The arithmetic is the per-pair definitions' (pairs.py), element by element.
    i, j = np.nonzero(np.triu(cross & reachable, k=1))
    if i.size:
        lexical = pairs.lexical(units, story.stem_weight, i, j)
        found = [particulars(u, story) for u in units]
        clash = pairs.clash(units, found, i, j)
        adjust = LEXICAL_WEIGHT * lexical - CLASH_WEIGHT * np.minimum(clash, 1.0)
        # Numbers that cannot both be true, in clauses whose words do not confirm one fact.
        # (Subtracting 0.0 from the other pairs leaves them exactly as they are.)
        adjust -= CLASH_WEIGHT * (
            (lexical < NUMBERS_CONFIRMED) & pairs.counts_disagree_pairs(units, i, j)
        )
        scores[i, j] += adjust
        scores[j, i] += adjust
    scores[~cross] = -np.inf
    return scores


def particulars(unit: FactUnit, story: Story) -> dict[str, float]:
    """The particular things a clause commits to: rare names and the things it counts."""
    found = {n: story.name_weight[n] for n in unit.names if story.name_weight[n] >= PARTICULAR_NAME}
    for quantity in unit.values.quantities:
        if quantity.slot.startswith("count:"):
            found[quantity.slot] = 1.0
    return found


def _cluster(
    units: list[FactUnit], scores: npt.NDArray[np.float64], threshold: float
) -> list[list[int]]:
    """Agglomerative clustering, never two clauses of one outlet in a group: the pair of groups
    with the best average link merges first, if its best single link says "same fact" and its
    average is within AVERAGE_MARGIN of that. Ties go to the lowest indices, so the same input
    always gives the same groups.

    A merge changes only the merged group's links, so candidate pairs wait in a heap and only the
    merged group's row is scored again (stale entries are skipped by a version check): each merge
    costs one row, O(n), where rescanning every pair each round cost O(n^2), O(n^3) in all."""
    finite = np.isfinite(scores)
    # A group's best links are maxima of its clauses' scores, so a clause with no same-fact link
    # never merges: only the others take part (in index order, so ties break as over all).
    active = np.flatnonzero((np.where(finite, scores, -np.inf) >= threshold).any(axis=1))
    members: list[list[int]] = [[int(i)] for i in active]
    if active.size == 0:
        return [[i] for i in range(len(units))]
    block = np.ix_(active, active)
    sums = np.where(finite, scores, 0.0)[block]  # sum of pair scores between groups
    best_link = np.where(finite, scores, -np.inf)[block]  # best pair score between groups
    outlets = [{units[i].outlet} for i in active]
    sizes = np.ones(active.size)
    alive = np.ones(active.size, dtype=bool)
    version = [0] * active.size
    heap: list[tuple[float, int, int, int, int]] = []

    def push(a: int, partners: npt.NDArray[np.intp]) -> None:
        average = sums[a, partners] / (sizes[a] * sizes[partners])
        for b, value in zip(partners.tolist(), average.tolist(), strict=True):
            if value >= threshold - AVERAGE_MARGIN and not outlets[a] & outlets[b]:
                i, j = min(a, b), max(a, b)
                heapq.heappush(heap, (-value, i, j, version[i], version[j]))

    for a in range(active.size):
        partners = np.flatnonzero(best_link[a, a + 1 :] >= threshold) + a + 1
        push(a, partners)
    while heap:
        _, i, j, seen_i, seen_j = heapq.heappop(heap)
        if not (alive[i] and alive[j]) or version[i] != seen_i or version[j] != seen_j:
            continue
        members[i].extend(members[j])
        outlets[i] |= outlets[j]
        sums[i, :] += sums[j, :]
        sums[:, i] += sums[:, j]
        best_link[i, :] = np.maximum(best_link[i, :], best_link[j, :])
        best_link[:, i] = np.maximum(best_link[:, i], best_link[:, j])
        sizes[i] += sizes[j]
        alive[j] = False
        version[i] += 1
        partners = np.flatnonzero(alive & (best_link[i] >= threshold))
        push(i, partners[partners != i])
    grouped = {int(u) for u in active}
    groups = [sorted(members[k]) for k in np.flatnonzero(alive)]
    groups += [[i] for i in range(len(units)) if i not in grouped]
    return sorted(groups, key=lambda g: g[0])


def best_elsewhere(unit: int, scores: npt.NDArray[np.float64]) -> float:
    """The best score this clause reaches with any clause of another outlet."""
    row = scores[unit]
    finite = row[np.isfinite(row)]
    return float(finite.max()) if finite.size else -np.inf
