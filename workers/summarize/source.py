"""What the summariser reads of one article: clean sentences and their vectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SourceDoc:
    """One article of a story, as the summariser sees it: clean sentences and their vectors."""

    article_id: str
    source: str
    sentences: list[str]
    vectors: npt.NDArray[np.float32]  # (len(sentences), dim), L2-normalised
    title: str | None = None
    published_at: datetime | None = None
    duplicate_of: str | None = None  # near-duplicate copies count once as a source

    @property
    def sentence_count(self) -> int:
        return len(self.sentences)

    @property
    def vector_rows(self) -> int:
        return len(self.vectors)
