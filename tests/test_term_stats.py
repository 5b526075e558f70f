"""core.storage.term_stats against a real Redis: online document frequencies and story profiles
shared by workers (the learned join decision's lexical evidence)."""

from __future__ import annotations

import redis

from core.keys import Keys
from core.storage.term_stats import TermStats
from workers.assign.evidence import DocFreq, StoryProfile, add_article, article_terms


def test_document_frequencies_accumulate_across_instances(r: redis.Redis) -> None:
    first, second = TermStats(r, Keys()), TermStats(r, Keys())  # two workers
    assert first.doc_freqs(["missile"]) == (0, {})
    first.count([["missile", "korea"], ["missile", "launch", "missile"]])  # once per article
    second.count([{"korea"}])
    n, counts = second.doc_freqs(["missile", "korea", "launch", "unseen"])
    assert n == 3 and counts == {"missile": 2, "korea": 2, "launch": 1}
    df = DocFreq(n, counts)
    assert df.idf("unseen") > df.idf("launch") > df.idf("missile")


def test_story_profiles_round_trip_and_drop(r: redis.Redis) -> None:
    stats = TermStats(r, Keys())
    profile = add_article(StoryProfile(), article_terms("Quake hits Peru", "A 7.1 quake hit Lima."))
    stats.save_profiles({"s1": profile.to_json()})
    loaded = stats.profiles(["s1", "s2"])
    assert set(loaded) == {"s1"} and StoryProfile.from_json(loaded["s1"]) == profile
    stats.drop_profiles(["s1"])
    assert stats.profiles(["s1"]) == {}
