"""One place that turns settings into embedders (the composition root and benchmarks call it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from embedding.base import Embedder

Backend = Literal["torch", "onnx-int8"]


class EmbedSettings(Protocol):
    """What the factory reads of core.config.Settings (a protocol: embedding imports no core)."""

    @property
    def embed_backend(self) -> Backend: ...
    @property
    def summary_embed_backend(self) -> Backend: ...
    @property
    def model_cache(self) -> Path: ...
    @property
    def embed_threads(self) -> int | None: ...
    @property
    def embed_min_cosine(self) -> float: ...
    @property
    def embed_batch(self) -> int: ...


def select_backend(settings: EmbedSettings, backend: str | None = None) -> Embedder:
    """The embedder `backend` (default `settings.embed_backend`) names: "torch"
    (SentenceTransformerEmbedder) or "onnx-int8" (OnnxInt8Embedder, exported once into
    settings.model_cache and checked against torch)."""
    name = backend or settings.embed_backend
    if name == "onnx-int8":
        from embedding.onnx_int8 import OnnxInt8Embedder

        return OnnxInt8Embedder(
            settings.model_cache,
            threads=settings.embed_threads,
            min_cosine=settings.embed_min_cosine,
        )
    if name != "torch":
        raise ValueError(f"unknown embedding backend {name!r} (torch, onnx-int8)")
    from embedding.torch_backend import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(batch_size=settings.embed_batch)


def make_embedders(settings: EmbedSettings) -> tuple[Embedder, Embedder]:
    """(headline + lead embedder, summary sentences embedder): one object when they are alike."""
    lead = select_backend(settings)
    if settings.summary_embed_backend == settings.embed_backend:
        return lead, lead
    return lead, select_backend(settings, settings.summary_embed_backend)
