"""The quiet stories an article could still join, found without reading every stored story.

A story quiet for longer than the assignment window (up to the archive horizon) is scored on its
centroid alone, minus a non-negative penalty for the time since its last article
(workers/assign/scoring.py: scores). Its score is therefore at most its centroid cosine to the article, and
choose_story only picks a story whose score clears the article's threshold: a quiet story whose
centroid cosine is below that threshold can never be picked, and leaving it out cannot change
which story is (the argmax among those that clear it) or that none is. So filtering the quiet
stories by centroid cosine >= threshold before loading them is exact, not an approximation.

StoryIndex holds every story's unit centroid (float32 matrix) and its time in
`stories:active` in the worker's memory. A lookup takes the rows whose time is in the article's
quiet range, one matrix-vector product over those rows only (its cost is bounded by the stories
of archive_s of news, not by all history), and one Redis read per story that passes (usually
none or a handful); the passing stories are then re-read from Redis and filtered with the same
float32 arithmetic as assign.scores, so the caller gets the same fields, bytes and order the
full scan (scan_archived_states) gave for them.

Keeping it current across worker processes, without trusting any cache: every write that changes
a story's assigner state (Stories.commit_assignment; RepairStore.apply's rebuilds, merges, splits)
calls record() right after the state is stored, which increments `seq:state` and sets the story's
score in the zset `stories:state_changed` to that number, in one script. Before each lookup the
index reads, in one MULTI, the counter and the entries above the last number it has seen, and
re-reads just those stories. No lock is needed for that to be current: a change is logged only
after its state is stored, so every change a reader sees logged is there to read (one not yet
logged is read at the next lookup); writers of one story are serialised by its lock
(core.storage.story_locks), so the state read is the last one written; a story whose state hash or
`stories:active` entry is gone (merged away) leaves the index. The first lookup in a process loads
every story once. A counter lower than the last one seen (the database was flushed or replaced)
makes the index load everything again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import redis

from core.keys import Keys
from core.story_state import centroid_cosines

# What the assigner reads of a quiet story (no member vectors: it is scored on its centroid).
FIELDS = (b"vector_sum", b"size", b"first_ts", b"last_ts")
# ...and, where the state has them (stories stored before it did have not), the names its
# articles use (the assigner's name check, workers/assign/scoring.py).
QUIET_FIELDS = (*FIELDS, b"names")


def quiet_state(row: Sequence[bytes | None]) -> dict[bytes, bytes] | None:
    """An HMGET of QUIET_FIELDS as a state hash; None when a centroid field is missing."""
    if any(v is None for v in row[: len(FIELDS)]):
        return None
    return {f: v for f, v in zip(QUIET_FIELDS, row, strict=True) if v is not None}


# The in-memory centroids are normalised once, the exact check divides after the dot product
# (as assign.scores does): the two differ by float32 rounding, ~1e-7. The margin keeps every story
# the exact check would accept; a story let through by it is dropped by the exact check.
MARGIN = 1e-3
LOAD_CHUNK = 1000
# Open stories' whole states (centroid sum plus up to 64 member vectors, ~50 kB each) kept in
# memory between assignments, most recently used first out of the way: a steady feed re-reads
# only the stories that changed, not every open story per article.
OPEN_CACHE = 1000

# KEYS: seq:state counter, stories:state_changed zset; ARGV: the story ids whose state changed.
_RECORD = """
local seq = redis.call('INCR', KEYS[1])
for i = 1, #ARGV do redis.call('ZADD', KEYS[2], seq, ARGV[i]) end
return seq
"""

StateHashes = dict[str, dict[bytes, bytes]]


def _quiet_range(ts: float, window_s: float, archive_s: float) -> tuple[float, float]:
    """[low, high): a story last active in this range is quiet but still a candidate."""
    return ts - archive_s, ts - window_s


def scan_archived_states(
    client: redis.Redis, keys: Keys, ts: float, window_s: float, archive_s: float
) -> StateHashes:
    """The reference: centroid fields of every quiet story, one HMGET each (what the assigner read
    before the index; kept for the tests and benchmarks/scale.py --old-scan-every)."""
    low, high = _quiet_range(ts, window_s, archive_s)
    ids = [i.decode() for i in client.zrangebyscore(keys.stories_active, low, f"({high}")]
    pipe = client.pipeline(transaction=False)
    for sid in ids:
        pipe.hmget(keys.story_state(sid), *QUIET_FIELDS)
    found = {sid: quiet_state(row) for sid, row in zip(ids, pipe.execute(), strict=True)}
    return {sid: state for sid, state in found.items() if state is not None}


class StoryIndex:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._record = client.register_script(_RECORD)
        self._lock = threading.Lock()
        self._seq = -1  # last change number taken in; -1: nothing loaded yet
        self._rows: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._free: list[int] = []
        self._centroids = np.zeros((0, 0), np.float32)
        self._times = np.zeros(0, np.float64)  # score in stories:active; NaN for a free row
        self.reads = 0  # stories read from Redis by refreshes (for tests and benchmarks)
        self._open: OrderedDict[str, dict[bytes, bytes]] = OrderedDict()  # whole states, LRU
        self.open_reads = 0  # whole states read from Redis by active_states

    # -- the write side: in the writer's MULTI ---------------------------------------------------
    def record(self, story_ids: Iterable[str]) -> int:
        """Log a change of these stories' states, after it is stored (their state hashes are other
        slots than the log on a cluster); returns its change number. Called after the states
        are stored, so no reader sees the log ahead of the states."""
        ids = sorted(set(story_ids))
        if not ids:
            return self._seq
        return int(
            self._record(keys=[self.keys.state_seq, self.keys.stories_state_changed], args=ids)
        )

    def took_own(
        self, story_id: str, state: Mapping[str, bytes | str], when: float, seq: int
    ) -> None:
        """This process just committed `state` (and `when` in stories:active) as change `seq`.
        If that is the very next change after the last one taken in, nobody else wrote between:
        hold it as written instead of re-reading it at the next refresh. Otherwise leave it to
        refresh(), which then reads this change and the others'."""
        with self._lock:
            if seq != self._seq + 1:
                return
            raw = {k.encode(): v.encode() if isinstance(v, str) else v for k, v in state.items()}
            self._put(story_id, np.frombuffer(raw[b"vector_sum"], "<f4"), when)
            self._open[story_id] = raw
            self._open.move_to_end(story_id)
            self._seq = seq

    # -- the read side ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def active_states(self, ts: float, window_s: float) -> StateHashes:
        """Whole states (members included) of the stories with an article within `window_s` of
        `ts`, in ZRANGEBYSCORE's order, as Stories.state_hashes would read them: taken from memory
        unless the change log says they changed since."""
        with self._lock:
            self.refresh()
            ids = [
                i.decode()
                for i in self.r.zrangebyscore(
                    self.keys.stories_active, ts - window_s, ts + window_s
                )
            ]
            missing = [sid for sid in ids if sid not in self._open]
            if missing:
                pipe = self.r.pipeline(transaction=False)
                for sid in missing:
                    pipe.hgetall(self.keys.story_state(sid))
                for sid, raw in zip(missing, pipe.execute(), strict=True):
                    self._open[sid] = raw
                self.open_reads += len(missing)
            out = {}
            for sid in ids:
                self._open.move_to_end(sid)
                if self._open[sid]:
                    out[sid] = self._open[sid]
            while len(self._open) > OPEN_CACHE:
                self._open.popitem(last=False)
            return out

    def archived_states(
        self,
        ts: float,
        window_s: float,
        archive_s: float,
        vector: npt.ArrayLike,
        min_cosine: float,
        refresh: bool = True,
    ) -> StateHashes:
        """Centroid fields (as scan_archived_states gives them, in the same order) of the stories
        quiet for longer than `window_s` before `ts`, up to `archive_s`, whose centroid cosine to
        `vector` is at least `min_cosine` (the article's threshold: see the module docstring)."""
        x = np.asarray(vector, np.float32)
        with self._lock:
            if refresh or self._seq < 0:
                self.refresh()
            ids = self._passing(ts, window_s, archive_s, x, min_cosine - MARGIN)
        if not ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for sid in ids:
            pipe.hmget(self.keys.story_state(sid), *QUIET_FIELDS)
            pipe.zscore(self.keys.stories_active, sid)
        raw = pipe.execute()
        low, high = _quiet_range(ts, window_s, archive_s)
        found = []
        for sid, row, score in zip(ids, raw[::2], raw[1::2], strict=True):
            state = quiet_state(row)
            if score is not None and low <= score < high and state is not None:
                found.append((float(score), sid.encode(), sid, state))
        if not found:
            return {}
        sums = np.stack([np.frombuffer(f[3][b"vector_sum"], "<f4") for f in found])
        cos = centroid_cosines(sums.astype(np.float32), x)
        found = [f for f, c in zip(found, cos, strict=True) if c >= min_cosine]
        found.sort(key=lambda f: (f[0], f[1]))  # ZRANGEBYSCORE's order: score, then member bytes
        return {sid: fields for _, _, sid, fields in found}

    def _passing(
        self,
        ts: float,
        window_s: float,
        archive_s: float,
        x: npt.NDArray[np.float32],
        min_cosine: float,
    ) -> list[str]:
        n = len(self._ids)
        if n == 0:
            return []
        if self._centroids.shape[1] != len(x):
            raise ValueError(f"a vector of {len(x)}, the stories have {self._centroids.shape[1]}")
        low, high = _quiet_range(ts, window_s, archive_s)
        times = self._times[:n]
        with np.errstate(invalid="ignore"):  # NaN times of free rows compare False
            rows = np.flatnonzero((times >= low) & (times < high))
        # Only the rows in the article's quiet range are scored: the product's cost is bounded by
        # the stories of that range (archive_s of news), not by every story ever stored.
        rows = rows[self._centroids[rows] @ x >= min_cosine]
        return [self._ids[i] or "" for i in rows]

    def refresh(self) -> None:
        """Take in every state change logged since the last refresh (all stories the first time)."""
        if self._seq < 0:
            self._load_all()
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.get(self.keys.state_seq)
        pipe.zrangebyscore(self.keys.stories_state_changed, f"({self._seq}", "+inf")
        counter, changed = pipe.execute()
        seq = int(counter or 0)
        if seq < self._seq:
            self._load_all()
            return
        changed_ids = [c.decode() for c in changed]
        for sid in changed_ids:
            self._open.pop(sid, None)
        self._reload(changed_ids)
        self._seq = seq

    def _load_all(self) -> None:
        seq = int(self.r.get(self.keys.state_seq) or 0)  # changes after this are re-read later
        ids = [i.decode() for i in self.r.zrange(self.keys.stories_active, 0, -1)]
        self._rows, self._ids, self._free = {}, [], []
        self._open.clear()
        self._centroids = np.zeros((0, 0), np.float32)
        self._times = np.zeros(0, np.float64)
        self._reload(ids)
        self._seq = seq

    def _reload(self, story_ids: Sequence[str]) -> None:
        for start in range(0, len(story_ids), LOAD_CHUNK):
            chunk = story_ids[start : start + LOAD_CHUNK]
            pipe = self.r.pipeline(transaction=False)
            for sid in chunk:
                pipe.hmget(self.keys.story_state(sid), *FIELDS)
                pipe.zscore(self.keys.stories_active, sid)
            raw = pipe.execute()
            self.reads += len(chunk)
            for sid, row, score in zip(chunk, raw[::2], raw[1::2], strict=True):
                if score is None or any(v is None for v in row):
                    self._drop(sid)
                else:
                    self._put(sid, np.frombuffer(row[0], "<f4"), float(score))

    def _put(self, sid: str, vector_sum: npt.NDArray[np.float32], when: float) -> None:
        if self._centroids.shape[1] != len(vector_sum):
            if self._rows:
                raise ValueError(
                    f"story {sid}: vector of {len(vector_sum)}, index holds "
                    f"{self._centroids.shape[1]}"
                )
            self._centroids = np.zeros((0, len(vector_sum)), np.float32)
        row = self._rows.get(sid)
        if row is None:
            row = self._free.pop() if self._free else self._append()
            self._rows[sid] = row
            self._ids[row] = sid
        norm = float(np.linalg.norm(vector_sum))
        self._centroids[row] = vector_sum / norm if norm > 0 else 0.0
        self._times[row] = when

    def _append(self) -> int:
        row = len(self._ids)
        if row == len(self._centroids):
            grown = max(1024, 2 * row)
            centroids = np.zeros((grown, self._centroids.shape[1]), np.float32)
            centroids[:row] = self._centroids
            times = np.full(grown, np.nan)
            times[:row] = self._times
            self._centroids, self._times = centroids, times
        self._ids.append(None)
        return row

    def _drop(self, sid: str) -> None:
        row = self._rows.pop(sid, None)
        if row is not None:
            self._ids[row] = None
            self._times[row] = np.nan
            self._centroids[row] = 0.0
            self._free.append(row)
