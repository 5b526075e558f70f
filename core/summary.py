"""The summary's data shape, shared by the summariser (which builds it), the storage layer and the
API, pages and feeds (which serve it). Field names are the public contract of `GET /stories/{id}`'s
`summary`; pydantic reads these dataclasses for the OpenAPI schema and for validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ConsensusFact:
    text: str
    sources: list[str]
    support: int = 0  # number of independent sources backing it
    article_ids: list[str] = field(default_factory=list)


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
    consensus: list[ConsensusFact] = field(default_factory=list)
    unique: list[SourceFacts] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(
            headline=data["headline"],
            consensus=[ConsensusFact(**c) for c in data.get("consensus", [])],
            unique=[
                SourceFacts(source=u["source"], facts=[UniqueFact(**f) for f in u["facts"]])
                for u in data.get("unique", [])
            ],
            conflicts=[
                Conflict(about=c["about"], claims=[Claim(**k) for k in c["claims"]])
                for c in data.get("conflicts", [])
            ],
        )
