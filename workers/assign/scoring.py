"""Online assignment of an incoming article to a story (pure functions, no I/O).

The runner builds an ArticleSignal per article (vector from article_vector()), loads the active
StoryState candidates from the store, calls choose_story(), then either absorb()s the article into
the chosen story or start_story()s a new one, and the storage layer writes the state back.

How a match is scored (one configuration for full articles and headline-only items alike; the only
difference is the threshold, see AssignParams):
- half centroid cosine, half the best cosine to one of the story's recent members. Broad stories
  (a product launch followed for days) drift; the member term lets a new angle attach to the
  report it resembles instead of the blurred average, and the centroid term keeps one lookalike
  member from pulling in an unrelated article;
- minus a penalty growing with log(1 + days since the story's last article). Two different
  events of the same kind (two rocket launches, two zoo accidents) look alike in embedding space;
  what tells them apart is mostly that they happened months apart. A follow-up weeks later still
  joins when it is clearly the same story. Headline-only feeds without dates get one shared
  timestamp, so for them the penalty is zero;
- minus name_penalty when the article names things and the story names things, but not one of
  them the same (names: words its headline and lead capitalise other than to open a sentence,
  evidence.proper_names). Two earthquakes, two rehab admissions, two airline incidents of one
  week read alike to the model; the places and people differ. Reports of one event nearly always
  share a name, so the penalty is small and costs little recall (benchmarks/threshold_lodo.py
  and docs/benchmarks.md give the numbers). A story's name is one at least name_share of its
  articles use: a stray member does not open the story to its own event's names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from core.story_state import StoryState, Vector, centroid_cosines, unit_vector
from workers.assign.evidence import proper_names

LEAD_SENTENCES = 6  # body sentences that go into article_vector (the rest adds noise, not topic)
MAX_MEMBERS = 64  # recent member vectors kept per story for the max-member term
MAX_NAMES = 64  # most used names kept per story (bounds the state hash of a big story)
DAY = 86400.0

_unit = unit_vector


def article_vector(title_vec: Vector | None, sentence_vecs: Vector) -> Vector:
    """One unit vector per article: the headline weighs as much as the lead as a whole.

    title_vec: embedding of the headline, None when there is none; sentence_vecs: embeddings of the
    first LEAD_SENTENCES clean body sentences (may be empty for headline-only items). Averaging
    the lead smooths out single odd sentences; the headline states what the story is about.
    """
    parts = []
    if title_vec is not None and np.any(title_vec):
        parts.append(_unit(title_vec))
    if len(sentence_vecs):
        parts.append(_unit(np.asarray(sentence_vecs, np.float32)[:LEAD_SENTENCES].mean(axis=0)))
    if not parts:
        raise ValueError("an article needs a title or at least one sentence vector")
    return _unit(np.sum(parts, axis=0))


@dataclass
class ArticleSignal:
    vector: Vector  # (dim,) float32, L2-normalised (see article_vector)
    published_ts: float  # unix seconds: published_at, else arrival time
    title: str = ""
    # The lead sentences that went into the vector, joined; empty for a headline-only item. Its
    # presence tells which threshold applies; its names (with the title's) feed the name check.
    text: str = ""

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(proper_names(self.title, self.text))


@dataclass(frozen=True)
class AssignParams:
    """The product configuration (defaults). How they were chosen: benchmarks/clustering.py."""

    # Score needed to join a story. An article with a body is held to a higher bar than a bare
    # headline: its vector averages the headline with several sentences, which pulls it towards
    # the shared "news about this subject" direction, so unrelated reports on one subject (a
    # drone strike and a diplomatic call, both on the war in Ukraine) score higher than headlines.
    threshold: float = 0.45
    threshold_with_body: float = 0.5
    member_weight: float = 0.5  # share of the best-member cosine in the score (rest: centroid)
    decay_per_log_day: float = 0.04  # penalty per unit of log(1 + days since the story's last)
    name_penalty: float = 0.05  # when article and story both name things, none the same
    # Names the article must have for the check to be made. A headline naming one or two things
    # that the story does not is weak evidence (UCI's headline-only items name 0-3; full
    # articles 10 and more): left at 1, the product checks every article that names anything.
    # benchmarks.threshold_lodo fits it leave-one-dataset-out (docs/benchmarks.md: 1 or 3).
    name_min: int = 1
    # A story's name counts only once this share of its articles use it: one stray member
    # (another earthquake's report that got in) does not open the story to that event's names.
    name_share: float = 0.4
    # Open stories (last article within window_s) are scored with their member vectors; the store
    # loads their whole state. Closed stories stay candidates for archive_s, scored on the
    # centroid alone (the store may load them without `members`): follow-ups weeks or months
    # later do belong to the old story, and the decay already demands they be clearly alike.
    window_s: float = 3 * DAY
    archive_s: float = 730 * DAY


def active(story: StoryState, now_ts: float, params: AssignParams) -> bool:
    """Open: quiet for at most window_s (full state, member vectors count, repair looks at it)."""
    return now_ts - story.last_ts <= params.window_s


def reachable(story: StoryState, now_ts: float, params: AssignParams) -> bool:
    """Still a candidate at all: quiet for at most archive_s."""
    return now_ts - story.last_ts <= params.archive_s


def scores(
    article: ArticleSignal, candidates: Sequence[StoryState], params: AssignParams
) -> npt.NDArray[np.float64]:
    """Match score of the article against each candidate (compare with threshold_for). The name
    check is applied to the candidates at or over the bar only: below it, a score is left as
    the vectors and the time gap make it."""
    if not candidates:
        return np.zeros(0)
    x = np.asarray(article.vector, np.float32)
    sums = np.stack([s.vector_sum for s in candidates]).astype(np.float32)
    centroid = centroid_cosines(sums, x)
    best_member = centroid.astype(np.float64)  # closed stories: centroid alone, loaded or not
    for i, story in enumerate(candidates):
        if len(story.members) and active(story, article.published_ts, params):
            best_member[i] = float((story.members.astype(np.float32) @ x).max())
    gap_days = np.array([max(article.published_ts - s.last_ts, 0.0) / DAY for s in candidates])
    w = params.member_weight
    score = (1 - w) * centroid + w * best_member
    score = score - params.decay_per_log_day * np.log1p(gap_days)
    # The name check only lowers a score, so it is made for the candidates that clear the bar
    # (the others lose either way): reading a story's names costs more than its whole score.
    bar = threshold_for(article, params)
    if len(article.names) >= max(params.name_min, 1) and params.name_penalty:
        for k in np.flatnonzero(score >= bar):
            story = candidates[int(k)]
            if story.names and not _shares_a_name(article.names, story, params.name_share):
                score[k] -= params.name_penalty
    return np.asarray(score, np.float64)


def _shares_a_name(names: frozenset[str], story: StoryState, share: float) -> bool:
    """Whether the article names something the story's articles name (at least `share` of them:
    its own names, not a stray member's)."""
    shared = [name for name in names if name in story.names]
    if not shared or share <= 0:
        return bool(shared)
    need = max(1, math.ceil(share * story.size - 1e-9))
    return any(story.names[name] >= need for name in shared)


def choose_story(
    article: ArticleSignal, candidates: Sequence[StoryState], params: AssignParams
) -> str | None:
    """Best-scoring reachable story if it clears the threshold, else None (start a new story)."""
    live = [s for s in candidates if reachable(s, article.published_ts, params)]
    if not live:
        return None
    score = scores(article, live, params)
    best = int(np.argmax(score))
    return live[best].story_id if score[best] >= threshold_for(article, params) else None


def threshold_for(article: ArticleSignal, params: AssignParams) -> float:
    return params.threshold_with_body if article.text.strip() else params.threshold


def start_story(story_id: str, article: ArticleSignal) -> StoryState:
    ts = float(article.published_ts)
    vec = np.asarray(article.vector, np.float32)
    names = _with_names({}, article.names)
    return StoryState(story_id, vec.copy(), 1, ts, ts, vec[None, :].astype(np.float16), names)


def absorb(story: StoryState, article: ArticleSignal, max_members: int = MAX_MEMBERS) -> StoryState:
    """The story after the article joins it (the input state is not modified)."""
    ts = float(article.published_ts)
    vec = np.asarray(article.vector, np.float32)
    members = np.vstack([story.members, vec[None, :].astype(np.float16)])[-max_members:]
    return StoryState(
        story.story_id,
        (story.vector_sum + vec).astype(np.float32),
        story.size + 1,
        min(story.first_ts, ts),
        max(story.last_ts, ts),
        members,
        _with_names(story.names, article.names),
    )


def _with_names(counts: Mapping[str, int], names: frozenset[str]) -> dict[str, int]:
    """A story's name counts with one more article's names; past MAX_NAMES, the most used
    (ties: alphabetical)."""
    out = dict(counts)
    for name in names:
        out[name] = out.get(name, 0) + 1
    if len(out) > MAX_NAMES:
        out = dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_NAMES])
    return out


def build_story(story_id: str, articles: Sequence[ArticleSignal]) -> StoryState:
    """A story's state from its member articles (after a repair moved articles around)."""
    ordered = sorted(articles, key=lambda a: a.published_ts)
    if not ordered:
        raise ValueError("a story needs at least one article")
    state = start_story(story_id, ordered[0])
    for article in ordered[1:]:
        state = absorb(state, article)
    return state


def gap_penalty(days: float, params: AssignParams) -> float:
    """The score penalty for a story last updated `days` ago (for logs and tuning)."""
    return params.decay_per_log_day * math.log1p(max(days, 0.0))
