"""The error kinds of issue #13 through the real worker (make_worker: int8 model, real Redis), with
texts written for this test: a follow-up angle of an event joins its story; a different event on
the same subject days later does not, nor one of the same kind the same day elsewhere; a site's
index page never joins a story and ends `failed` with a reason that says so, counted in the
metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import redis
from fastapi.testclient import TestClient

from core.config import Settings
from core.keys import Keys
from core.storage import Storage
from workers.assign.scoring import (
    LEAD_SENTENCES,
    ArticleSignal,
    AssignParams,
    choose_story,
    scores,
    start_story,
    threshold_for,
)
from workers.runner import Worker

LAUNCH = {
    "source": "wire-a",
    "published_at": "2025-03-04T06:00:00Z",
    "title": "North Korea fires ballistic missile into the Sea of Japan",
    "text": (
        "North Korea fired a ballistic missile from near Pyongyang early on Tuesday, the Japanese"
        " defence ministry and South Korea's military said.\n"
        "The missile flew about 1,200 kilometres before falling into the Sea of Japan outside"
        " Japan's exclusive economic zone, officials in Tokyo said.\n"
        "Japan's prime minister called the launch a clear violation of United Nations Security"
        " Council resolutions and said Tokyo had lodged a protest through its embassy in Beijing.\n"
        "South Korea's joint chiefs of staff said the missile was launched at 6:10 a.m. and that"
        " it was analysing the flight data with the United States."
    ),
}
# The next day, another outlet: the same launch told through the leader who watched it.
FOLLOW_UP = {
    "source": "paper-b",
    "published_at": "2025-03-05T08:00:00Z",
    "title": "Kim Jong Un oversaw missile launch, North Korean state media says",
    "text": (
        "North Korean leader Kim Jong Un personally oversaw Tuesday's ballistic missile launch"
        " into the Sea of Japan, the state news agency KCNA reported on Wednesday.\n"
        "KCNA said the missile, fired from near Pyongyang, flew 1,200 kilometres and tested a new"
        " engine, and that Kim called the launch a warning to the United States and Japan.\n"
        "Japan and South Korea had condemned the launch as a violation of Security Council"
        " resolutions."
    ),
}
# Five days later, the same subject (the two Koreas), a different event: an offer of talks.
TALKS = {
    "source": "wire-c",
    "published_at": "2025-03-09T09:00:00Z",
    "title": "South Korea offers military talks with the North at Panmunjom",
    "text": (
        "South Korea on Sunday proposed military talks with North Korea at the border village of"
        " Panmunjom, its first such offer in more than a year.\n"
        "The unification ministry in Seoul said it hoped the talks, proposed for next Thursday,"
        " would ease tension along the heavily fortified border.\n"
        "A ministry spokesperson said a separate proposal for Red Cross talks on reuniting"
        " families separated by the 1950-53 Korean War was also on the table.\n"
        "There was no immediate response from Pyongyang."
    ),
}
INDEX_PAGE = {
    "source": "example-times",
    "published_at": "2025-03-04T10:00:00Z",
    "title": "World news – The Example Times",
    "text": "\n".join(
        f"{headline}\n{when} ago"
        for headline, when in (
            ("North Korea fires ballistic missile into the Sea of Japan", "2 hours"),
            ("Japan lodges protest over missile launch", "3 hours"),
            ("Floods close schools across northern Italy", "4 hours"),
            ("Minister resigns over expenses row", "5 hours"),
            ("Rail strike called off after late-night talks", "6 hours"),
            ("Central bank holds interest rates for a third month", "7 hours"),
        )
    ),
}


# Two earthquakes the same morning, half a world apart, told the same way: the model scores the
# second 0.526 against the first (over the 0.5 bar); they name no place or company in common,
# which costs it name_penalty (0.05).
JAPAN_QUAKE = {
    "source": "wire-a",
    "published_at": "2025-06-03T05:00:00Z",
    "title": "Strong earthquake shakes northern Japan, buildings damaged in Hakodate",
    "text": (
        "A magnitude 6.4 earthquake struck off the coast of Hokkaido early on Tuesday, damaging"
        " buildings in the port city of Hakodate, Japan's meteorological agency said.\n"
        "The quake hit at 4:12 a.m. at a depth of 40 kilometres, and a tsunami advisory for the"
        " Hokkaido coast was lifted two hours later.\n"
        "Fire officials in Hakodate said eleven people were treated for minor injuries, most of"
        " them cut by broken glass.\n"
        "The operator of the Tomari nuclear plant said it had found no irregularities at the site."
    ),
}
PERU_QUAKE = {
    "source": "paper-b",
    "published_at": "2025-06-03T11:00:00Z",
    "title": "Earthquake hits southern Peru, adobe homes collapse near Arequipa",
    "text": (
        "A magnitude 6.2 earthquake struck southern Peru on Tuesday morning, collapsing dozens of"
        " adobe homes in villages near Arequipa, the national emergency institute said.\n"
        "Landslides blocked several roads into the Colca valley.\n"
        "Regional officials said fourteen people were treated for injuries, most of them hit by"
        " falling debris.\n"
        "The mining company Cerro Verde said its copper output would not be affected."
    ),
}
# The same day, another outlet on the Japanese quake, from another angle.
HAKODATE = {
    "source": "paper-c",
    "published_at": "2025-06-03T12:00:00Z",
    "title": "Hakodate residents clear debris after Hokkaido quake",
    "text": (
        "Residents of Hakodate spent Tuesday clearing broken glass and fallen roof tiles after a"
        " magnitude 6.4 earthquake shook Hokkaido before dawn.\n"
        "The city opened three shelters for people whose homes were judged unsafe, and schools"
        " stayed closed for the day.\n"
        "Railway services between Hakodate and Sapporo resumed in the afternoon after inspections"
        " of the track."
    ),
}


def post(client: TestClient, article: dict[str, str]) -> str:
    response = client.post("/articles", json=article)
    assert response.status_code in (200, 201, 202), response.text
    return str(response.json()["id"])


def state(client: TestClient, article_id: str) -> dict[str, object]:
    body: dict[str, object] = client.get(f"/articles/{article_id}").json()
    return body


def test_follow_up_joins_and_a_later_same_subject_event_does_not(
    client: TestClient, make_worker: Callable[..., Worker]
) -> None:
    ids = [post(client, a) for a in (LAUNCH, FOLLOW_UP, TALKS)]
    make_worker("w1").run(burst=True)
    launch, follow_up, talks = (state(client, i) for i in ids)
    assert launch["story_id"] and launch["story_id"] == follow_up["story_id"]
    assert talks["story_id"] and talks["story_id"] != launch["story_id"]


def stored_signal(storage: Storage, article_id: str) -> ArticleSignal:
    """The article as placement saw it: its stored vector, headline and lead (what a repair
    rebuilds a story from)."""
    (row,) = storage.repairs.signal_rows([article_id], LEAD_SENTENCES)
    (vector,) = storage.articles.article_vectors([article_id])
    return ArticleSignal(vector, row.ts, row.title, row.lead)


def test_a_same_kind_event_elsewhere_the_same_day_starts_its_own_story(
    client: TestClient, make_worker: Callable[..., Worker], r: redis.Redis, settings: Settings
) -> None:
    ids = [post(client, a) for a in (JAPAN_QUAKE, PERU_QUAKE, HAKODATE)]
    make_worker("w1").run(burst=True)
    japan, peru, hakodate = (state(client, i) for i in ids)
    assert japan["story_id"] and japan["story_id"] == hakodate["story_id"]
    assert peru["story_id"] and peru["story_id"] != japan["story_id"]
    # The model alone would have merged them: it is the name check that keeps them apart.
    storage = Storage(r, Keys(settings.key_prefix))
    japan_sig, peru_sig = (stored_signal(storage, i) for i in ids[:2])
    story = start_story("japan", japan_sig)
    unchecked = replace(AssignParams(), name_penalty=0.0)
    assert scores(peru_sig, [story], unchecked)[0] >= threshold_for(peru_sig, unchecked)
    assert choose_story(peru_sig, [story], unchecked) == "japan"
    assert choose_story(peru_sig, [story], AssignParams()) is None


def test_index_page_fails_with_its_reason_and_is_counted(
    client: TestClient, make_worker: Callable[..., Worker]
) -> None:
    launch = post(client, LAUNCH)
    page = post(client, INDEX_PAGE)
    make_worker("w1").run(burst=True)
    got = state(client, page)
    assert got["status"] == "failed"
    assert "not an article: index or navigation page" in str(got.get("reason"))
    assert not got.get("story_id")
    assert state(client, launch)["story_id"]  # the report itself is placed as usual
    metrics = client.get("/metrics").text
    assert "storyfold_articles_failed_total 1.0" in metrics
