"""The summary's data shape, shared by the summariser (which builds it), the storage layer and the
API, pages and feeds (which serve it). Field names are the public contract of `GET /stories/{id}`'s
`summary`; pydantic reads these dataclasses for the OpenAPI schema and for validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Variant:
    """An outlet that reports a consensus fact with other or fewer details than the shown wording:
    not cited under the wording (it does not state all of it), shown in its own words instead."""

    source: str
    text: str
    article_id: str = ""
    value: str = ""  # its own numbers or days where they differ from the shown wording's


@dataclass
class ConsensusFact:
    """`sources` state every checkable detail of `text` (numbers, amounts, dates and weekdays,
    names, quoted words) in their own articles; `variants` report the same fact in other words."""

    text: str
    sources: list[str]
    support: int = 0  # independent outlets reporting the fact: sources plus variants
    article_ids: list[str] = field(default_factory=list)  # of the sources (and their copies)
    variants: list[Variant] = field(default_factory=list)


@dataclass
class UniqueFact:
    text: str
    article_id: str = ""
    score: float = 0.0


@dataclass
class SourceFacts:
    source: str
    facts: list[UniqueFact]


@dataclass
class Claim:
    source: str
    value: str
    text: str
    article_id: str = ""
    side: int = 0  # claims with the same side agree with each other; side 0 is the majority


@dataclass
class Conflict:
    about: str
    claims: list[Claim]


@dataclass
class Summary:
    headline: str
    version: int = 0  # 1 for a story's first summary, then one more for each rewrite
    consensus: list[ConsensusFact] = field(default_factory=list)
    unique: list[SourceFacts] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # Outlets of a very large story whose own facts are not itemised in `unique` (only the
    # outlets adding the most are): counted here so the reader knows the list is not exhaustive.
    folded_sources: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(
            headline=data["headline"],
            version=int(data.get("version") or 0),
            consensus=[
                ConsensusFact(
                    **{k: v for k, v in c.items() if k != "variants"},
                    variants=[Variant(**v) for v in c.get("variants", [])],
                )
                for c in data.get("consensus", [])
            ],
            unique=[
                SourceFacts(source=u["source"], facts=[UniqueFact(**f) for f in u["facts"]])
                for u in data.get("unique", [])
            ],
            conflicts=[
                Conflict(about=c["about"], claims=[Claim(**k) for k in c["claims"]])
                for c in data.get("conflicts", [])
            ],
            folded_sources=int(data.get("folded_sources") or 0),
        )
