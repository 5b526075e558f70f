"""The web reader in a real browser: headless Chromium (Debian's package) driven by Playwright,
against a live server whose worker has folded the seeds into a story first.

Saves a screenshot of the seed story's page in the test's tmp folder; with
STORYFOLD_UPDATE_SCREENSHOT=1 also as docs/story.png (the one the README shows), so an ordinary run
leaves the working tree alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import live_server

from core.config import Settings
from service.app import create_app
from workers.runner import Worker

pytestmark = pytest.mark.slow  # a real browser (headless Chromium) against a live server

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Posted by the test: markup in every field a page shows. None of it may run.
HOSTILE = {
    "source": "<img src=x onerror=\"document.title='pwned'\">",
    "title": "<script>window.__pwned = 1; document.title = 'pwned'</script>Lighthouse reopens",
    "url": "https://example.org/lighthouse?<script>",
    "text": (
        "The old lighthouse on Gull Point reopened to visitors on Saturday after a two-year "
        "restoration. <script>window.__pwned = 1</script> Volunteers repainted the tower and "
        "restored the lamp room. The keeper's cottage now houses a small museum."
    ),
}


def _chromium() -> str:
    """Debian's chromium, installed here if missing (CI runs as root on a clean machine)."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get"):
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        for cmd in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        ):
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            if done.returncode != 0:
                print(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
                break
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed and apt-get could not install it")
    return CHROMIUM


@pytest.fixture
def browser_page() -> Iterator[Any]:
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    with (
        sync_api.sync_playwright() as pw,
        tempfile.TemporaryDirectory(prefix="chromium-") as profile,
    ):
        # A persistent context is how Playwright takes a fresh --user-data-dir of our choosing.
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=FLAGS,
            viewport={"width": 1100, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_reader_shows_the_seed_story_and_runs_no_article_markup(
    settings: Settings,
    make_worker: Callable[..., Worker],
    seeds: list[dict[str, str]],
    browser_page: Any,
    tmp_path: Path,
) -> None:
    page = browser_page
    with live_server(create_app(settings)) as base, httpx.Client(base_url=base) as api:
        ids = [api.post("/articles", json=s).json()["id"] for s in [*seeds, HOSTILE]]
        make_worker().run(burst=True)
        states = [api.get(f"/articles/{a}").json() for a in ids]
        assert all(s["status"] == "processed" for s in states), states
        seed_story, hostile_story = states[0]["story_id"], states[-1]["story_id"]
        story = api.get(f"/stories/{seed_story}").json()

        page.goto(base + "/")
        cards = page.locator("li.card")
        assert cards.count() == 2
        assert page.locator(f"li.card a[href='/stories/{seed_story}']").is_visible()
        assert (
            "5 sources"
            in cards.filter(has=page.locator(f"a[href='/stories/{seed_story}']")).inner_text()
        )

        page.goto(f"{base}/stories/{seed_story}")
        assert page.locator("h1").inner_text() == story["headline"]
        summary = story["summary"]
        # Every consensus sentence, each with its sources as links.
        consensus = page.locator("section.consensus > ul > li")
        assert consensus.count() == len(summary["consensus"]) > 0
        assert consensus.first.locator("span.cites a.src").count() == len(summary["consensus"][0]["sources"])
        # Each source's unique facts.
        for entry in (u for u in summary["unique"] if u["facts"]):
            block = page.locator("div.source-facts").filter(has_text=entry["source"])
            assert block.is_visible()
            assert entry["facts"][0]["text"] in block.inner_text()
        # The conflicts, their positions side by side.
        conflicts = page.locator("div.conflict")
        assert conflicts.count() == len(summary["conflicts"])
        for i, conflict in enumerate(summary["conflicts"]):
            sides = conflicts.nth(i).locator("div.side")
            assert sides.count() >= 2
            boxes = [sides.nth(j).bounding_box() for j in range(sides.count())]
            assert len({round(b["y"]) for b in boxes}) == 1  # one row
            assert boxes[0]["x"] < boxes[1]["x"]
            text = conflicts.nth(i).inner_text()
            assert all(c["value"] in text for c in conflict["claims"])
        # The seeds' own contradiction: one outlet says Monday, the others Tuesday.
        day = conflicts.filter(has_text="Monday").filter(has_text="Tuesday")
        assert day.count() == 1 and day.is_visible()
        values = day.locator("div.side p.value").all_inner_texts()
        monday = next(i for i, v in enumerate(values) if "Monday" in v)
        tuesday = next(i for i, v in enumerate(values) if "Tuesday" in v)
        assert monday != tuesday  # on opposite sides
        # The article list, and the version history.
        assert page.locator("section.articles li[id^='article-']").count() == 5
        assert page.locator("section.versions details").count() >= 1
        assert page.evaluate("window.__pwned") is None
        page.screenshot(path=str(tmp_path / "story.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'story.png'}")
        if os.environ.get("STORYFOLD_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(tmp_path / "story.png", DOCS / "story.png")

        # The hostile article: shown as text, never run.
        page.goto(f"{base}/stories/{hostile_story}")
        page.wait_for_load_state("load")
        assert page.evaluate("window.__pwned") is None
        assert page.title() != "pwned" and page.title().startswith("<script>")  # as text
        assert page.locator("img[src=x]").count() == 0
        assert "<script>" in page.locator("section.articles").inner_text()
        page.goto(base + "/")
        assert page.evaluate("window.__pwned") is None and page.title() != "pwned"
        assert "<script>" in page.locator("ol.cards").inner_text()

        # Live: news arriving while the feed is open brings up the reload banner.
        page.goto(base + "/")
        assert page.locator("#live").is_hidden()
        page.locator("main[data-live=open]").wait_for(state="attached")  # the stream is open
        follow_up = {
            "source": "coast-news",
            "title": "Lighthouse museum opens",
            "text": "A museum in the restored keeper's cottage at Gull Point opened on Sunday.",
        }
        assert api.post("/articles", json=follow_up).status_code == 202
        make_worker().run(burst=True)
        page.locator("#live").wait_for(state="visible", timeout=5000)


def test_story_page_lists_what_is_new_since_this_browsers_last_visit(
    settings: Settings, r: Any, browser_page: Any
) -> None:
    """The browser remembers the version it last showed; a later visit lists the outlets and facts
    added since (from /stories/{id}/changes), as text, and a reload with nothing newer shows none."""
    from newsroom import Newsroom

    news = Newsroom(r)
    sid = news.story("Ferry service resumes", ["Harbor Times"], fact="The ferry runs again.")
    page = browser_page
    with live_server(create_app(settings)) as base:
        page.goto(f"{base}/stories/{sid}")
        page.wait_for_load_state("load")
        assert page.locator("#since-visit").is_hidden()  # a first visit: nothing to compare
        assert page.evaluate(f"localStorage.getItem('storyfold:seen:{sid}')") == "1"

        news.facts[sid] = "The ferry runs again <b>twice a day</b> from Monday."
        news.add(sid, "Island Courier")
        page.goto(f"{base}/stories/{sid}")
        box = page.locator("#since-visit")
        box.wait_for(state="visible", timeout=5000)
        text = box.inner_text()
        assert "New since your last visit (version 1 → 2)" in text
        assert "New outlets: Island Courier" in text
        assert "New: The ferry runs again <b>twice a day</b> from Monday." in text  # as text
        assert box.locator("b").count() == 0
        assert page.evaluate(f"localStorage.getItem('storyfold:seen:{sid}')") == "2"

        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.locator("#since-visit").is_hidden()  # seen already
