"""How a StoryState is stored: the fields of its `story:{id}:state` hash."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cached_property

import numpy as np

from core.story_state import StoryState


def encode_state(state: StoryState) -> dict[str, bytes]:
    return {
        "vector_sum": np.asarray(state.vector_sum, "<f4").tobytes(),
        "size": str(state.size).encode(),
        "first_ts": repr(float(state.first_ts)).encode(),
        "last_ts": repr(float(state.last_ts)).encode(),
        "members": np.asarray(state.members, "<f2").tobytes(),
        "names": json.dumps(dict(state.names), separators=(",", ":"), sort_keys=True).encode(),
    }


def decode_state(story_id: str, data: Mapping[bytes, bytes]) -> StoryState:
    vector_sum = np.frombuffer(data[b"vector_sum"], "<f4").astype(np.float32)
    raw = data.get(b"members", b"")
    members = np.frombuffer(raw, "<f2").reshape(-1, len(vector_sum)).astype(np.float16)
    return StoryState(
        story_id=story_id,
        vector_sum=vector_sum,
        size=int(data[b"size"]),
        first_ts=float(data[b"first_ts"]),
        last_ts=float(data[b"last_ts"]),
        members=members,
        names=_Names(data.get(b"names") or b"{}"),
    )


class _Names(Mapping[str, int]):
    """A story's names, parsed when first read: the assigner loads every open story's state for
    each article but reads the names of only those that clear its bar."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    @cached_property
    def _parsed(self) -> dict[str, int]:
        parsed: dict[str, int] = json.loads(self._raw)
        return parsed

    def __getitem__(self, name: str) -> int:
        return self._parsed[name]

    def __contains__(self, name: object) -> bool:
        # Without parsing: the keys are JSON strings (a name holds no quote or backslash, see
        # workers.assign.evidence) and the values are numbers, so `"name":` occurs only as a key.
        return isinstance(name, str) and f'"{name}":'.encode() in self._raw

    def __bool__(self) -> bool:
        return self._raw != b"{}"

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed)

    def __len__(self) -> int:
        return len(self._parsed)

    def __repr__(self) -> str:
        return repr(self._parsed)
