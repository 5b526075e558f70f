"""How an article is stored: its sentence vectors' bytes, its identity digests (canonical URL,
source + text), its timestamps, and its hash read back as a typed ArticleRecord."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from core.records import ArticleRecord, ArticleStatus
from embedding.spec import MODEL

_TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "ocid", "cmpid")

DIM = MODEL.dim
# Sentence vectors are the largest thing kept per article. Stored as int8 with one float32 scale
# per row: a quarter of float32, half of float16, and the cosine between a vector and its stored
# copy stays above 0.9999 (tests/test_store_vectors.py). The magic cannot begin a float16 blob of
# unit vectors (as float16 it reads 6.3, and no component of a unit vector exceeds 1), so rows
# stored as float16 by earlier versions still read.
_INT8_MAGIC = b"SFv8"


def pack_sentence_vectors(vectors: npt.NDArray[np.float32]) -> bytes:
    rows = np.asarray(vectors, np.float32).reshape(-1, DIM)
    scale = np.abs(rows).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8)
    return bytes(_INT8_MAGIC + scale.astype("<f4").tobytes() + codes.tobytes())


def unpack_sentence_vectors(raw: bytes) -> npt.NDArray[np.float32]:
    if not raw.startswith(_INT8_MAGIC):  # float16 rows, as stored before
        legacy: npt.NDArray[np.float32] = np.frombuffer(raw, "<f2").astype(np.float32)
        return legacy.reshape(-1, DIM)
    body = raw[len(_INT8_MAGIC) :]
    n = len(body) // (4 + DIM)
    scale = np.frombuffer(body[: 4 * n], "<f4")
    codes = np.frombuffer(body[4 * n :], np.int8).reshape(n, DIM)
    rows: npt.NDArray[np.float32] = codes.astype(np.float32) * scale[:, None].astype(np.float32)
    return rows


def canonical_url(url: str) -> str:
    """Same article, same key: lower-case scheme and host, no fragment, no tracking parameters.
    A parameter without a value stays: old CMSs address articles as `news.php?1001`."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PARAMS)
    ]
    path = parts.path.rstrip("/") or "/"
    host = parts.netloc.lower().removeprefix("www.")
    return urlunsplit(("https", host, path, urlencode(sorted(query)), ""))


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def content_digest(source: str, body: str) -> str:
    return _digest(source, " ".join(body.split()))


def _ts(value: datetime | None) -> str:
    return "" if value is None else f"{value.timestamp():.3f}"


def from_ts(raw: bytes | str | None) -> datetime | None:
    """A stored timestamp; None when absent or unreadable (a damaged field must not make a
    whole article or story unreadable)."""
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC) if raw else None
    except (ValueError, OverflowError, OSError):
        return None


def _s(raw: bytes | None) -> str | None:
    return raw.decode() if raw else None


def missing_vectors(f: dict[str, str]) -> bool:
    """Whether an article (its fields) still waits for the vectors of some of its sentences."""
    target = f.get("vector_target") or f.get("sentence_count") or 0
    return int(f.get("vector_rows") or 0) < int(target)


def _record(f: dict[str, str]) -> ArticleRecord:
    target = f.get("vector_target") or f.get("sentence_count") or 0
    return ArticleRecord(
        id=f["id"],
        status=ArticleStatus(f.get("status") or ArticleStatus.QUEUED),
        source=f.get("source", ""),
        title=f.get("title") or None,
        clean_title=f.get("clean_title") or None,
        text=f.get("text") or None,
        html=f.get("html") or None,
        published_ts=float(f["published_at"]) if f.get("published_at") else None,
        received_ts=float(f.get("received_at") or time.time()),
        story_id=f.get("story_id") or None,
        duplicate_of=f.get("duplicate_of") or None,
        sentence_count=int(f["sentence_count"]) if f.get("sentence_count") else None,
        vector_rows=int(f.get("vector_rows") or 0),
        vector_target=int(target),
    )


def decode_hash(raw: dict[bytes, bytes]) -> dict[str, Any]:
    return {k.decode(): v.decode() for k, v in raw.items()}
