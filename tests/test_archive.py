"""The hot window: a quiet story's heavy keys move to the archive on disk, every read answers as
before, an article joining it brings it back with its id and history, and a move cut short by a
crash loses nothing (core.storage.cold, workers.cold_pass)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from newsroom import T0, Newsroom

from core.config import Settings
from core.keys import Keys
from core.records import ArticleIn
from core.storage import Storage
from core.storage.archive_files import ArchiveFiles
from service.app import create_app
from workers.cold_pass import ColdPass
from workers.runner import Worker

KEYS = Keys()


@pytest.fixture
def cold(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"archive_dir": tmp_path / "archive", "hot_days": 30.0})


def storage_for(r: redis.Redis, s: Settings) -> Storage:
    return Storage(r, Keys(s.key_prefix), s.events_retention, s.archive)


def members(r: redis.Redis, story_id: str) -> list[str]:
    return [m.decode() for m in r.zrange(KEYS.story_articles(story_id), 0, -1)]


def heavy(r: redis.Redis, story_id: str) -> dict[str, Any]:
    """Every key that moves to the archive, with its value as Redis holds it."""
    out: dict[str, Any] = {
        "summary": r.get(KEYS.story_summary(story_id)),
        "versions": r.lrange(KEYS.story_versions(story_id), 0, -1),
        "days": r.lrange(KEYS.story_version_days(story_id), 0, -1),
    }
    for aid in members(r, story_id):
        for name in ("sentences", "vectors", "vector"):
            key = getattr(KEYS, f"article_{name}")(aid)
            out[key] = r.get(key)
    return out


def old_story(r: redis.Redis) -> tuple[Newsroom, str, str]:
    """A story of two outlets and two summary versions, quiet for 40 days before another one."""
    news = Newsroom(r)
    old = news.story("Dam gives way", ["Valley Post"], fact="The dam gave way.", published=T0)
    news.facts[old] = "The dam above Millbrook gave way on Tuesday."
    news.add(old, "Ridge Courier", T0 + timedelta(hours=1))
    rng = np.random.default_rng(3)
    for aid in members(r, old):  # what the worker stores for each article
        r.set(KEYS.article_sentences(aid), json.dumps([f"Sentence of {aid}.", "Another one."]))
        r.set(KEYS.article_vectors(aid), rng.integers(0, 255, 2 * 388, dtype=np.uint8).tobytes())
        r.set(KEYS.article_vector(aid), rng.random(384, dtype=np.float32).tobytes())
    new = news.story("Ferry resumes", ["Harbor Times"], published=T0 + timedelta(days=40))
    return news, old, new


def reads(client: TestClient, story_id: str) -> dict[str, Any]:
    page = client.get(f"/stories/{story_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    return {
        "story": client.get(f"/stories/{story_id}").json(),
        "versions": client.get(f"/stories/{story_id}/versions").json(),
        "changes": client.get(f"/stories/{story_id}/changes?since=1").json(),
        "page has the fact": "The dam above Millbrook gave way on Tuesday." in page.text,
        "listed": story_id in {s["id"] for s in client.get("/stories").json()["stories"]},
        # words of its summary, not of its headline: search reads the summary, archived or not
        "found": [s["id"] for s in client.get("/stories?q=millbrook tuesday").json()["stories"]],
    }


def test_a_quiet_story_moves_to_disk_reads_the_same_and_comes_back(
    r: redis.Redis, cold: Settings
) -> None:
    _, old, new = old_story(r)
    before = heavy(r, old)
    assert before["summary"] and len(before["versions"]) == 2
    storage = storage_for(r, cold)
    with TestClient(create_app(cold)) as client:
        seen = reads(client, old)
        assert seen["page has the fact"] and seen["listed"]
        assert ColdPass(storage, cold).run() == 1  # the old story; the new one is hot

        assert r.hget(KEYS.story(old), "cold_at") and not r.hget(KEYS.story(new), "cold_at")
        assert all(not v for v in heavy(r, old).values())  # out of Redis ...
        assert ArchiveFiles(cold.archive_dir or Path()).path(old).is_file()  # ... onto disk
        assert members(r, old) and r.exists(KEYS.article(members(r, old)[0]))  # these stay
        assert reads(client, old) == seen  # every read answers as before
        assert ColdPass(storage, cold).run() == 0  # nothing more is due

        assert storage.cold is not None
        with storage.stories.locks.story(old):
            assert storage.cold.revive(old)
        assert heavy(r, old) == before  # exactly what was there
        assert not r.hget(KEYS.story(old), "cold_at")
        assert reads(client, old) == seen


def test_a_move_cut_short_is_finished_and_a_failed_write_moves_nothing(
    r: redis.Redis, cold: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, old, _ = old_story(r)
    before = heavy(r, old)
    storage = storage_for(r, cold)
    assert storage.cold is not None

    # The archive cannot be written (a full disk): nothing is deleted, the story stays hot.
    def full(*_: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ArchiveFiles, "write", full)
    assert ColdPass(storage, cold).run_if_due() == 0
    monkeypatch.undo()
    assert heavy(r, old) == before and not r.hget(KEYS.story(old), "cold_at")

    # The worker dies after the story went cold, before its keys were deleted.
    real_delete = type(storage.cold)._delete_heavy

    def die(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # stands for the process being killed here

    monkeypatch.setattr(type(storage.cold), "_delete_heavy", die)
    with pytest.raises(KeyboardInterrupt):
        ColdPass(storage, cold).run()
    monkeypatch.setattr(type(storage.cold), "_delete_heavy", real_delete)
    r.delete(KEYS.cold_lock)  # its lease runs out
    with TestClient(create_app(cold)) as client:
        assert client.get(f"/stories/{old}").json()["summary"]  # read from the file already
    assert any(heavy(r, old).values())  # left behind ...
    ColdPass(storage, cold).run()
    assert not any(heavy(r, old).values())  # ... and finished by the next pass
    with storage.stories.locks.story(old):
        storage.cold.revive(old)
    assert heavy(r, old) == before


def test_an_api_without_the_archive_folder_says_so(r: redis.Redis, cold: Settings) -> None:
    _, old, _ = old_story(r)
    ColdPass(storage_for(r, cold), cold).run()
    elsewhere = cold.model_copy(update={"archive_dir": cold.data_dir / "not-the-archive"})
    with TestClient(create_app(elsewhere)) as client:
        resp = client.get(f"/stories/{old}")
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "STORYFOLD_ARCHIVE_DIR" in resp.json()["detail"]


def test_seeds_story_archived_then_joined_by_a_new_article_keeps_its_id_and_history(
    r: redis.Redis,
    cold: Settings,
    seeds: list[dict[str, str]],
    make_worker: Callable[..., Worker],
) -> None:
    """Through the real worker: the seeds fold into a story, 40 days of other news pass, the
    story goes to disk; a follow-up report joins it, and it is back with every version."""
    worker = make_worker(**{"archive_dir": cold.archive_dir, "hot_days": 30.0})
    storage = storage_for(r, cold)
    dated = [{**s, "published_at": "2025-07-01T12:00:00Z"} for s in seeds]
    posted = [storage.articles.add_article(ArticleIn(**s)).id for s in dated]
    worker.run(burst=True)
    story_id = storage.articles.article(posted[0]).story_id
    assert story_id and {storage.articles.article(a).story_id for a in posted} == {story_id}
    versions = storage.stories.story(story_id).summary_version
    later = {
        "source": "harbor-times",
        "title": "Wildfire near the coast forces evacuations",
        "text": "A wildfire forced hundreds of residents near the coast to leave their homes on "
        "Saturday, fire officials said. Crews were working through the night.",
        "published_at": "2025-08-20T10:00:00Z",
    }
    storage.articles.add_article(ArticleIn(**later))
    worker.run(burst=True)
    assert ColdPass(storage, cold).run() == 1
    assert storage.stories.is_cold(story_id)
    assert not r.exists(KEYS.article_sentences(posted[0]))

    follow_up = {
        "source": "late-wire",
        "title": "Kremlin: no new Putin-Macron phone call planned",
        "text": "The Kremlin said on Thursday there were no plans for another phone conversation "
        "between Russian President Vladimir Putin and French President Emmanuel Macron, weeks "
        "after their two-hour call on the war in Ukraine and Iran's nuclear programme. Kremlin "
        "spokesman Dmitry Peskov said the July call, their first direct contact since September "
        "2022, had been useful. The Elysee Palace said Macron remained ready to speak to Putin "
        "about a ceasefire in Ukraine.",
        "published_at": "2025-08-21T09:00:00Z",
    }
    joined = storage.articles.add_article(ArticleIn(**follow_up)).id
    worker.run(burst=True)
    assert storage.articles.article(joined).story_id == story_id  # the same story, by its id
    assert not storage.stories.is_cold(story_id)
    story = storage.stories.story(story_id)
    assert story.summary_version == versions + 1  # its history kept, one version more
    assert len(storage.stories.versions(story_id, None, 100)[0]) == versions + 1
    assert r.exists(KEYS.article_sentences(posted[0]))  # its articles' sentences are back
    assert story.source_count == 6


def test_a_story_whose_summary_is_behind_stays_hot_and_holds_up_no_other(
    r: redis.Redis, cold: Settings
) -> None:
    """A story whose summary job has not run yet is passed over, not waited for (and the pass
    ends: it once looped on it); a later pass moves it once its summary covers every member."""
    news, old, _ = old_story(r)
    behind = news.story("Bridge closes", ["Ridge Courier"], published=T0 + timedelta(hours=2))
    news.add(behind, "Valley Post", T0 + timedelta(hours=3), summarise=False)  # job to come
    later = news.story("Storm warning", ["Harbor Times"], published=T0 + timedelta(hours=4))
    passes = ColdPass(storage_for(r, cold), cold)
    assert passes.run() == 2  # the story before it and the one after it both move
    assert r.hget(KEYS.story(old), "cold_at") and r.hget(KEYS.story(later), "cold_at")
    assert not r.hget(KEYS.story(behind), "cold_at") and r.exists(KEYS.story_summary(behind))
    assert passes.run() == 0  # still behind: still hot, and the pass ends

    news.summarise(behind, news.headline(behind))  # its summary catches up
    assert passes.run() == 1
    assert r.hget(KEYS.story(behind), "cold_at") and not r.exists(KEYS.story_summary(behind))
    assert not r.zrange(KEYS.cold_deferred, 0, -1)


def test_an_empty_archive_setting_means_no_archive_not_the_working_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docker-compose passes `STORYFOLD_ARCHIVE_DIR=` through as an empty string.
    monkeypatch.setenv("STORYFOLD_ARCHIVE_DIR", "")
    monkeypatch.setenv("STORYFOLD_REDIS_URL", "redis://127.0.0.1:1/0")
    assert Settings(_env_file=None).archive is None
    monkeypatch.setenv("STORYFOLD_ARCHIVE_DIR", "/srv/archive")
    assert Settings(_env_file=None).archive == Path("/srv/archive")


def test_an_article_dated_far_in_the_future_does_not_move_story_time(
    client: TestClient,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    tmp_path: Path,
) -> None:
    """A CMS placeholder date (2200-01-01) counted as the newest story time: the next cold pass
    archived every live story and the repair window held only that article's story."""
    worker = make_worker(archive_dir=tmp_path / "archive")
    posted = client.post("/articles", json=seeds).json()["articles"]
    worker.run(burst=True)
    (story,) = {client.get(f"/articles/{a['id']}").json()["story_id"] for a in posted}
    placeholder = {
        "source": "typo-desk",
        "title": "Council approves new bus lanes on the ring road",
        "published_at": "2200-01-01T00:00:00Z",
        "text": "The city council voted on Tuesday to add bus lanes along the ring road, a plan "
        "opponents say will worsen congestion. The work is due to start next spring.",
    }
    assert client.post("/articles", json=placeholder).status_code == 202
    worker.run(burst=True)
    assert worker.cold_pass.run() == 0  # nothing live is quiet
    window = worker.storage.repairs.window(worker.ops.params.window_s)
    assert story in {a.story_id for a in window}
    assert client.get(f"/stories/{story}").json()["summary"]["consensus"]


def test_a_repair_whose_window_reaches_an_archived_story_leaves_it_and_runs(
    client: TestClient,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    tmp_path: Path,
) -> None:
    """HOT_DAYS shorter than the story window puts archived stories (no vectors in Redis) in the
    repair's window: the repair raised on them, out of the placement loop, on every restart."""
    match = {"archive_dir": tmp_path / "archive", "hot_days": 1.0}
    worker = make_worker(**match, repair_every=10_000)
    old = [dict(s, published_at="2026-01-01T10:00:00Z") for s in seeds]
    later = {
        "source": "sports-desk",
        "title": "Late header sends Rovers top of the league",
        "published_at": "2026-01-03T10:00:00Z",
        "text": "Bristol Rovers beat Exeter City 2-1 on Saturday, with Tom Hale heading the winner "
        "in the 89th minute. The result lifts Rovers to the top of League One.",
    }
    client.post("/articles", json=[*old, later])
    worker.run(burst=True)
    assert worker.cold_pass.run() == 1  # the seeds' story
    news = dict(later, source="wire", published_at="2026-01-03T12:00:00Z",
                text=later["text"] + " The crowd of 9,400 cheered the late winner.")
    posted = client.post("/articles", json=news).json()["id"]
    make_worker("w2", **match, repair_every=1).run(burst=True)  # repairs: must not raise
    assert client.get(f"/articles/{posted}").json()["status"] == "processed"


def test_a_story_brought_back_by_a_late_dated_article_goes_back_to_the_archive(
    r: redis.Redis, cold: Settings
) -> None:
    """A feed item dated back in the archived story's days revives it; the cold pass's cursor
    had gone past that time, so the story stayed in Redis for good."""
    news, old, _ = old_story(r)
    news.story("Ferry timetable cut", ["Harbor Times"], published=T0 + timedelta(days=2))
    storage = storage_for(r, cold)
    passes = ColdPass(storage, cold)
    assert passes.run() == 2  # the cursor is now at the later of the two
    assert storage.cold is not None
    with storage.stories.locks.story(old):  # what a joining article does first
        assert storage.cold.revive(old)
    assert not r.hget(KEYS.story(old), "cold_at")
    assert passes.run() == 1  # still quiet: archived again
    assert r.hget(KEYS.story(old), "cold_at")
