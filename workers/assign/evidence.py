"""Lexical, entity and number evidence for one article against one candidate story (pure).

Dense MiniLM vectors say what an article is about; they blur *which* event. Two missile tests,
two airline incidents in one week, two hearings in one saga sit close in embedding space, while
a follow-up angle (the suspect's profile the next day) can sit further from the first report
than a look-alike event does. What tells them apart is mostly lexical: the names, places and
numbers an event's coverage keeps repeating (Miranda et al., EMNLP 2018: TF-IDF over tokens and
entities beside the timestamp features).

Everything here is computed once per article (ArticleTerms) or kept incrementally per story
(StoryProfile, capped), so scoring a candidate costs a few dictionary lookups, not a pass over
its members. Term weights are inverse document frequencies learned online from the stream
(DocFreq: the counts a worker reads from core.storage.term_stats, or a benchmark keeps in memory).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Per-story profile caps: enough for a story's recurring vocabulary; the long tail of once-used
# words carries no evidence and would make every state hash grow with its story.
MAX_STORY_TERMS = 400
MAX_STORY_NAMES = 120

_WORD_RE = re.compile(r"[a-z][a-z0-9'’\-]*[a-z0-9]")
_CAP_RE = re.compile(r"\b[A-Z][A-Za-z'’\-]*[A-Za-z]\b")
_NUMBER_RE = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?")
# Words capitalised in news text that name no one: weekdays, months, titles, sentence openers.
_NOT_NAMES = frozenset(ENGLISH_STOP_WORDS) | {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "mr", "mrs", "ms", "dr", "said", "says", "but", "and",
    "the", "it", "he", "she", "they", "we", "this", "that", "in", "on", "at", "after", "when",
    "news", "update", "updated", "breaking", "live", "video", "photos", "report", "reports",
}


def _normalise(word: str) -> str:
    """A light plural fold (so "missiles" meets "missile"); no stemmer, no model."""
    word = word.replace("’", "'").removesuffix("'s").strip("'-")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased content words (stop words and words under three letters left out)."""
    out = set()
    for raw in _WORD_RE.findall(text.lower()):
        word = _normalise(raw)
        if len(word) >= 3 and word not in ENGLISH_STOP_WORDS:
            out.add(word)
    return out


def _title_cased(text: str) -> bool:
    """Headline style ("Man Dies In Zoo Attack"): capitals there mark words, not names."""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’\-]*", text) if w.lower() not in _NOT_NAMES]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


def names(title: str, lead: str) -> set[str]:
    """Capitalised words that are not sentence furniture: people, places, organisations (rules,
    no tagger). Lower-cased and plural-folded like content_words, so the two share weights. A
    title-cased headline is skipped: its capitals mark words, not names."""
    out = set()
    for segment in (lead, "" if _title_cased(title) else title):
        for raw in _CAP_RE.findall(segment):
            word = _name_key(raw)
            if word is not None:
                out.add(word)
    return out


def proper_names(title: str, lead: str) -> set[str]:
    """names() less the words capitalised only because they open a sentence or the headline
    ("Strong earthquake shakes...", "Residents said..."): such a word counts when the text also
    capitalises it inside a sentence ("...said residents of Hakodate" keeps "Hakodate" wherever
    it opens). What is left names people, places and organisations, which is what tells two
    events of one kind apart. One pass; it runs for every article the assigner places."""
    inside: set[str] = set()  # a name capitalised at least once inside a sentence
    for segment in (lead, "" if _title_cased(title) else title):
        for match in _CAP_RE.finditer(segment):
            k = match.start() - 1
            while k >= 0 and segment[k] in _OPENING_MARKS:
                k -= 1
            if k >= 0 and segment[k] not in ".!?:\n":
                word = _name_key(match.group())
                if word is not None:
                    inside.add(word)
    return inside


_OPENING_MARKS = frozenset(" \t\"'“‘(«[")


@lru_cache(maxsize=1 << 16)
def _name_key(raw: str) -> str | None:
    """A capitalised word as a name (lower-cased, folded), or None: sentence furniture, or a
    shouted word ("BREAKING", "UPDATE"), not an acronym."""
    if raw.isupper() and len(raw) > 5:
        return None
    word = _normalise(raw.lower())
    return word if len(word) >= 2 and word not in _NOT_NAMES else None


def numbers(text: str) -> set[str]:
    """Numbers of two or more digits (counts, scores, years, sums): "1,200" and "1200" agree."""
    found = (n.replace(",", "") for n in _NUMBER_RE.findall(text))
    return {n for n in found if len(n.replace(".", "")) >= 2}


@dataclass(frozen=True)
class ArticleTerms:
    words: frozenset[str]  # content words of headline + lead (the lexical evidence)
    names: frozenset[str]  # capitalised names among them (the entity evidence)
    numbers: frozenset[str]


def article_terms(title: str, lead: str) -> ArticleTerms:
    text = f"{title}\n{lead}" if title else lead
    found_names = names(title, lead)
    return ArticleTerms(
        frozenset(content_words(text) | found_names), frozenset(found_names),
        frozenset(numbers(text)),
    )


@dataclass(frozen=True)
class DocFreq:
    """Document frequencies of an article's terms among the `n_docs` articles seen before it."""

    n_docs: int
    counts: Mapping[str, int]

    def idf(self, term: str) -> float:
        return math.log((self.n_docs + 1) / (self.counts.get(term, 0) + 1)) + 1e-3


@dataclass
class StoryProfile:
    """Per term, how many of the story's articles used it (capped to the most used)."""

    size: int = 0
    words: dict[str, int] = field(default_factory=dict)
    names: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"n": self.size, "w": self.words, "e": self.names, "d": self.numbers},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> StoryProfile:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data["n"]), dict(data["w"]), dict(data["e"]), dict(data["d"]))


def _add(counts: Mapping[str, int], terms: Iterable[str], cap: int) -> dict[str, int]:
    out = dict(counts)
    for term in terms:
        out[term] = out.get(term, 0) + 1
    if len(out) > cap:  # keep the most used; ties keep the earlier (insertion order is stable)
        out = dict(sorted(out.items(), key=lambda kv: -kv[1])[:cap])
    return out


def add_article(profile: StoryProfile, terms: ArticleTerms) -> StoryProfile:
    """The profile after an article joins (the input is not modified)."""
    return StoryProfile(
        profile.size + 1,
        _add(profile.words, terms.words, MAX_STORY_TERMS),
        _add(profile.names, terms.names, MAX_STORY_NAMES),
        _add(profile.numbers, terms.numbers, MAX_STORY_NAMES),
    )


def term_weights(terms: Iterable[str], df: DocFreq, top: int | None = None) -> dict[str, float]:
    """The article's terms with their idf, the `top` rarest only when given (ties by term, so
    the choice is deterministic); computed once per article, used per candidate."""
    weights = sorted(((df.idf(t), t) for t in terms), key=lambda wt: (-wt[0], wt[1]))
    return {t: w for w, t in weights[:top]}


def coverage(
    weights: Mapping[str, float], counts: Mapping[str, int], size: int
) -> tuple[float, bool]:
    """Share of the article's idf mass the story also carries, each shared term weighted by the
    share of the story's articles using it; (0, False) when the article has no such terms."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0, False
    if not size:
        return 0.0, True
    shared = sum(w * min(counts[t] / size, 1.0) for t, w in weights.items() if t in counts)
    return shared / total, True
