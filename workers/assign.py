"""Online assignment of an incoming article to a story (pure functions, no I/O).

The runner builds an ArticleSignal per article, loads the active StoryState candidates from the
store, calls choose_story(), then either absorb()s the article into the chosen story or
start_story()s a new one, and writes the resulting state back with to_redis().
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DIM = 384
Vector = npt.NDArray[np.float32]


def _unit(v: npt.NDArray[np.floating]) -> Vector:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm > 0 else np.zeros(DIM, np.float32)


def article_vector(title_vec: Vector | None, sentence_vecs: Vector) -> Vector:
    """One vector per article: the title counts as much as the mean of the lead sentences."""
    parts = []
    if title_vec is not None and np.any(title_vec):
        parts.append(_unit(title_vec))
    if len(sentence_vecs):
        parts.append(_unit(np.asarray(sentence_vecs, np.float32).mean(axis=0)))
    if not parts:
        raise ValueError("an article needs a title or at least one sentence vector")
    return _unit(np.sum(parts, axis=0))


@dataclass
class ArticleSignal:
    vector: Vector  # (384,) float32, L2-normalised (see article_vector)
    published_ts: float  # unix seconds: published_at, else arrival time
    title: str
    text: str


@dataclass
class StoryState:
    story_id: str
    vector_sum: Vector  # unnormalised sum of member vectors; centroid = normalised sum
    size: int
    first_ts: float
    last_ts: float

    @property
    def centroid(self) -> Vector:
        return _unit(self.vector_sum)

    def to_redis(self) -> dict[str, bytes]:
        return {
            "vector_sum": np.asarray(self.vector_sum, "<f4").tobytes(),
            "size": str(self.size).encode(),
            "first_ts": repr(self.first_ts).encode(),
            "last_ts": repr(self.last_ts).encode(),
        }

    @classmethod
    def from_redis(cls, story_id: str, data: dict[bytes, bytes]) -> StoryState:
        return cls(
            story_id=story_id,
            vector_sum=np.frombuffer(data[b"vector_sum"], "<f4").copy(),
            size=int(data[b"size"]),
            first_ts=float(data[b"first_ts"]),
            last_ts=float(data[b"last_ts"]),
        )


@dataclass(frozen=True)
class AssignParams:
    threshold: float = 0.6  # cosine(article, centroid) needed to join a story
    window_s: float = 3 * 86400.0  # a story accepts articles until this long after its last one


def active(story: StoryState, now_ts: float, params: AssignParams) -> bool:
    return now_ts - story.last_ts <= params.window_s


def choose_story(
    article: ArticleSignal, candidates: Sequence[StoryState], params: AssignParams
) -> str | None:
    """Best-matching active story, or None when the article should start a new one."""
    best_id, best_sim = None, params.threshold
    for story in candidates:
        if not active(story, article.published_ts, params):
            continue
        sim = float(story.centroid @ article.vector)
        if sim >= best_sim:
            best_id, best_sim = story.story_id, sim
    return best_id


def start_story(story_id: str, article: ArticleSignal) -> StoryState:
    ts = article.published_ts
    return StoryState(story_id, article.vector.astype(np.float32).copy(), 1, ts, ts)


def absorb(story: StoryState, article: ArticleSignal) -> StoryState:
    ts = article.published_ts
    return StoryState(
        story.story_id,
        (story.vector_sum + article.vector).astype(np.float32),
        story.size + 1,
        min(story.first_ts, ts),
        max(story.last_ts, ts),
    )
