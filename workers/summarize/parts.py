"""A summary in two parts: what a story's core alone decides (CorePart), and the assembly of the
summary from it and what each article beyond the core adds (compose).

For a big story the core part is computed once (memo.py) and reused as articles arrive; for a
small one it is the whole story and is computed on every update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from core.summary import Conflict, SourceFacts, Summary
from workers.summarize.align import Alignment, align
from workers.summarize.conflicts import find_conflicts
from workers.summarize.consensus import ChosenFact, choose_facts, word_facts
from workers.summarize.headline import central_title, choose_headline
from workers.summarize.large import LaterFacts
from workers.summarize.lead import main_event
from workers.summarize.speakers import speaker_conflicts
from workers.summarize.unique import unique_facts
from workers.summarize.units import Story

# Unique-fact lists kept per core, by the set of core clauses the consensus shows: that set
# changes only when a later article turns a one-outlet line into a shown one, so one or two.
_UNIQUE_KEPT = 4


@dataclass
class CorePart:
    """Everything the core decides: the facts worth a line (each line's wording is chosen in
    compose, with the later articles' clauses), the conflicts, the central title."""

    story: Story
    alignment: Alignment
    facts: list[ChosenFact]
    centroids: npt.NDArray[np.float32]  # one row per fact: the mean of its clauses' vectors
    conflicts: list[Conflict]
    title: str | None  # the most central of the outlets' titles, if one reads as a headline
    _unique: dict[frozenset[int], tuple[list[SourceFacts], int]] = field(default_factory=dict)

    def unique(self, shown: set[int]) -> tuple[list[SourceFacts], int]:
        """unique_facts for these shown units, remembered for the last few sets."""
        key = frozenset(shown)
        found = self._unique.get(key)
        if found is None:
            found = unique_facts(self.story, self.alignment, shown)
            if len(self._unique) >= _UNIQUE_KEPT:
                self._unique.pop(next(iter(self._unique)))
            self._unique[key] = found
        return found


def core_part(story: Story, alignment: Alignment | None = None) -> CorePart:
    alignment = alignment if alignment is not None else align(story)
    found = find_conflicts(story, alignment.groups, alignment.scores)
    contested = frozenset().union(*(f.contested_units for f in found))
    facts = choose_facts(story, alignment, contested, main_event(story)) if story.units else []
    dim = story.vectors.shape[1] if story.vectors.ndim == 2 else 1
    centroids = (
        np.vstack([story.vectors[list(f.units)].mean(axis=0) for f in facts]).astype(np.float32)
        if facts
        else np.zeros((0, dim), np.float32)
    )
    return CorePart(
        story=story,
        alignment=alignment,
        facts=facts,
        centroids=centroids,
        conflicts=[f.conflict for f in found] + speaker_conflicts(story),
        title=central_title(story),
    )


def compose(part: CorePart, later: Sequence[LaterFacts] = ()) -> Summary:
    """The summary of the core and the articles beyond it (`later`, in article_id order)."""
    story = part.story
    if not story.units:
        title = next((d.title for d in story.docs if d.title), "")
        return Summary(headline=title or "")
    extras = [[u for item in later for u in item.by_fact[k]] for k in range(len(part.facts))]
    source_of = {d.article_id: d.source for d in story.docs}
    source_of.update({s.unit.doc.article_id: s.unit.doc.source for said in extras for s in said})
    consensus, shown = word_facts(part.facts, extras, story.copies, source_of)
    unique, folded = part.unique(shown)
    # Outlets only the later articles bring: counted, not itemised.
    folded += len({item.source for item in later if item.has_clauses} - set(story.outlets))
    return Summary(
        headline=choose_headline(part.title, story, consensus),
        consensus=consensus,
        unique=list(unique),
        folded_sources=folded,
        conflicts=list(part.conflicts),
    )
