"""Near-duplicate detection on real reports: syndicated copies match, independent write-ups don't."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workers.dedup import (
    NUM_PERM,
    band_keys,
    eligible,
    is_near_duplicate,
    signature,
    signature_from_bytes,
    signature_to_bytes,
    similarity,
)

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("0*.txt"))


def _paragraphs(path: Path) -> list[str]:
    return [p.strip() for p in path.read_text().split("\n") if p.strip()]


def test_repost_with_new_headline_and_trimmed_paragraph_is_a_duplicate() -> None:
    original = _paragraphs(SEEDS[2])
    # Another site runs the same report: its own headline, one paragraph cut, a line of its own.
    repost = ["Kremlin and Elysee confirm rare two-hour call", *original[1:4], *original[5:],
              "This story was first published by our partner agency."]
    a, b = signature("\n".join(original[1:])), signature("\n".join(repost[1:]))
    assert similarity(a, b) > 0.7
    assert is_near_duplicate(a, b)
    assert set(band_keys(a)) & set(band_keys(b)), "the store would not even find the copy"


def test_independent_reports_of_the_same_event_are_not_duplicates() -> None:
    sigs = [signature("\n".join(_paragraphs(p)[1:])) for p in SEEDS]
    for i in range(len(sigs)):
        for j in range(i + 1, len(sigs)):
            assert similarity(sigs[i], sigs[j]) < 0.2
            assert not is_near_duplicate(sigs[i], sigs[j])


def test_signature_is_deterministic_and_round_trips() -> None:
    text = "\n".join(_paragraphs(SEEDS[0]))
    sig = signature(text)
    assert sig.shape == (NUM_PERM,) and sig.dtype == np.uint64
    assert np.array_equal(sig, signature(text))
    assert np.array_equal(signature_from_bytes(signature_to_bytes(sig)), sig)
    keys = band_keys(sig)
    assert len(keys) == len(set(keys)) and all(len(k) <= 16 for k in keys)


def test_headline_only_items_are_not_deduplicated() -> None:
    assert not eligible("Putin and Macron hold first call since 2022")
    assert eligible(" ".join(_paragraphs(SEEDS[0])))
