"""The contract every embedding backend meets (torch_backend, onnx_int8)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class ModelIntegrityError(RuntimeError):
    """The packaged weights are not the weights the ModelSpec names."""


class Embedder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Return one L2-normalised float32 row per text (shape: len(texts) x dim)."""
        ...


def in_background(embedder: Embedder) -> Embedder:
    """`embedder`'s model with its batches run after other callers' waiting ones, where the
    backend can order them (onnx-int8's BatchPool); else `embedder` itself."""
    make = getattr(embedder, "in_background", None)
    return cast(Embedder, make()) if callable(make) else embedder
