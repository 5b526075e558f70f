"""What lets storyfold run on a Redis Cluster, checked without one: each script and MULTI's keys
share a hash slot (core/keys.py's hash tags), and every key a Lua script touches is declared in
KEYS (a cluster routes a script by its declared keys; one built inside Lua from ARGV may live on
another node). The same suite run with STORYFOLD_TEST_REDIS_CLUSTER=1 proves the commands
themselves (the server refuses CROSSSLOT); tests/test_cluster.py runs 3 masters + 3 replicas."""

from __future__ import annotations

import re
from pathlib import Path

from redis.crc import key_slot

from core.keys import Keys

STORAGE = Path(__file__).resolve().parent.parent / "core" / "storage"
SCRIPT = re.compile(r'^(_[A-Z_]+) = """(.*?)"""', re.S | re.M)
CALL = re.compile(r"redis\.call\(\s*'(\w+)'\s*(?:,\s*([^,)]+))?")
NO_KEY = {"TIME", "PING"}


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_every_key_a_script_touches_is_declared() -> None:
    found = 0
    for path in sorted(STORAGE.glob("*.py")):
        for name, body in SCRIPT.findall(path.read_text()):
            for command, first in CALL.findall(body):
                found += 1
                if command.upper() in NO_KEY:
                    continue
                assert first.strip().startswith("KEYS["), (
                    f"{path.name} {name}: redis.call('{command}', {first.strip()}) touches a key "
                    "that is not declared in KEYS"
                )
    assert found > 10


def test_keys_of_one_article_one_story_and_the_coordination_share_a_slot() -> None:
    k = Keys("sf")
    article = [
        k.article("a1"),
        k.article_sentences("a1"),
        k.article_vectors("a1"),
        k.article_vector("a1"),
        k.article_minhash("a1"),
        k.article_rest_claim("a1"),
    ]
    story = [
        k.story("s1"),
        k.story_state("s1"),
        k.story_evidence("s1"),
        k.story_articles("s1"),
        k.story_summary("s1"),
        k.story_versions("s1"),
        k.story_feed_item("s1"),
    ]
    coordination = [
        k.stories_updated,
        k.update_seq,
        k.events_stream,
        k.stories_active,
        k.state_seq,
        k.stories_state_changed,
        k.assign_lock,
        k.repair_lock,
        k.repair_due,
        k.feed_size_snapshot(7),
        k.feed_size_latest,
        k.workers,
        k.worker("w1"),
        k.write_probe,
        k.source("x"),
        k.source_entry_tries("x"),
        k.sources_due,
        k.host_lease("h"),
        k.host_next("h"),
        k.webhook("h"),
        k.webhooks_due,
        k.webhook_queue("h", "s1"),
        k.webhook_log("h"),
    ]
    for group in (article, story, coordination):
        assert len({slot(key) for key in group}) == 1, group
    # Articles and stories spread over the slots (what lets the data grow past one master).
    assert len({slot(k.article(f"a{i}")) for i in range(100)}) > 90
    assert len({slot(k.story(f"s{i}")) for i in range(100)}) > 90
    # Two deployments sharing a cluster (two prefixes) coordinate in two slots.
    assert slot(Keys("other").stories_updated) != slot(k.stories_updated)
