"""Renaming a database written before the hash-tagged key layout (#16) to the current names.

Before, an article's keys were `sf:article:<id>...`, a story's `sf:story:<id>...` and the
coordination keys `sf:<name>`; now they are `sf:article:{<id>}...`, `sf:story:{<id>}...` and
`{sf}:<name>` (core/keys.py). `storyfold migrate-keys` renames every old key once, on the single
server it was written on (RENAME within one server; a cluster never held the old names). Run it
with every storyfold process stopped: a worker of either version writing meanwhile would write
under names the other does not read. Safe to run again: only old names are renamed, and a key
whose new name already exists is left and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from core.keys import Keys

ARTICLE_SUFFIXES = ("sentences", "vectors", "vector", "rest", "minhash")
STORY_SUFFIXES = ("state", "evidence", "articles", "summary", "versions", "feeditem")
# The first part of each coordination key's name (after the prefix): these now carry `{prefix}`.
COORDINATION = (
    "stream:events",
    "stories:",
    "seq:",
    "lock:",
    "repair:",
    "feed:size:",
    "workers",
    "worker:",
    "source:",
    "sources:",
    "idx:source:",
    "host:",
    "webhook:",
    "webhooks",
    "webhooks:",
)


@dataclass
class Migration:
    renamed: int = 0
    kept: list[str] = field(default_factory=list)  # new name taken already: left as it was


def new_name(old: str, keys: Keys) -> str | None:
    """The current name of a key stored under the old layout (None: its name did not change)."""
    p = keys.prefix
    if not old.startswith(f"{p}:") or "{" in old:
        return None
    rest = old[len(p) + 1 :]
    for kind, suffixes in (("article", ARTICLE_SUFFIXES), ("story", STORY_SUFFIXES)):
        if not rest.startswith(f"{kind}:"):
            continue
        body = rest[len(kind) + 1 :]
        for suffix in suffixes:
            if body.endswith(f":{suffix}"):
                return f"{p}:{kind}:{{{body[: -len(suffix) - 1]}}}:{suffix}"
        return f"{p}:{kind}:{{{body}}}"
    if any(rest == c or (c.endswith(":") and rest.startswith(c)) for c in COORDINATION):
        return f"{{{p}}}:{rest}"
    return None


def migrate_key_names(client: redis.Redis, keys: Keys, batch: int = 1000) -> Migration:
    done = Migration()
    for raw in client.scan_iter(match=f"{keys.prefix}:*", count=batch):
        old = raw.decode()
        new = new_name(old, keys)
        if new is None:
            continue
        if client.renamenx(old, new):
            done.renamed += 1
        elif client.exists(old):
            done.kept.append(old)
    return done
