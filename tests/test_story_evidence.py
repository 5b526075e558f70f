"""The error kinds of issue #13 through the real worker (make_worker: int8 model, real Redis), with
texts written for this test: a follow-up angle of an event joins its story; a different event on
the same subject days later does not; a site's index page never joins a story and ends `failed`
with a reason that says so, counted in the metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

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
