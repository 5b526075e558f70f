"""Near-duplicate detection: the same wire story re-posted, lightly rewritten (pure functions).

An article's body is turned into a MinHash signature over word shingles; LSH band keys let the
store find earlier articles that probably share many shingles, and similarity() estimates their
Jaccard overlap exactly enough to decide. Syndicated copies with a new headline or a trimmed
paragraph keep most shingles (Jaccard well above 0.5); two outlets writing up the same event
independently share names and a few quotes, not runs of words (Jaccard below 0.15 in practice).

Store layout the runner is expected to keep (see the module's report): per article the signature
bytes (signature_to_bytes), and per band key a set of article IDs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from datasketch import MinHash

NUM_PERM = 128
SHINGLE_WORDS = 3  # short enough that a reworded sentence only spoils its own few shingles
BANDS = 32  # 32 bands of 4 rows: a pair is a candidate with probability 1-(1-J^4)^32,
ROWS = NUM_PERM // BANDS  # i.e. >= 0.95 from J = 0.5 and <= 0.01 below J = 0.12
SEED = 1  # fixed: signatures must agree across workers and restarts

Signature = npt.NDArray[np.uint64]

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DedupParams:
    threshold: float = 0.5  # estimated Jaccard at or above which two bodies are one article
    min_words: int = 12  # bodies shorter than this (headline-only items) are never deduplicated


def _shingles(text: str) -> list[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE_WORDS:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i:i + SHINGLE_WORDS]).encode()
            for i in range(len(words) - SHINGLE_WORDS + 1)]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def signature(text: str) -> Signature:
    """MinHash (NUM_PERM values) of the body's word shingles; deterministic across processes."""
    mh = MinHash(num_perm=NUM_PERM, seed=SEED)
    shingles = _shingles(text)
    if shingles:
        mh.update_batch(shingles)
    return np.asarray(mh.hashvalues, np.uint64)


def band_keys(sig: Signature) -> list[str]:
    """One short key per LSH band: articles sharing any key are near-duplicate candidates."""
    rows = np.asarray(sig, "<u8").reshape(BANDS, ROWS)
    return [f"{b:02d}{hashlib.blake2b(rows[b].tobytes(), digest_size=6).hexdigest()}"
            for b in range(BANDS)]


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two shingle sets (share of agreeing MinHash values)."""
    return float(np.mean(np.asarray(a) == np.asarray(b)))


def is_near_duplicate(a_sig: Signature, b_sig: Signature, params: DedupParams = DedupParams()) -> bool:
    return similarity(a_sig, b_sig) >= params.threshold


def eligible(text: str, params: DedupParams = DedupParams()) -> bool:
    """Whether a body is long enough for shingle overlap to mean copying rather than chance."""
    return word_count(text) >= params.min_words


def signature_to_bytes(sig: Signature) -> bytes:
    return np.asarray(sig, "<u8").tobytes()


def signature_from_bytes(raw: bytes) -> Signature:
    return np.frombuffer(raw, "<u8").astype(np.uint64)
