"""What a worker remembers of the big stories it summarises, so an update costs the new article.

A big story's core (large.split_core) stops changing once full; its CorePart (the alignment,
whose cost grows with the square of the core, the chosen facts, conflicts, unique facts) is kept
for the last CORES_KEPT (4) big stories, and with it what each article beyond the core adds
(large.LaterFacts). An update then reads and compares only the articles it has not seen: the
runner loads their text alone (summarize_members).

Keys are the articles' identities (large.identity: id, source, title, date, copy link, sentence
and vector counts), so any change to what build_story would read is a new key: the memo never
changes what a summary says, only when it is computed. A worker that starts afresh (or lost a
story from the memo) reads the whole story once, as a first summary does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from workers.summarize.large import LaterFacts
from workers.summarize.parts import CorePart

# Each core holds its pair-score matrix (float64, clauses x clauses: ~14 MB at 1,000 sentences,
# ~25 MB for a full 1,500-sentence core), plus ~1 KB per later article: 4 bounds it near 100 MB.
CORES_KEPT = 4


@dataclass
class Remembered:
    part: CorePart
    later: dict[Hashable, LaterFacts] = field(default_factory=dict)


_cores: OrderedDict[Hashable, Remembered] = OrderedDict()
# The summary thread and a repair (on the placement thread) may summarise at once.
_lock = threading.Lock()


def remembered(key: Hashable, compute: Callable[[], CorePart]) -> Remembered:
    """The entry for this core (its members' identities), computing its CorePart if new."""
    with _lock:
        found = _cores.get(key)
        if found is not None:
            _cores.move_to_end(key)
            return found
    entry = Remembered(compute())  # outside the lock: a second thread may compute it too
    entry.part.alignment.scores.setflags(write=False)  # shared by later summaries
    with _lock:
        entry = _cores.setdefault(key, entry)
        while len(_cores) > CORES_KEPT:
            _cores.popitem(last=False)
    return entry


def clear() -> None:
    with _lock:
        _cores.clear()


def size() -> int:
    return len(_cores)
