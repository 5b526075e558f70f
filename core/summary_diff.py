"""What changed between two summary versions of a story, fact by fact. Pure.

A fact is a consensus fact or an outlet's own fact, identified by its text (case and spacing
folded); an outlet is any source cited anywhere in the summary; a conflict is identified by what
it is about. A change is *material* when it tells a reader something new: a fact added, an outlet
added, or a conflict opened. Rewordings that keep every fact, dropped facts and resolved conflicts
alone are reported but not material (a feed item is not bumped for them).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from core.summary import Summary

_SPACE = re.compile(r"\s+")


class SummaryChanges(BaseModel):
    story_id: str
    since: int = Field(description="The version compared from (0: nothing, the story is new)")
    version: int = Field(description="The version compared to")
    facts_added: list[str] = Field(default_factory=list)
    facts_dropped: list[str] = Field(default_factory=list)
    outlets_added: list[str] = Field(default_factory=list)
    outlets_dropped: list[str] = Field(default_factory=list)
    conflicts_opened: list[str] = Field(default_factory=list, description="What each is about")
    conflicts_resolved: list[str] = Field(default_factory=list)

    @property
    def material(self) -> bool:
        return bool(self.facts_added or self.outlets_added or self.conflicts_opened)


def _key(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def facts(summary: Summary | None) -> dict[str, str]:
    """Folded text → text of every fact the summary states."""
    if summary is None:
        return {}
    found = {_key(f.text): f.text for f in summary.consensus}
    for outlet in summary.unique:
        for fact in outlet.facts:
            found.setdefault(_key(fact.text), fact.text)
    return found


def outlets(summary: Summary | None) -> set[str]:
    if summary is None:
        return set()
    names: set[str] = set()
    for fact in summary.consensus:
        names.update(fact.sources)
        names.update(v.source for v in getattr(fact, "variants", []))
    names.update(u.source for u in summary.unique)
    for conflict in summary.conflicts:
        names.update(c.source for c in conflict.claims)
    return names


def conflicts(summary: Summary | None) -> dict[str, str]:
    if summary is None:
        return {}
    return {_key(c.about): c.about for c in summary.conflicts}


def diff(story_id: str, old: Summary | None, new: Summary) -> SummaryChanges:
    """`old` → `new` (old None: everything in `new` is added)."""
    old_facts, new_facts = facts(old), facts(new)
    old_outlets, new_outlets = outlets(old), outlets(new)
    old_conflicts, new_conflicts = conflicts(old), conflicts(new)
    return SummaryChanges(
        story_id=story_id,
        since=old.version if old else 0,
        version=new.version,
        facts_added=[t for k, t in new_facts.items() if k not in old_facts],
        facts_dropped=[t for k, t in old_facts.items() if k not in new_facts],
        outlets_added=sorted(new_outlets - old_outlets),
        outlets_dropped=sorted(old_outlets - new_outlets),
        conflicts_opened=[t for k, t in new_conflicts.items() if k not in old_conflicts],
        conflicts_resolved=[t for k, t in old_conflicts.items() if k not in new_conflicts],
    )


def last_material(
    story_id: str, versions: list[Summary], shown: Summary | None
) -> tuple[Summary | None, SummaryChanges | None]:
    """Walk `versions` (oldest first, all newer than `shown`) and return the newest one that
    changed materially from the one shown before it, with that change; (shown, None) if none did.
    What a feed shows only moves on a material change, so each is compared with the last shown."""
    change: SummaryChanges | None = None
    for version in versions:
        step = diff(story_id, shown, version)
        if step.material:
            shown, change = version, step
    return shown, change
