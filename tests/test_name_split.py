"""The repair's name split (#13): a story that took in the reports of two events of one kind
(two double murders the same week) is split in two, each side the reports that keep naming their
own people and places; reports of one event that name different people but read alike stay
together. Unit tests on the pure functions (vectors made up), then the real worker."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from fastapi.testclient import TestClient

from workers.name_split import NameSplitParams, split_by_names, with_name_splits
from workers.repair import RepairPlan
from workers.runner import Worker

BASE, EVENT_A, EVENT_B = np.eye(8, dtype=np.float32)[:3]


def unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v), np.float32)


def reports(apart: float, n: int = 3) -> np.ndarray:
    """n reports of event A then n of event B; `apart` sets how far each event leans away from
    their shared subject (0.9: the sides' centroids at cosine ~0.55; 0.2: ~0.96)."""
    a = [unit(BASE + apart * EVENT_A + 0.01 * i * EVENT_B) for i in range(n)]
    b = [unit(BASE + apart * EVENT_B + 0.01 * i * EVENT_A) for i in range(n)]
    return np.stack(a + b)


# Each event's reports name their own suspect and town; both name the police, as any such report.
# Three reports a side: the unit tests below run the split with min_group 3 (the shipped 4 is
# fitted on the dev sets; the real-worker test at the end uses it).
THREE = NameSplitParams(min_group=3)
NAMES = [frozenset(s.split()) for s in (
    "reeve millbrook police", "reeve millbrook hexham", "reeve hexham police",
    "hale fairhaven police", "hale fairhaven bristol", "hale bristol police",
)]


def test_two_events_named_apart_and_read_apart_are_split() -> None:
    assert split_by_names(NAMES, reports(0.9), THREE) == ([0, 1, 2], [3, 4, 5])


def test_reports_that_name_apart_but_read_alike_stay_together() -> None:
    # One event told by two sets of outlets, one naming the victim's family, one the suspect's
    # lawyers: names alone would split it; the reports read as one event.
    assert split_by_names(NAMES, reports(0.2), THREE) is None


def test_too_few_reports_on_a_side_are_no_event() -> None:
    two_and_two = [NAMES[0], NAMES[1], NAMES[3], NAMES[4]]
    x = reports(0.9, n=2)
    assert split_by_names(two_and_two, x) is None
    assert split_by_names(two_and_two, x, NameSplitParams(min_group=2)) == ([0, 1], [2, 3])


def test_a_report_naming_neither_suspect_goes_with_the_side_it_names() -> None:
    names = [*NAMES, frozenset({"fairhaven", "police"})]
    x = np.vstack([reports(0.9), unit(BASE)[None, :]])  # alike to both sides
    assert split_by_names(names, x, THREE) == ([0, 1, 2], [3, 4, 5, 6])


def test_a_split_keeps_the_larger_side_under_the_story_id() -> None:
    names = [*NAMES, frozenset({"hale", "fairhaven"})]
    x = np.vstack([reports(0.9), reports(0.9)[3:4]])
    ids = [f"a{i}" for i in range(7)]
    current = dict.fromkeys(ids, "s1")
    counter = itertools.count()
    plan = with_name_splits(RepairPlan(), current, dict(zip(ids, names, strict=True)),
                            dict(zip(ids, x, strict=True)), lambda: f"new{next(counter)}", THREE)
    assert plan.splits == {"new0": "s1"}
    assert plan.moves == dict.fromkeys(ids[:3], "new0")  # Reeve's three leave; Hale's four stay
    # A story that reconcile itself split off (s1, parent s0) is split too, its new part
    # pointing to s0, the story the reader saw before this repair.
    again = with_name_splits(RepairPlan(splits={"s1": "s0"}), current,
                             dict(zip(ids, names, strict=True)), dict(zip(ids, x, strict=True)),
                             lambda: "new", THREE)
    assert again.splits == {"s1": "s0", "new": "s0"}
    assert again.moves == dict.fromkeys(ids[:3], "new")


def test_a_story_of_three_events_comes_apart_in_one_repair() -> None:
    # Reeve's, Hale's and Ward's double murders all in s1 (Ward's told a little like Hale's, so
    # the first cut puts them on one side): one repair leaves three stories, and a second repair
    # over what it left changes nothing (before, one side left per repair).
    event_c = np.eye(8, dtype=np.float32)[3]
    ward = [unit(BASE + 0.9 * event_c + 0.3 * EVENT_B + 0.01 * i * EVENT_A) for i in range(3)]
    names = [*NAMES, *(frozenset(s.split()) for s in (
        "ward kettering police", "ward kettering corby", "ward corby police"))]
    x = np.vstack([reports(0.9), np.stack(ward)])
    ids = [f"a{i}" for i in range(9)]
    current = dict.fromkeys(ids, "s1")
    by_id, vectors = dict(zip(ids, names, strict=True)), dict(zip(ids, x, strict=True))
    counter = itertools.count()
    plan = with_name_splits(RepairPlan(), current, by_id, vectors, lambda: f"new{next(counter)}", THREE)
    after = plan.apply(current)
    groups = {frozenset(a for a in ids if after[a] == s) for s in set(after.values())}
    assert groups == {frozenset(ids[:3]), frozenset(ids[3:6]), frozenset(ids[6:])}
    assert set(plan.splits.values()) == {"s1"} and len(plan.splits) == 2
    assert with_name_splits(RepairPlan(), after, by_id, vectors, lambda: "never", THREE) == RepairPlan()


def test_a_merge_the_names_would_undo_is_dropped_with_its_moves() -> None:
    # The story split off by names last time (s2: Hale's reports) sits in one HDBSCAN cluster
    # with its parent (s1: Reeve's): reconcile proposes merging it back. Without the veto every
    # repair would merge it and split it off again under a new ID.
    ids = [f"a{i}" for i in range(6)]
    current = {a: ("s1" if i < 3 else "s2") for i, a in enumerate(ids)}
    names, vectors = dict(zip(ids, NAMES, strict=True)), dict(zip(ids, reports(0.9), strict=True))
    merge_back = RepairPlan(moves=dict.fromkeys(ids[3:], "s1"), merges={"s2": "s1"})
    plan = with_name_splits(merge_back, current, names, vectors, lambda: "never", THREE)
    assert plan == RepairPlan()
    # The same two stories told alike (one event, two sets of names) are merged as planned.
    alike = dict(zip(ids, reports(0.2), strict=True))
    assert with_name_splits(merge_back, current, names, alike, lambda: "never", THREE) == merge_back


# Two double murders the same week, written for this test and told alike (a son charged with
# killing his mother and sister, in two English towns): read as one event by the model, named
# apart by every report. Four reports of each, from different outlets.
REEVE = [
    ("wire-a", "2025-09-08T07:00:00Z",
     "Man charged with murdering his mother and sister in Millbrook",
     "Daniel Reeve, 31, was charged on Monday with murdering his mother and his younger sister at"
     " their home in Millbrook, Northumbria Police said.\n"
     "Officers found the bodies of Carol Reeve, 58, and Emma Reeve, 24, after neighbours reported"
     " screaming on Sunday night.\n"
     "Reeve was arrested at the scene and will appear before Hexham magistrates on Tuesday.\n"
     "A post-mortem examination found that both women had died of stab wounds."),
    ("paper-b", "2025-09-08T12:00:00Z",
     "Millbrook double killing: son had been treated for psychosis",
     "The man accused of killing his mother and sister in Millbrook had been treated for"
     " psychosis last year, relatives told the Hexham Courant.\n"
     "Daniel Reeve was released from a mental health unit in Newcastle in March, his uncle said.\n"
     "Carol Reeve had asked social services for help with her son twice this summer.\n"
     "Northumbria Police have referred the case to the police watchdog."),
    ("paper-c", "2025-09-09T09:00:00Z",
     "Daniel Reeve appears in court over Millbrook deaths",
     "Daniel Reeve appeared before Hexham magistrates on Tuesday charged with the murders of his"
     " mother Carol and sister Emma in Millbrook.\n"
     "He spoke only to confirm his name and was remanded in custody to appear at Newcastle Crown"
     " Court on Friday.\n"
     "Flowers were left outside the family home on Tuesday morning."),
    ("paper-g", "2025-09-10T08:00:00Z",
     "Tributes paid to Millbrook mother and daughter",
     "Friends paid tribute on Wednesday to Carol Reeve and her daughter Emma, who were killed at"
     " their home in Millbrook on Sunday.\n"
     "Emma Reeve had just qualified as a nurse at the Hexham general hospital, her friends said.\n"
     "A vigil will be held at St Cuthbert's church in Millbrook on Saturday.\n"
     "Daniel Reeve remains in custody."),
]
HALE = [
    ("wire-d", "2025-09-08T15:00:00Z",
     "Man charged with murdering his mother and sister in Ashby",
     "Liam Hale, 27, was charged on Monday with murdering his mother and his older sister at"
     " their home in Ashby, Leicestershire Police said.\n"
     "Officers found the bodies of Janet Hale, 55, and Sophie Hale, 30, after a relative raised"
     " the alarm on Sunday evening.\n"
     "Hale was arrested at the scene and will appear before Loughborough magistrates on Tuesday.\n"
     "A post-mortem examination found that both women had died of head injuries."),
    ("paper-e", "2025-09-08T20:00:00Z",
     "Ashby double killing: son had been reported missing last week",
     "The man accused of killing his mother and sister in Ashby had been reported missing last"
     " week, relatives told the Leicester Mercury.\n"
     "Liam Hale was found sleeping in a car in Derby on Thursday, his aunt said.\n"
     "Janet Hale had asked her GP for help with her son twice this summer.\n"
     "Leicestershire Police have referred the case to the police watchdog."),
    ("paper-f", "2025-09-09T10:00:00Z",
     "Liam Hale appears in court over Ashby deaths",
     "Liam Hale appeared before Loughborough magistrates on Tuesday charged with the murders of"
     " his mother Janet and sister Sophie in Ashby.\n"
     "He spoke only to confirm his name and was remanded in custody to appear at Leicester Crown"
     " Court on Friday.\n"
     "Flowers were left outside the family home on Tuesday morning."),
    ("paper-h", "2025-09-10T11:00:00Z",
     "Tributes paid to Ashby mother and daughter",
     "Friends paid tribute on Wednesday to Janet Hale and her daughter Sophie, who were killed at"
     " their home in Ashby on Sunday.\n"
     "Sophie Hale had just started work as a teacher at a primary school in Loughborough, her"
     " friends said.\n"
     "A vigil will be held at St Helen's church in Ashby on Saturday.\n"
     "Liam Hale remains in custody."),
]


def test_the_repair_splits_a_story_that_took_in_two_events(
    client: TestClient, make_worker: Callable[..., Worker]
) -> None:
    bodies = [{"source": s, "published_at": t, "title": h, "text": x}
              for s, t, h, x in REEVE + HALE]
    ids = [a["id"] for a in client.post("/articles", json=bodies).json()["articles"]]
    worker = make_worker("w1", repair_every=10**6)
    # The online decision made lenient for the setup (no name check, a low bar): the eight
    # reports end up in one story, as two same-kind events can when their kind's names match.
    n = len(REEVE)
    placement = worker.ops.placement
    placement.params = replace(placement.params, threshold_with_body=0.2, name_penalty=0.0)
    worker.run(burst=True)
    story_of = {a: client.get(f"/articles/{a}").json()["story_id"] for a in ids}
    (merged,) = set(story_of.values())

    outcome = worker.ops.repair()

    assert outcome is not None
    (split_id,) = outcome.split
    assert outcome.split[split_id] == merged
    after = {a: client.get(f"/articles/{a}").json() for a in ids}
    sides = [{after[a]["story_id"] for a in ids[:n]}, {after[a]["story_id"] for a in ids[n:]}]
    assert sorted(sides, key=sorted) == sorted([{merged}, {split_id}], key=sorted)
    assert all(a["status"] == "processed" for a in after.values())
    split = client.get(f"/stories/{split_id}").json()
    assert split["parent"] == merged and split["article_count"] == n
    kept = client.get(f"/stories/{merged}").json()
    assert kept["article_count"] == n
    # Each summary now tells one event: no sentence names the other event's suspect.
    for story, other in ((split, "Reeve" if "Hale" in str(split) else "Hale"),
                         (kept, "Reeve" if "Hale" in str(kept) else "Hale")):
        assert other not in str(story["summary"])
    # A second repair leaves the two stories as they are.
    again = worker.ops.repair()
    assert again is None or not (again.split or again.merged)
