"""Invented stories for the summariser tests: each outlet's text as the worker would see it
(clean sentences and their vectors from the real model), and the citation invariant."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.summary import Summary
from embedding.torch_backend import shared_embedder
from workers.extract import extract
from workers.summarize import summarize
from workers.summarize.details import missing
from workers.summarize.source import SourceDoc


def invented_docs(outlets: dict[str, str], published: datetime) -> list[SourceDoc]:
    """One SourceDoc per outlet (article ids d0, d1, ... in the mapping's order)."""
    model = shared_embedder()
    docs = []
    for k, (source, text) in enumerate(outlets.items()):
        clean = extract(text=text)
        docs.append(SourceDoc(f"d{k}", source, clean.sentences, model.encode(clean.sentences),
                              title=clean.title, published_at=published))
    return docs


def assert_citations_hold(summary: Summary, docs: list[SourceDoc]) -> None:
    """Every source listed for a consensus line states every number, name and date in it."""
    text_of = {d.source: "\n".join([d.title or "", *d.sentences]) for d in docs}
    for fact in summary.consensus:
        for source in fact.sources:
            assert not missing(fact.text, text_of[source]), (source, fact.text)


@pytest.fixture(scope="module")
def summary_of_docs(docs: list[SourceDoc]) -> Summary:
    """The summary of a test module's `docs` fixture (bound as `summary = summary_of_docs`)."""
    return summarize(docs)
