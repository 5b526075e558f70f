"""Merged, cited story summary from several articles' clean sentences and their vectors.

    units      clauses of every sentence, with names, numbers, dates (units.py, text.py, values.py)
    align      which clauses of different outlets state the same fact (align.py)
    conflicts  one fact, incompatible values across outlets (conflicts.py, speakers.py)
    lead       the main event, as each outlet's lead words it (lead.py)
    consensus  facts several independent outlets report, one readable line each (consensus.py),
               citing only the outlets that state every detail of it (wording.py, details.py)
    unique     what each outlet alone adds (unique.py)
    headline   the most central title, else the lead fact (headline.py)
    large      a big story: its core aligned pairwise, later articles against the core's facts
               (large.py, parts.py), both remembered between updates (memo.py)

Pure but for the memo: no model calls (the worker computed `SourceDoc.vectors`), no I/O, and the
same input gives the same output — docs are processed in article_id order and every tie is
broken by position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.summary import Summary
from workers.summarize import memo
from workers.summarize.large import M, identity, later_facts, split_core
from workers.summarize.parts import compose, core_part
from workers.summarize.source import SourceDoc
from workers.summarize.units import build_story

__all__ = ["summarize", "summarize_members"]


def summarize(docs: Sequence[SourceDoc]) -> Summary:
    return summarize_members(docs, lambda wanted: list(wanted))


def summarize_members(members: Sequence[M], load: Callable[[list[M]], list[SourceDoc]]) -> Summary:
    """The summary of a story's members; `load` reads the given members' sentences and vectors
    (one SourceDoc each, same order). A big story's core and the later articles already seen
    are remembered (memo.py): only the new articles are loaded."""
    core, later = split_core(members)
    if not later:
        return compose(core_part(build_story(load(core))))
    key = tuple(sorted((identity(m) for m in core), key=repr))
    entry = memo.remembered(key, lambda: core_part(build_story(load(core))))
    wanted = [identity(m) for m in later]
    known = entry.later
    missing = [m for m, i in zip(later, wanted, strict=True) if i not in known]
    if missing or len(known) > len(wanted):
        found = {
            identity(m): later_facts(doc, entry.part.centroids)
            for m, doc in zip(missing, load(missing), strict=True)
        }
        # Articles that left the story (moved by a repair) are forgotten with this update.
        entry.later = known = {i: known[i] if i in known else found[i] for i in wanted}
    return compose(entry.part, [known[i] for i in wanted])
