"""Sentence vectors as stored: int8 rows with a scale each, read back close to what was written."""

from __future__ import annotations

import numpy as np

from core.storage.article_codec import DIM, pack_sentence_vectors, unpack_sentence_vectors


def _unit_rows(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_round_trip_keeps_every_cosine_above_0_9999_in_a_quarter_of_the_bytes() -> None:
    rows = _unit_rows(200)
    raw = pack_sentence_vectors(rows)
    back = unpack_sentence_vectors(raw)
    assert back.shape == rows.shape and back.dtype == np.float32
    cos = (rows * back).sum(axis=1) / np.linalg.norm(back, axis=1)
    assert cos.min() > 0.9999
    assert len(raw) < rows.nbytes / 3.9  # float32 would be 4x, float16 2x


def test_vectors_stored_as_float16_by_earlier_versions_still_read() -> None:
    rows = _unit_rows(5, seed=1)
    back = unpack_sentence_vectors(rows.astype("<f2").tobytes())
    assert np.allclose(back, rows, atol=1e-3)


def test_no_rows_and_zero_rows_survive() -> None:
    assert unpack_sentence_vectors(pack_sentence_vectors(np.zeros((0, DIM), np.float32))).shape == (
        0,
        DIM,
    )
    zero = np.zeros((1, DIM), np.float32)
    assert not unpack_sentence_vectors(pack_sentence_vectors(zero)).any()
