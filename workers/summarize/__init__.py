"""Merged, cited story summary from several articles' clean sentences and their vectors.

    units      clauses of every sentence, with names, numbers, dates (units.py, text.py, values.py)
    align      which clauses of different outlets state the same fact (align.py)
    conflicts  one fact, incompatible values across outlets (conflicts.py, speakers.py)
    lead       the main event, as each outlet's lead words it (lead.py)
    consensus  facts several independent outlets report, one readable line each (consensus.py),
               citing only the outlets that state every detail of it (wording.py, details.py)
    unique     what each outlet alone adds (unique.py)
    headline   the most central title, else the lead fact (headline.py)

Pure: no model calls (the worker computed `SourceDoc.vectors`), no I/O, and the same input gives
the same output — docs are processed in article_id order and every tie is broken by position.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.summary import Summary
from workers.summarize.align import align
from workers.summarize.conflicts import find_conflicts
from workers.summarize.consensus import consensus_facts
from workers.summarize.headline import choose_headline
from workers.summarize.large import align_core, split_core
from workers.summarize.lead import main_event
from workers.summarize.source import SourceDoc
from workers.summarize.speakers import speaker_conflicts
from workers.summarize.unique import unique_facts
from workers.summarize.units import build_story

__all__ = ["summarize"]


def summarize(docs: Sequence[SourceDoc]) -> Summary:
    core, beyond = split_core(docs)
    story = build_story(core)
    later = build_story(beyond) if beyond else None
    if not story.units:
        title = next((d.title for d in story.docs if d.title), "")
        return Summary(headline=title or "")
    # A big story's core stops changing once full: its alignment is remembered (large.py).
    alignment = align_core(story) if later is not None else align(story)
    found = find_conflicts(story, alignment.groups, alignment.scores)
    contested = frozenset().union(*(f.contested_units for f in found))
    consensus, shown = consensus_facts(story, alignment, contested, main_event(story), later)
    unique, folded = unique_facts(story, alignment, shown)
    if later is not None:  # outlets only the later articles bring: counted, not itemised
        folded += len(set(later.outlets) - set(story.outlets))
    return Summary(
        headline=choose_headline(story, consensus),
        consensus=consensus,
        unique=unique,
        folded_sources=folded,
        conflicts=[f.conflict for f in found] + speaker_conflicts(story),
    )
