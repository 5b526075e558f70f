"""How a StoryState is stored: the fields of its `story:{id}:state` hash."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from core.story_state import StoryState


def encode_state(state: StoryState) -> dict[str, bytes]:
    return {
        "vector_sum": np.asarray(state.vector_sum, "<f4").tobytes(),
        "size": str(state.size).encode(),
        "first_ts": repr(float(state.first_ts)).encode(),
        "last_ts": repr(float(state.last_ts)).encode(),
        "members": np.asarray(state.members, "<f2").tobytes(),
        "names": json.dumps(state.names, separators=(",", ":"), sort_keys=True).encode(),
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
        names=json.loads(data[b"names"]) if data.get(b"names") else {},
    )
