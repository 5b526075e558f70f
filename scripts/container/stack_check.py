"""The HTTP half of scripts/container-check.sh: checks against the running compose stack, through
the API port published on 127.0.0.1 only. Standard library only (runs with any python3).

    stack_check.py ready    PORT WORKERS              /readyz: Redis up, WORKERS live with the model
    stack_check.py seeds    PORT SEEDS_DIR SNAPSHOT   the seeds -> one story with five sources
    stack_check.py restart  PORT SNAPSHOT -- CMD...   articles in flight while CMD restarts Redis
    stack_check.py same     PORT SNAPSHOT             the stories are those SNAPSHOT recorded
    stack_check.py future   PORT SNAPSHOT             one article dated 100 days on: a new story

Each prints what it saw and exits 1 with the reason when a check fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class CheckFailed(Exception):
    pass


def say(msg: str) -> None:
    print(f"  stack_check: {msg}", flush=True)


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"  # loopback only

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        if status != 200:
            raise CheckFailed(f"GET {path}: HTTP {status}: {body}")
        return body

    def post_articles(self, articles: list[dict[str, str]]) -> list[str]:
        status, body = self.call("POST", "/articles", articles)
        if status not in (200, 201, 202):
            raise CheckFailed(f"POST /articles: HTTP {status}: {body}")
        return [a["id"] for a in body["articles"]]

    def states(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self.get(f"/articles/{i}") for i in ids}

    def stories(self) -> list[dict[str, Any]]:
        cards: list[dict[str, Any]] = self.get("/stories?limit=200")["stories"]
        return cards


class EmptyReport(str):
    """A falsy progress report: what a check still waits for."""

    def __bool__(self) -> bool:
        return False


def wait(what: str, check: Any, timeout_s: float, every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, CheckFailed, KeyError, ValueError) as exc:  # the stack is restarting
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    raise CheckFailed(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")


def wait_processed(api: Api, ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    def done() -> dict[str, dict[str, Any]] | EmptyReport:
        states = api.states(ids)
        waiting = {
            i: (s["status"], s.get("story_id"), s.get("duplicate_of"))
            for i, s in states.items()
            if s["status"] not in ("processed", "failed")
        }
        # A falsy answer keeps wait() polling; it names what is still waiting if time runs out.
        if waiting:
            return EmptyReport(f"{len(waiting)} waiting: {sorted(waiting.items())[:6]}")
        return states

    states: dict[str, dict[str, Any]] = wait(f"{len(ids)} articles processed", done, timeout_s)
    failed = {i: s.get("error") for i, s in states.items() if s["status"] != "processed"}
    if failed:
        raise CheckFailed(f"articles failed: {failed}")
    return states


def snapshot(api: Api) -> dict[str, Any]:
    """Every story with its members, for comparing before and after."""
    out = {}
    for card in api.stories():
        story = api.get(f"/stories/{card['id']}")
        out[card["id"]] = {
            "article_count": card["article_count"],
            "source_count": card["source_count"],
            "articles": sorted(a["id"] for a in story["articles"]),
        }
    return out


def generated(n: int) -> list[dict[str, str]]:
    events = [
        ("river flood", "Dresden", "the Elbe rose above nine metres and 3,000 residents left"),
        ("port strike", "Rotterdam", "dock workers stopped loading ships over a pay dispute"),
        ("wildfire", "Evia", "firefighters fought a blaze that burned 20,000 hectares"),
        ("rail outage", "Zurich", "a signal failure halted trains at the main station"),
    ]
    out = []
    for i in range(n):
        what, where, fact = events[i % len(events)]
        outlet = f"outlet-{i // len(events)}"
        text = " ".join(
            [
                f"In {where}, {fact}, officials said on Tuesday.",
                f"The {what} in {where} was the worst in a decade, local authorities said.",
                f"Reporters from {outlet} spoke with people affected by the {what}.",
                f"Officials in {where} promised an update on the {what} by Wednesday morning.",
            ]
        )
        out.append({"source": outlet, "title": f"{what.title()} in {where}", "text": text})
    return out


# -- the checks --------------------------------------------------------------------------------
def ready(api: Api, workers: int) -> None:
    def check() -> dict[str, Any] | None:
        _status, body = api.call("GET", "/readyz")
        ok = isinstance(body, dict) and body.get("redis") is True
        return body if ok and body["workers"]["model_loaded"] >= workers else None

    body = wait(f"/readyz: Redis and {workers} workers with the model", check, 300)
    say(f"/readyz: status={body['status']} workers={body['workers']['model_loaded']} with model")


def seeds(api: Api, folder: Path, snap: Path) -> None:
    articles = [
        {"source": p.stem, "text": p.read_text(encoding="utf-8")}
        for p in sorted(folder.glob("*.txt"))
    ]
    if len(articles) != 5:
        raise CheckFailed(f"expected the five seed articles in {folder}, found {len(articles)}")
    ids = api.post_articles(articles)
    states = wait_processed(api, ids, 300)
    story_ids = {s["story_id"] for s in states.values()}
    if len(story_ids) != 1 or None in story_ids:
        raise CheckFailed(f"the five seeds are in stories {story_ids}, not one")
    (story_id,) = story_ids
    card = next(c for c in api.stories() if c["id"] == story_id)
    if card["source_count"] != 5 or card["article_count"] != 5:
        raise CheckFailed(f"story {story_id}: {card}")
    say(f"seeds: 5 articles -> 1 story ({story_id}) with {card['source_count']} sources")
    snap.write_text(json.dumps(snapshot(api), indent=1))


def restart(api: Api, snap: Path, cmd: list[str]) -> None:
    """Articles accepted and not yet all processed when CMD restarts Redis: afterwards all are
    processed and every story from before is still there."""
    before = json.loads(snap.read_text())
    # Restarted right after the posts are accepted, before the workers can have finished them
    # (waiting to see some processed raced an idle machine, which finished between two polls).
    ids = api.post_articles(generated(80))
    done = sum(s["status"] == "processed" for s in api.states(ids).values())
    say(f"restart: {done}/{len(ids)} processed when Redis restarts: {' '.join(cmd)}")
    started = time.monotonic()
    subprocess.run(cmd, check=True)
    say(f"restart: Redis restarted in {time.monotonic() - started:.1f}s")
    wait_processed(api, ids, 300)
    after = snapshot(api)
    in_stories = {a for s in after.values() for a in s["articles"]}
    lost = [i for i in ids if i not in in_stories]
    if lost:
        raise CheckFailed(f"{len(lost)} articles in no story after the restart: {lost[:5]}")
    gone = [sid for sid in before if sid not in after]
    if gone:
        raise CheckFailed(f"stories gone after the restart: {gone}")
    for sid, story in before.items():
        if not set(story["articles"]) <= set(after[sid]["articles"]):
            raise CheckFailed(f"story {sid} lost articles: {story} -> {after[sid]}")
    total = sum(s["article_count"] for s in after.values())
    if total != len(ids) + 5:
        raise CheckFailed(f"{total} articles in stories, expected {len(ids) + 5}")
    say(f"restart: all {len(ids)} processed, {len(after)} stories, none lost")
    snap.write_text(json.dumps(after, indent=1))


def same(api: Api, snap: Path) -> None:
    before = json.loads(snap.read_text())
    after = snapshot(api)
    if after != before:
        raise CheckFailed(f"stories changed: before {before}, after {after}")
    n = sum(s["article_count"] for s in after.values())
    say(f"same: {len(after)} stories with {n} articles, as before")


def future(api: Api, snap: Path) -> None:
    """One unrelated article dated 100 days after now: it opens a story of its own, and every
    story before it is quiet for a day of story time (a date is believed at most a day past
    its arrival), past the check's STORYFOLD_HOT_DAYS of 0.5."""
    before = json.loads(snap.read_text())
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 100 * 86400))
    text = (
        "The city museum in Lisbon reopened its tile gallery after a two-year restoration. "
        "Curators said 1,200 glazed tiles from the 17th century were cleaned and rehung. "
        "Entry to the gallery is free on Sundays, the museum said."
    )
    ids = api.post_articles([{"source": "museum-desk", "text": text, "published_at": when}])
    states = wait_processed(api, ids, 300)
    story_id = states[ids[0]]["story_id"]
    if story_id in before:
        raise CheckFailed(f"the museum article joined an earlier story: {story_id}")
    after = snapshot(api)
    if {sid: after.get(sid) for sid in before} != before:
        raise CheckFailed(f"stories changed: before {before}, after {after}")
    say(f"future: an article dated {when} opened story {story_id}; {len(before)} stories before it")
    snap.write_text(json.dumps(after, indent=1))


def main(argv: list[str]) -> int:
    try:
        what, port = argv[0], int(argv[1])
        api = Api(port)
        if what == "ready":
            ready(api, int(argv[2]))
        elif what == "seeds":
            seeds(api, Path(argv[2]), Path(argv[3]))
        elif what == "restart":
            restart(api, Path(argv[2]), argv[argv.index("--") + 1 :])
        elif what == "same":
            same(api, Path(argv[2]))
        elif what == "future":
            future(api, Path(argv[2]))
        else:
            raise CheckFailed(f"unknown check {what!r}")
    except (CheckFailed, subprocess.CalledProcessError) as exc:
        print(f"  stack_check FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
