"""The multi-slot writes (posting, placing, announcing a summary) are sequences of single-slot
steps so that they run on a Redis Cluster; each is cut short here where a crash could cut it,
and the next delivery must finish it: nothing lost, nothing counted twice. Runs on the single
server and, with STORYFOLD_TEST_REDIS_CLUSTER=1, on a one-node cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis

from core.keys import Keys
from core.records import ArticleIn
from core.storage import Storage
from core.storage import stories as stories_module
from core.storage.article_codec import content_digest
from core.storage.story_records import MemberDoc
from core.story_state import StoryState
from core.summary import Summary
from embedding.spec import MODEL
from workers.runner import Worker

KEYS = Keys()


class Crash(Exception):
    pass


def _state(story_id: str) -> StoryState:
    v = np.ones(MODEL.dim, np.float32)
    return StoryState(story_id, v, 1, 100.0, 100.0)


def test_a_post_cut_before_its_enqueue_is_enqueued_by_the_next_post(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(source="a", text="One sentence about a bridge. " * 5, url="https://x/1")

    def crash(*_: str) -> None:
        raise Crash

    monkeypatch.setattr(storage.articles.posting, "_enqueue", crash)
    with pytest.raises(Crash):
        storage.articles.add_article(article)
    monkeypatch.undo()
    assert r.xlen(KEYS.articles_stream) == 0  # stored and indexed, never enqueued
    again = storage.articles.add_article(article)  # no id: found by its URL
    assert again.existing and r.xlen(KEYS.articles_stream) == 1
    assert storage.articles.add_article(article).existing and r.xlen(KEYS.articles_stream) == 1


def _post_cut_before_its_indexes(
    storage: Storage, r: redis.Redis, monkeypatch: pytest.MonkeyPatch, article: ArticleIn
) -> str:
    """Post `article` with its poster dying right after the article hash is written (an API
    process or Redis killed between the steps); returns the id the client never heard of."""

    def crash(*_: Any) -> list[str]:
        raise Crash

    monkeypatch.setattr(storage.articles.posting, "_claim", crash)
    with pytest.raises(Crash):
        storage.articles.add_article(article)
    monkeypatch.undo()
    (article_id,) = [raw.decode() for raw in r.zrange(KEYS.posts_unfinished, 0, -1)]
    assert r.hget(KEYS.article(article_id), "status") == b"queued"
    return article_id


def test_a_post_cut_before_its_indexes_then_posted_again_leaves_no_article_behind(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(source="a", text="A ferry ran aground off the coast. " * 5)
    cut = _post_cut_before_its_indexes(storage, r, monkeypatch, article)
    retried = storage.articles.add_article(article)  # the client's retry: no id, so a new one
    assert not retried.existing and retried.id != cut
    assert storage.articles.posting.finish_stale(older_than_s=60).dropped == 0  # in its grace
    assert storage.articles.posting.finish_stale(older_than_s=0).dropped == 1
    assert not r.exists(KEYS.article(cut)) and r.zcard(KEYS.posts_unfinished) == 0
    assert storage.articles.add_article(article).id == retried.id
    assert r.xlen(KEYS.articles_stream) == 1
    assert r.hget(KEYS.metrics, "posts_dropped") == b"1"


def test_a_post_cut_before_its_indexes_and_never_retried_is_queued(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(source="a", text="The harbour reopened after the storm. " * 5)
    cut = _post_cut_before_its_indexes(storage, r, monkeypatch, article)
    assert storage.articles.posting.finish_stale(older_than_s=0).queued == 1
    assert r.xlen(KEYS.articles_stream) == 1 and r.zcard(KEYS.posts_unfinished) == 0
    again = storage.articles.add_article(article)  # it now holds its indexes
    assert again.existing and again.id == cut and r.xlen(KEYS.articles_stream) == 1
    assert storage.articles.posting.finish_stale(older_than_s=0).queued == 0


def test_an_id_posted_again_after_a_cut_claims_its_indexes_before_it_is_queued(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(id="given-1", source="a", text="Rail strike called off overnight. " * 5)
    _post_cut_before_its_indexes(storage, r, monkeypatch, article)
    again = storage.articles.add_article(article)
    assert again.existing and again.id == "given-1" and r.xlen(KEYS.articles_stream) == 1
    # The same text without the id is that article: the repost claimed the content index.
    same = storage.articles.add_article(ArticleIn(source="a", text=article.text))
    assert same.id == "given-1" and r.xlen(KEYS.articles_stream) == 1


def test_a_post_cut_between_its_two_index_claims_is_finished_by_the_next_post(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(source="a", text="Floods closed the coastal road. " * 5, url="https://x/3")
    posting = storage.articles.posting
    claim = posting._claim

    def url_only(indexes: list[str], article_id: str) -> list[str]:
        claim(indexes[:1], article_id)  # the URL's index, then the poster dies
        raise Crash

    monkeypatch.setattr(posting, "_claim", url_only)
    with pytest.raises(Crash):
        storage.articles.add_article(article)
    monkeypatch.undo()
    (cut,) = [raw.decode() for raw in r.zrange(KEYS.posts_unfinished, 0, -1)]
    again = storage.articles.add_article(article)  # the retry: no id, found by its URL
    assert again.existing and again.id == cut and r.xlen(KEYS.articles_stream) == 1
    # Its text, posted under another URL, is that article too: the retry claimed the rest.
    elsewhere = ArticleIn(source="a", text=article.text, url="https://y/elsewhere")
    assert storage.articles.add_article(elsewhere).id == cut
    assert r.zcard(KEYS.posts_unfinished) == 0


def test_two_posts_of_one_article_that_each_win_one_index_keep_exactly_one(
    r: redis.Redis,
) -> None:
    """On a cluster the URL index and the content index live on different nodes, so two posts
    of one article (a client retrying after a time-out) can each win one. The URL's holder is
    the article; the other yields to it. Before, each yielded to the other and both vanished."""
    storage = Storage(r, KEYS)
    posting = storage.articles.posting
    article = ArticleIn(source="a", text="The pier reopened after repairs. " * 5, url="https://x/4")
    fields = {"id": "a_late", "source": "a", "title": "", "url": article.url or "",
              "published_at": "", "received_at": f"{time.time():.3f}", "status": "queued",
              "text": article.text or "", "html": ""}
    posting._note_and_create("a_late", fields)  # the other post: stored ...
    content = KEYS.content_index(content_digest("a", fields["text"]))
    assert posting._claim([content], "a_late") == ["a_late"]  # ... and holds the content index
    first = storage.articles.add_article(article)  # wins the URL index
    assert not first.existing and first.id != "a_late"
    late = posting._finish("a_late", fields, "articles_accepted")  # sees the URL taken: yields
    assert late.existing and late.id == first.id
    assert not r.exists(KEYS.article("a_late")) and r.exists(KEYS.article(first.id))
    assert r.xlen(KEYS.articles_stream) == 1 and r.zcard(KEYS.posts_unfinished) == 0
    assert storage.articles.add_article(article).id == first.id
    elsewhere = ArticleIn(source="a", text=article.text, url="https://y/elsewhere")
    assert storage.articles.add_article(elsewhere).id == first.id  # it was handed the text's index


def test_a_worker_finishes_a_post_cut_short_and_places_its_article(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch, make_worker: Callable[..., Worker]
) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(
        source="coast-news",
        title="Ferry refloated after running aground off Brest",
        text=(
            "A passenger ferry that ran aground off Brest on Sunday was refloated at high tide on "
            "Monday, the French coastguard said. None of the 212 passengers was hurt.\n\n"
            "Tugs pulled the vessel clear shortly after 6 a.m. Divers found no breach in the hull, "
            "and the ferry sailed to port under its own power for an inspection."
        ),
    )
    cut = _post_cut_before_its_indexes(storage, r, monkeypatch, article)
    make_worker(post_grace_s=0.001).run(burst=True)
    record = storage.articles.record(cut)
    assert record is not None and record.status == "processed" and record.story_id
    assert storage.stories.story(record.story_id).article_count == 1


def test_an_index_whose_article_is_gone_is_taken_over(r: redis.Redis) -> None:
    storage = Storage(r, KEYS)
    article = ArticleIn(source="a", text="Words of a story, told once. " * 5, url="https://x/2")
    first = storage.articles.add_article(article)
    r.delete(KEYS.article(first.id))  # as if its poster died between the index and the hash
    second = storage.articles.add_article(article)
    assert not second.existing and second.id != first.id
    assert storage.articles.add_article(article).id == second.id


def test_a_placement_cut_after_the_story_took_the_article_is_finished_not_redone(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    r.hset(KEYS.article("a1"), mapping={"id": "a1", "source": "x", "status": "queued"})
    stories = storage.stories

    def crash(*_: Any) -> int:
        raise Crash

    monkeypatch.setattr(stories, "_index_and_join", crash)
    with pytest.raises(Crash):
        stories.commit_assignment("a1", "s1", _state("s1"), 100.0, 100.0, True, "Head")
    monkeypatch.undo()
    assert not r.hget(KEYS.article("a1"), "story_id")
    assert stories.finish_placements(["a1"]) == {"a1": "s1"}
    assert r.hget(KEYS.article("a1"), "story_id") == b"s1"
    assert r.zscore(KEYS.stories_active, "s1") == 100.0
    assert r.zscore(KEYS.stories_state_changed, "s1") is not None
    assert stories.finish_placements(["a1"]) == {}  # done: nothing more to finish
    # Cut before the story took it in: nothing to finish, it is placed afresh.
    r.hset(KEYS.article("a2"), mapping={"id": "a2", "placing": "s1"})
    assert stories.finish_placements(["a2"]) == {}


def _build(headline: str) -> Any:
    def build(members: list[MemberDoc]) -> Summary:
        return Summary(headline=headline)

    return build


def test_a_summary_stored_but_not_announced_is_announced_by_the_redelivery(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    r.hset(KEYS.article("a1"), mapping={"id": "a1", "source": "x", "status": "queued"})
    storage.stories.commit_assignment("a1", "s1", _state("s1"), 100.0, 100.0, True, "Head")

    def crash(*_: Any, **__: Any) -> int:
        raise Crash

    monkeypatch.setattr(storage.stories, "touch", crash)
    with pytest.raises(Crash):
        storage.stories.write_summary("s1", _build("One"))
    monkeypatch.undo()
    assert r.zscore(KEYS.stories_updated, "s1") is None  # stored, not announced
    assert storage.stories.write_summary("s1", _build("Two")) == []  # covered: not rebuilt
    assert r.zscore(KEYS.stories_updated, "s1") is not None
    assert r.hget(KEYS.story("s1"), "touched_version") == b"1"
    assert r.hget(KEYS.article("a1"), "status") == b"processed"
    assert r.xlen(KEYS.events_stream) == 1


def test_vectors_stored_by_a_job_cut_before_it_moved_the_story_still_get_summarised(
    r: redis.Redis,
) -> None:
    """Store.save_sentence_vectors writes an article's vectors, then moves its story's
    member_rev; a crash (or a Redis restart losing the last writes) between the two leaves a
    summary written before the vectors looking as if it covered the article. Its redelivered
    job finds the vectors there and embeds nothing: the summary must still take it in."""
    storage = Storage(r, KEYS)
    r.hset(KEYS.article("a1"), mapping={"id": "a1", "source": "x", "status": "queued"})
    lead_only = {"vector_rows": "2", "vector_target": "5"}
    r.hset(KEYS.article("a2"), mapping={"id": "a2", "source": "y", "status": "queued", **lead_only})
    for aid in ("a1", "a2"):
        storage.stories.commit_assignment(aid, "s1", _state("s1"), 100.0, 100.0, aid == "a1", "H")
    assert [m.article_id for m in storage.stories.write_summary("s1", _build("One"))] == ["a1"]
    r.hset(KEYS.article("a2"), "vector_rows", "5")  # the vectors, and the crash before the rev
    done = storage.stories.write_summary("s1", _build("Two"))  # a2's job, delivered again
    assert "a2" in [m.article_id for m in done]
    assert r.hget(KEYS.article("a2"), "status") == b"processed"
    assert storage.stories.write_summary("s1", _build("Three")) == []  # now covered for real
    assert r.hget(KEYS.story("s1"), "summary_version") == b"2"


def test_old_summary_versions_are_thinned_to_the_last_ones_and_one_a_day(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(r, KEYS)
    r.hset(KEYS.article("a1"), mapping={"id": "a1", "source": "x", "status": "queued"})
    storage.stories.commit_assignment("a1", "s1", _state("s1"), 100.0, 100.0, True, "Head")
    monkeypatch.setattr(stories_module, "KEEP_VERSIONS", 3)
    clock = [0.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    for i in range(10):  # versions 1-5 on day 0, 6-10 on day 1
        clock[0] = (i // 5) * 86_400.0 + i
        r.hincrby(KEYS.story("s1"), "member_rev", 1)
        storage.stories.write_summary("s1", _build(f"v{i + 1}"))
    kept, _ = storage.stories.versions("s1", None, 100)
    assert [v.version for v in kept] == [10, 9, 8, 5]  # the last 3, and day 0's last
    assert r.llen(KEYS.story_versions("s1")) == 10  # indexes (cursors) stay valid
