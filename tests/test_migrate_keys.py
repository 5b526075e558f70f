"""`storyfold migrate-keys`: a database written with the key names before the hash-tagged
layout (#16) reads the same afterwards."""

from __future__ import annotations

import re

import pytest
import redis
from newsroom import Newsroom

from core.keys import Keys
from core.records import ArticleIn
from core.storage import Storage
from core.storage.connection import is_cluster
from core.storage.migrate import migrate_key_names, new_name

KEYS = Keys()


def old_name(key: str) -> str:
    """The name the same key had before #16."""
    key = re.sub(r"^\{sf\}:", "sf:", key)
    return re.sub(r"^sf:(article|story):\{(.*?)\}", r"sf:\1:\2", key)


def test_an_old_layout_database_is_renamed_to_the_current_names(r: redis.Redis) -> None:
    if is_cluster(r):
        pytest.skip("a cluster never held the old names (RENAME across slots is refused)")
    news = Newsroom(r)
    sid = news.story("Bridge closes", ["a", "b"])
    news.add(sid, "c")
    Storage(r, KEYS).articles.add_article(ArticleIn(source="x", text="A posted article. " * 5))
    r.set(KEYS.write_probe, "1")
    current = {k.decode(): r.dump(k) for k in r.scan_iter(count=1000)}
    assert any("{" in k for k in current)
    # Keys that did not exist before #16 have no old name.
    new_kinds = (KEYS.write_probe, KEYS.feed_size_latest)
    renamed = [
        k for k in current if old_name(k) != k and k not in new_kinds and "version_days" not in k
    ]
    for key in renamed:
        r.rename(key, old_name(key))
    assert all(new_name(old_name(k), KEYS) == k for k in renamed)

    done = migrate_key_names(r, KEYS)
    assert done.kept == [] and done.renamed == len(renamed)
    assert {k.decode(): r.dump(k) for k in r.scan_iter(count=1000)} == current
    assert migrate_key_names(r, KEYS).renamed == 0  # again: nothing left to rename
    assert Storage(r, KEYS).stories.story(sid).article_count == 3
