"""The story's main event: what the outlets' leads report, however each one words it.

Alignment demands a close paraphrase before it calls two clauses one fact; leads are reworded
freely ("A vote on the $2.1 billion stadium bond was delayed late Thursday" / "The council put off
Thursday's planned vote on the stadium financing"), so a story's core often falls under that bar
and the summary would open with background, or with nothing. But an outlet's first sentences are
strong evidence of what it reports, and the articles of one story report one main event: here each
outlet's lead is the one of its first sentences closest to the other outlets' leads, and the
leads that agree with the others (by meaning, anchored by a shared name, number or day) are one
fact. Which of them a line may cite is still decided by the citation check (wording.py).
"""

from __future__ import annotations

import numpy as np

from workers.summarize.align import particulars
from workers.summarize.units import FactUnit, Story

# An outlet's lead is its first sentence, or its second after a scene-setting opener.
LEAD_SENTENCES = 2
# What being the second sentence costs a lead against the first, in agreement (a cosine): the
# first sentence is the lead unless the second agrees clearly better with the other outlets'.
_SECOND_SENTENCE_COST = 0.08
# Cosine, in MiniLM space, of two leads about one event worded apart: paraphrases of one story's
# lead score ~0.55-0.85, leads of two different events of one kind (two earthquakes) ~0.35-0.55.
# Below SAME_EVENT a lead only joins with an anchor (a rare name, number or day both state).
SAME_EVENT = 0.6
ANCHORED = 0.45


def main_event(story: Story) -> list[int]:
    """Unit indices of each agreeing outlet's lead (one per outlet), best first; empty when
    fewer than two outlets agree."""
    leads: dict[str, list[FactUnit]] = {}
    for unit in story.units:
        if unit.sentence_index < LEAD_SENTENCES and unit.quote_share < 0.5:
            leads.setdefault(unit.outlet, []).append(unit)
    if len(leads) < 2:
        return []
    outlets = sorted(leads)
    index = np.concatenate([[u.index for u in leads[o]] for o in outlets])
    owner = np.repeat(np.arange(len(outlets)), [len(leads[o]) for o in outlets])
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    vectors = story.vectors.astype(np.float64)
    # Each lead clause's agreement with the others: its best match in each other outlet (one
    # matrix product, then the column maximum per outlet), averaged over the other outlets.
    lead_vectors = vectors[index]
    best = np.maximum.reduceat(lead_vectors @ lead_vectors.T, starts, axis=1)
    best[np.arange(len(index)), owner] = 0.0
    agreement = best.sum(axis=1) / (len(outlets) - 1) - _SECOND_SENTENCE_COST * np.array(
        [u.sentence_index for o in outlets for u in leads[o]]
    )
    # Rounded so that equal agreements tie (broken by position) whatever the summation order.
    agreement = np.round(agreement, 9)
    best_pick: dict[str, tuple[float, int]] = {}
    for k, outlet in enumerate(outlets):
        mine = slice(starts[k], starts[k] + len(leads[outlet]))
        pick = int(np.argmax(agreement[mine]))
        best_pick[outlet] = (float(agreement[mine][pick]), int(index[mine][pick]))
    picks = sorted(best_pick.values(), key=lambda p: (-p[0], p[1]))
    anchor = picks[0][1]
    found = [anchor]
    anchor_marks = _anchors(story.units[anchor], story)
    for _, pick in picks[1:]:
        cosine = float(vectors[pick] @ vectors[anchor])
        shared = bool(_anchors(story.units[pick], story) & anchor_marks)
        if cosine >= SAME_EVENT or (cosine >= ANCHORED and shared):
            found.append(pick)
    return found if len(found) >= 2 else []


def _anchors(unit: FactUnit, story: Story) -> set[str]:
    """Rare names, counted things and days: what pins a lead to one event."""
    marks = set(particulars(unit, story))
    marks |= {f"day={d.day or d.weekday}" for d in unit.values.days}
    marks |= {f"{q.slot}={q.low:g}" for q in unit.values.quantities}
    return marks
