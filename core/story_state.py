"""What the assigner knows of a story: its centroid sum, size, time span, recent member vectors
and the names its articles use.

Plain data: the assigner (workers/assign) computes with it, the storage layer
(core/storage/story_codec.py) stores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


def unit_vector(v: npt.NDArray[np.floating]) -> Vector:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm > 0 else np.zeros(len(v), np.float32)


def centroid_cosines(
    sums: npt.NDArray[np.float32], vector: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """Cosine of `vector` to each row's centroid (rows: stories' vector sums). The one
    definition: the assigner scores with it, and the quiet stories' index
    (core/storage/story_index.py) filters with it, so the two agree to the bit."""
    x = np.asarray(vector, np.float32)
    cos: npt.NDArray[np.float32] = (sums @ x) / np.maximum(np.linalg.norm(sums, axis=1), 1e-12)
    return cos


@dataclass
class StoryState:
    story_id: str
    vector_sum: Vector  # unnormalised sum of member vectors; centroid = normalised sum
    size: int
    first_ts: float
    last_ts: float
    # The last MAX_MEMBERS member vectors, oldest first, float16 (ample for cosines, half the bytes).
    members: npt.NDArray[np.float16] = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    # How many of its articles name each person, place or organisation in headline or lead
    # (workers.assign.evidence.proper_names), the most used only; empty for a story stored
    # before states kept them.
    names: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.members.shape[1:] != (len(self.vector_sum),):
            self.members = self.members.reshape(-1, len(self.vector_sum))

    @property
    def centroid(self) -> Vector:
        return unit_vector(self.vector_sum)
