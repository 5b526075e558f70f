"""An article's hash costs what its fields need: once extracted (the posted text dropped), it is
stored compactly, whatever its title, URL or id, with every field read back as before."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import redis

from core.keys import Keys
from core.records import ArticleIn
from core.storage.articles import Store

KEYS = Keys()


def compact_limit(r: redis.Redis) -> int:
    got = r.config_get("hash-max-ziplist-value")
    return int(got.get("hash-max-ziplist-value", 0)) if isinstance(got, dict) else 0


def test_an_extracted_article_hash_is_compact_and_keeps_every_field(r: redis.Redis) -> None:
    if compact_limit(r) < 512:
        pytest.skip("this Redis keeps hashes compact only for short values (not the embedded one)")
    store = Store(r, KEYS)
    title = "Cologne police say they are investigating New Year's Eve assaults near the station"
    url = "https://news.example.com/europe/2026/01/02/cologne-police-investigation-new-years-eve"
    body = " ".join(f"Sentence {i} of a long article about the Cologne investigation." for i in range(60))
    accepted = store.add_article(
        ArticleIn(
            id="a-long-id-" + "x" * 60,
            source="example-news",
            title=title,
            url=url,
            text=body,
            published_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
        )
    )
    key = KEYS.article(accepted.id)
    before = store.record(accepted.id)
    assert before is not None and before.text == body
    posted_bytes = r.memory_usage(key)

    sentences = [f"Sentence {i} of a long article about the Cologne investigation." for i in range(60)]
    vectors = np.ones((3, 384), np.float32)
    store.save_extracted(accepted.id, title, sentences, vectors, np.ones(384, np.float32))

    after = store.record(accepted.id)
    assert after is not None
    assert after.text is None and after.html is None  # the text lives on as the clean sentences
    same = ("id", "source", "title", "status", "published_ts", "received_ts")
    assert {f: getattr(after, f) for f in same} == {f: getattr(before, f) for f in same}
    assert (after.clean_title, after.sentence_count, after.vector_rows) == (title, 60, 3)
    assert r.hget(key, "url") == url.encode()
    assert r.object("encoding", key) in (b"listpack", b"ziplist")
    assert r.memory_usage(key) < 800 < posted_bytes
