"""The learned join-or-new decision (pure): logistic regression over per-candidate evidence.

For each article, the reachable stories are ranked by the dense score (workers.assign.scoring),
the best TOP_K get the cheaper-than-a-model evidence of workers.assign.evidence, and the model
gives each a probability that the article belongs to it. The article joins the most probable
story when that probability reaches the model's threshold, else it starts a new story.

Cost per article: the dense score over the candidates (as before) plus TOP_K dictionary lookups;
nothing grows with the number of stories beyond the dense score itself.

The parameters are trained by benchmarks/train_assign.py on the labelled dev sets and shipped as
workers/assign/join_model.json (its header says which script, data and date); retraining is
one command, in that script's docstring.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.story_state import StoryState
from workers.assign.evidence import ArticleTerms, DocFreq, StoryProfile, coverage, term_weights
from workers.assign.scoring import ArticleSignal, AssignParams, reachable, scores, threshold_for

MODEL_PATH = Path(__file__).with_name("join_model.json")
TOP_K = 8  # candidates per article that get the full evidence (ranked by the dense score)
# An article's rarest words and names that count: a bare headline and a six-sentence lead are
# then measured on the same scale (a share of a long lead's every word is small by length alone).
MAX_WORDS = 15
MAX_NAMES = 8

FEATURES = (
    # The one-threshold scorer's margin: its score (centroid and best-member cosine, less the
    # time-gap penalty) minus the article's threshold. Time enters only through it: the dev sets
    # with real dates disagree on the time scale (UCI: hours; giveme5w1h: days to years), so a
    # learned time weight does not carry from one to the other.
    "dense_margin",
    "lexical",  # idf-weighted share of the article's rarest words that the story's articles use
    "names",  # the same over capitalised names
    "has_names",
    "numbers",  # share of the article's numbers the story has seen
    "has_numbers",
    "has_body",  # a full article, not a bare headline
)

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class JoinModel:
    mean: Matrix  # feature standardisation
    scale: Matrix
    coef: Matrix
    intercept: float
    threshold: float  # join the most probable candidate when its probability reaches this
    header: Mapping[str, Any]

    def probability(self, x: Matrix) -> Matrix:
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), np.float64)

    def to_json(self) -> str:
        body = {
            "header": dict(self.header),
            "features": list(FEATURES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }
        return json.dumps(body, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> JoinModel:
        data = json.loads(text)
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"join model features {data['features']} != {list(FEATURES)}")
        return cls(
            np.asarray(data["mean"], np.float64),
            np.asarray(data["scale"], np.float64),
            np.asarray(data["coef"], np.float64),
            float(data["intercept"]),
            float(data["threshold"]),
            data.get("header", {}),
        )


@lru_cache(maxsize=4)
def load_join_model(path: Path = MODEL_PATH) -> JoinModel:
    return JoinModel.from_json(path.read_text())


def features(
    article: ArticleSignal,
    terms: ArticleTerms,
    df: DocFreq,
    candidates: Sequence[StoryState],
    profiles: Mapping[str, StoryProfile],
    params: AssignParams,
) -> Matrix:
    """One row of FEATURES per candidate (a story without a profile has no lexical evidence)."""
    out = np.zeros((len(candidates), len(FEATURES)))
    if not candidates:
        return out
    margin = scores(article, candidates, params) - threshold_for(article, params)
    has_body = 1.0 if article.text.strip() else 0.0
    word_w = term_weights(terms.words, df, MAX_WORDS)
    name_w = term_weights(terms.names, df, MAX_NAMES)
    for i, story in enumerate(candidates):
        profile = profiles.get(story.story_id, StoryProfile())
        lexical, _ = coverage(word_w, profile.words, profile.size)
        named, has_names = coverage(name_w, profile.names, profile.size)
        shared_numbers = sum(1 for n in terms.numbers if n in profile.numbers)
        out[i] = (
            margin[i], lexical, named, float(has_names),
            shared_numbers / len(terms.numbers) if terms.numbers else 0.0,
            1.0 if terms.numbers else 0.0, has_body,
        )
    return out


def shortlist(
    article: ArticleSignal, candidates: Sequence[StoryState], params: AssignParams,
    top_k: int = TOP_K,
) -> list[StoryState]:
    """The reachable candidates with the best dense scores, best first."""
    live = [s for s in candidates if reachable(s, article.published_ts, params)]
    if len(live) <= 1:
        return live
    dense = scores(article, live, params)
    order = np.argsort(-dense, kind="stable")[:top_k]
    return [live[int(i)] for i in order]


@dataclass(frozen=True)
class JoinDecision:
    story_id: str | None  # None: start a new story
    probability: float  # of the most probable candidate (0 when there was none)


def choose_story_learned(
    article: ArticleSignal,
    terms: ArticleTerms,
    df: DocFreq,
    shortlisted: Sequence[StoryState],
    profiles: Mapping[str, StoryProfile],
    params: AssignParams,
    model: JoinModel,
) -> JoinDecision:
    """Join the most probable shortlisted story if the model says so (shortlist() first)."""
    if not shortlisted:
        return JoinDecision(None, 0.0)
    prob = model.probability(features(article, terms, df, shortlisted, profiles, params))
    best = int(np.argmax(prob))
    chosen = shortlisted[best].story_id if prob[best] >= model.threshold else None
    return JoinDecision(chosen, float(prob[best]))
