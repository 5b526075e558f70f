"""The summary benchmark's data loaders and synthetic story (summaries.py)."""

from __future__ import annotations

import ast
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workers.extract import extract
from workers.summarize.source import SourceDoc

Encode = Callable[[Sequence[str]], np.ndarray]


# --- data --------------------------------------------------------------------------------------
def load_stories(data: Path, seeds: Path) -> dict[str, list[tuple[str, str, str, str, str]]]:
    """story -> [(article_id, source, title, text, published iso)]"""
    stories: dict[str, list[tuple[str, str, str, str, str]]] = defaultdict(list)
    for path in sorted((data / "giveme5w1h-dev").glob("*.json")):
        raw = json.loads(path.read_text())
        cluster = raw["newsCluster"]
        cluster = ast.literal_eval(cluster) if isinstance(cluster, str) else cluster
        stories[f"giveme:{cluster['EventId']}"].append(
            (
                raw["dId"],
                raw.get("source_domain") or raw["dId"],
                raw["title"] or "",
                raw["text"] or "",
                raw.get("date_publish") or "",
            )
        )
    for path in sorted((data / "ecbplus").glob("*.json")):
        raw = json.loads(path.read_text())
        source = raw.get("source_domain")
        title = raw.get("title") or ""
        stories[f"ecbplus:{raw['event_id']}"].append(
            (
                raw["dId"],
                source if source and source != "None" else raw["dId"],
                "" if title == "None" else title,
                raw["text"] or "",
                "",
            )
        )
    for path in sorted(seeds.glob("0*.txt")):
        stories["seeds"].append((path.stem, path.stem, "", path.read_text(), "2025-07-01T18:00"))
    return stories


class VectorCache:
    def __init__(self, encode: Encode, folder: Path) -> None:
        self.encode, self.folder = encode, folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), np.float32)
        key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24]
        path = self.folder / f"{key}.npy"
        if path.exists():
            loaded: np.ndarray = np.load(path)
            return loaded
        vectors = np.asarray(self.encode(list(texts)), dtype=np.float32)
        np.save(path, vectors)
        return vectors


def as_docs(items: list[tuple[str, str, str, str, str]], cache: VectorCache) -> list[SourceDoc]:
    docs = []
    for article_id, source, title, text, published in items:
        clean = extract(text=text, title=title or None)
        when = datetime.fromisoformat(published).replace(tzinfo=UTC) if published else None
        docs.append(
            SourceDoc(
                article_id,
                source,
                clean.sentences,
                cache(clean.sentences),
                title=clean.title,
                published_at=when,
            )
        )
    return docs


# --- cost --------------------------------------------------------------------------------------
# One invented story (a stadium bond vote put off), its facts each told in several ways; every
# article picks its own wording, order and local colour, so no two articles are the same text.
_FACTS = [
    [
        "The city council {delayed} the vote on the {amount} stadium bond {when}.",
        "{When}, the council {delayed} its planned vote on financing for the new stadium.",
        "A vote on the {amount} bond for the stadium was {delayed_p} {when}.",
    ],
    [
        "Council members said they needed more time to review the financing plan.",
        "Several members asked for more time to study how the bond would be repaid.",
        "Members wanted more time to read the repayment terms, they said.",
    ],
    [
        "The city would contribute {share} under the current plan.",
        "Under the plan the city's share comes to {share}.",
        "Taxpayers would cover {share} of the cost.",
    ],
    [
        "Mayor {mayor} said she still expects the project to go ahead.",
        "{mayor}, the mayor, said the stadium would be built despite the delay.",
        "The delay does not end the project, Mayor {mayor} told reporters.",
    ],
    [
        "The team has threatened to move if no deal is reached by {month}.",
        "Without an agreement by {month}, the club says it could relocate.",
        "The franchise set a {month} deadline for a financing deal.",
    ],
    [
        "Opponents argue the money would be better spent on schools and roads.",
        "Critics say the bond diverts funds from schools and road repairs.",
        "Residents opposed to the plan want the money for schools and streets.",
    ],
]
_FILL = {
    "delayed": ["delayed", "postponed", "put off", "pushed back"],
    "delayed_p": ["delayed", "postponed", "put off", "pushed back"],
    "amount": ["$2.1 billion", "$2 billion", "roughly $2.1 billion"],
    "when": ["late Thursday", "on Thursday", "Thursday night"],
    "share": ["$600 million", "about $600 million", "$0.6 billion"],
    "mayor": ["Lena Ortiz", "Ortiz"],
    "month": ["March", "the spring", "March 1"],
}
_PEOPLE = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lia"]
_PLACES = ["Elm Street", "the riverside", "Oak Park", "the old mill", "Harbor Road", "Pine Hill"]


def synthetic_articles(n: int, seed: int = 11, start: int = 0) -> list[tuple[str, list[str]]]:
    """(outlet, sentences) of `n` distinct rewrites of one invented event (a stadium bond vote
    put off), numbered from `start`: each picks its own wording of each fact and adds a quote of
    its own, so no two are near-duplicate copies."""
    rng = random.Random(seed + start)
    articles: list[tuple[str, list[str]]] = []
    for k in range(start, start + n):
        fill = {key: rng.choice(options) for key, options in _FILL.items()}
        fill["When"] = fill["when"][0].upper() + fill["when"][1:]
        facts = [rng.choice(options).format(**fill) for options in _FACTS]
        body = facts[:1] + rng.sample(facts[1:], k=rng.randint(3, 5))
        person, place = rng.choice(_PEOPLE), rng.choice(_PLACES)
        mood = rng.choice(["no surprise", "frustrating", "overdue", "a relief"])
        body.append(
            f"{person} {k}, who lives near {place}, said the delay was {mood} for families."
        )
        # A second line of the outlet's own: with one, a fifth of 1,000 rewrites were marked
        # near-duplicate copies of another (the rest of their words come from few wordings).
        body.insert(
            rng.randint(1, len(body) - 1),
            f"Reporter {rng.choice(_PEOPLE)} {k * 7 % 1000} counted {k % 90 + 10} people at "
            f"the meeting on {rng.choice(_PLACES)}, report number {k}.",
        )
        articles.append((f"outlet-{k:04d}.example", body))
    return articles


def synthetic_story(n: int, cache: VectorCache, seed: int = 11) -> list[SourceDoc]:
    return [
        SourceDoc(
            f"syn-{k:04d}", source, body, cache(body), title=f"Stadium bond vote delayed ({k})"
        )
        for k, (source, body) in enumerate(synthetic_articles(n, seed))
    ]
