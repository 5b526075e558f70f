"""The CLI's client commands: they talk to a running storyfold over HTTP (no Redis, no model).

Exit status (docs/cli.md): 0 done; 1 the API refused or failed something (an error answer, a
rejected or failed article, a wait that ran out); 2 a usage problem or an API that could not be
reached. Messages for people go to stderr, results to stdout; an HTTP failure is one line there,
never a traceback.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from storyfold import ingest as ingest_module
from storyfold.ingest import (
    FINAL,
    LOST,
    IngestReport,
    iter_files,
    post_all,
    problem_text,
    read_articles,
    wait_processed,
)

console = Console(stderr=True, soft_wrap=True, highlight=False)  # a message stays one line
out = Console(soft_wrap=True, highlight=False)

SHOWN = 20  # rejections and failures listed; the rest are counted
MERGE_HOPS = 5  # `story` follows merged_into this far (a merge of a merge...)


def check_api(url: str) -> str:
    """--api must be an absolute http(s) URL; a trailing slash is dropped (paths are added)."""
    parts = urllib.parse.urlsplit(url)
    try:
        httpx.URL(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except (httpx.InvalidURL, ValueError):
        valid = False
    if not valid:
        raise typer.BadParameter(f"{url!r} is not an http(s) URL such as http://127.0.0.1:8000")
    return url.rstrip("/")


ApiOpt = Annotated[
    str,
    typer.Option(
        "--api", envvar="STORYFOLD_API", callback=check_api, help="Base URL of a storyfold API"
    ),
]
KeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="STORYFOLD_API_KEY", help="Bearer key")
]


def fail(message: str, code: int) -> NoReturn:
    console.print(message, style="red", markup=False)  # no markup: the text holds user data
    raise typer.Exit(code)


def key_hint(status: int | None, api_key: str | None) -> str:
    """What to do about a 401/403, in this command's terms rather than HTTP's."""
    if status not in (401, 403):
        return ""
    if api_key:
        return " (the key from --api-key / STORYFOLD_API_KEY was not accepted)"
    return "; pass --api-key KEY or set STORYFOLD_API_KEY"


@contextmanager
def api_client(api_url: str, api_key: str | None, timeout: float = 30) -> Iterator[httpx.Client]:
    """A client for the API. A connection that fails (refused, timed out, dropped) ends the
    command with one line and exit status 2."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(base_url=api_url, timeout=timeout, headers=headers) as client:
            yield client
    except httpx.TransportError as exc:
        fail(f"cannot reach {api_url}: {str(exc) or type(exc).__name__}. {_RUNNING}", 2)


_RUNNING = "Is `storyfold serve` running?"


def answer(resp: httpx.Response, api_key: str | None, ok: tuple[int, ...] = (200,)) -> Any:
    """The JSON of an expected answer; anything else ends the command with one line (exit 1):
    the status and the problem's detail, or the first line of a body that is not JSON."""
    if resp.status_code not in ok:
        fail(problem_text(resp) + key_hint(resp.status_code, api_key), 1)
    try:
        return resp.json()
    except ValueError:
        fail(f"HTTP {resp.status_code} from {resp.url} is not JSON: is --api a storyfold?", 1)


@contextmanager
def expected_shape(api_url: str) -> Iterator[None]:
    """A 200 whose JSON lacks what a storyfold sends (--api points at something else)."""
    try:
        yield
    except (KeyError, TypeError, AttributeError) as exc:
        fail(f"{api_url} did not answer as a storyfold API does (missing {exc})", 1)


def print_story(story: dict, base: str) -> None:  # type: ignore[type-arg]
    from core.summary import Summary
    from workers.summarize.render import render_text

    out.print(
        f"{story['headline']}  ({story['article_count']} articles, "
        f"{story['source_count']} sources)",
        markup=False,
        style="bold",
    )
    out.print("sources: " + ", ".join(sorted({a["source"] for a in story["articles"]})))
    if story.get("summary"):
        out.print(render_text(Summary.from_dict(story["summary"])), markup=False, highlight=False)
    out.print(f"open: {base}/stories/{_quoted(story['id'])}\n", markup=False)


def _quoted(story_id: str) -> str:
    return urllib.parse.quote(story_id, safe="")  # `../sources` is an id, not a path


def _progress() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=console)


def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help=".txt, .json, .jsonl files or folders", exists=True)
    ],
    api_url: ApiOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
    wait: Annotated[
        bool, typer.Option(help="Then wait until every article is processed or failed")
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option(min=0, help="With --wait: give up after this many seconds")
    ] = 3600,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Articles per request")] = 100,
) -> None:
    """Post article files to a running storyfold."""
    try:
        items = [x for f in iter_files(paths) for x in read_articles(f)]
    except ValueError as exc:  # a path that is not an article file
        fail(str(exc), 2)
    if not items:
        console.print("no .txt, .json or .jsonl articles found", style="yellow", markup=False)
    with api_client(api_url, api_key, timeout=60) as client:
        with _progress() as progress:
            task = progress.add_task("posting", total=len(items))
            note = partial(progress.console.print, markup=False, style="yellow")
            retry = replace(ingest_module.RETRY, note=note)
            report = post_all(client, items, batch, lambda n: progress.advance(task, n), retry)
        code = _print_posted(report, api_url, api_key)
        if wait and report.ids and not report.stopped:
            code = max(code, _wait(client, report, api_url, wait_timeout))
    if code:
        raise typer.Exit(code)


def _print_posted(report: IngestReport, api_url: str, api_key: str | None) -> int:
    """The posting summary (stdout) and why it stopped (stderr); the exit status it calls for."""
    out.print(
        f"accepted {len(report.accepted)}, already stored {len(report.existing)}, "
        f"rejected {len(report.rejected)}" + (f", not posted {report.unsent}" if report.unsent else "")
    )
    _print_some(f"  rejected {where}: {why}" for where, why in report.rejected)
    stop = report.stopped
    if stop is None:
        return 1 if report.rejected else 0
    if stop.status is None:
        console.print(f"cannot reach {api_url}: {stop.reason}. {_RUNNING}", style="red", markup=False)
    else:
        why = stop.reason + key_hint(stop.status, api_key)
        console.print(f"stopped at {stop.where}: {why}", style="red", markup=False)
    if report.ids or report.rejected:
        # The user does not otherwise know that a rerun is safe.
        console.print("posting is idempotent: run the same command again to post the rest")
    return 2 if stop.status is None else 1


def _print_some(lines: Iterable[str]) -> None:
    listed = list(lines)
    for line in listed[:SHOWN]:
        out.print(line, markup=False)
    if len(listed) > SHOWN:
        out.print(f"  … and {len(listed) - SHOWN} more", markup=False)


def _wait(client: httpx.Client, report: IngestReport, api_url: str, timeout_s: float) -> int:
    """Wait for the posted articles, then say how many were processed, which failed and why,
    and how many are still waiting; 1 if any failed or is still waiting."""
    lost = ""
    state: dict[str, dict[str, Any]] = {}
    with _progress() as progress:
        task = progress.add_task("processing", total=len(report.ids))
        try:
            state = wait_processed(
                client, report.ids, timeout_s, lambda n: progress.advance(task, n)
            )
        except httpx.TransportError as exc:
            lost = str(exc) or type(exc).__name__
    if lost:  # said once the progress bar is done with the terminal
        fail(f"lost {api_url} while waiting ({lost}); the articles above were posted", 2)
    failed = [a for a in report.ids if state.get(a, {}).get("status") in ("failed", LOST)]
    waiting = [a for a in report.ids if state.get(a, {}).get("status") not in (*FINAL, LOST)]
    processed = len(report.ids) - len(failed) - len(waiting)
    out.print(
        f"processed {processed}, failed {len(failed)}"
        + (f", still waiting {len(waiting)}" if waiting else "")
    )
    _print_some(
        f"  failed {report.where.get(a, '?')} ({a}): {state[a].get('reason') or 'no reason given'}"
        for a in failed
    )
    if waiting:
        console.print(
            f"timed out after {timeout_s:g} s: {len(waiting)} article(s) not processed yet; "
            "they stay queued (GET /articles/ID says how each is doing)",
            style="red",
        )
    return 1 if failed or waiting else 0


def story(
    story_id: Annotated[str, typer.Argument(help="The story's id (s_...)")],
    api_url: ApiOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
) -> None:
    """Print a story's summary as readable text (a merged story: the one it was merged into)."""
    with api_client(api_url, api_key) as client, expected_shape(api_url):
        body = answer(client.get(f"/stories/{_quoted(story_id)}"), api_key)
        for _ in range(MERGE_HOPS):
            if not body.get("merged_into"):
                break
            console.print(f"{body['id']} was merged into {body['merged_into']}", markup=False)
            body = answer(client.get(f"/stories/{_quoted(body['merged_into'])}"), api_key)
        print_story(body, api_url)


def follow(
    url: Annotated[str, typer.Argument(help="An RSS, Atom or JSON Feed URL")],
    name: Annotated[str | None, typer.Option(help="Source name of its articles")] = None,
    poll_seconds: Annotated[int | None, typer.Option(min=1, help="Seconds between polls")] = None,
    api_url: ApiOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
) -> None:
    """Follow a feed: the workers poll it and fold its new entries into stories."""
    body = {k: v for k, v in {"url": url, "name": name, "poll_seconds": poll_seconds}.items() if v}
    with api_client(api_url, api_key) as client, expected_shape(api_url):
        resp = client.post("/sources", json=body)
        src = answer(resp, api_key, ok=(200, 201))
        verb = "already following" if resp.status_code == 200 else "following"
        out.print(
            f"{verb} {src['url']} as {src['id']} (every {src['poll_seconds']} s)", markup=False
        )


def sources(api_url: ApiOpt = "http://127.0.0.1:8000", api_key: KeyOpt = None) -> None:
    """The followed feeds and how their last poll went."""
    with api_client(api_url, api_key) as client, expected_shape(api_url):
        found = answer(client.get("/sources"), api_key)["sources"]
        if not found:
            console.print("no feeds followed (storyfold follow URL adds one)", markup=False)
        for src in found:
            _print_source(src)


def _print_source(src: dict[str, Any]) -> None:
    outcome = src["last_outcome"] or "not polled yet"
    status = f" HTTP {src['last_status']}" if src["last_status"] else ""
    out.print(
        f"{src['id']}  {src['name'] or '-'}  {src['url']}\n"
        f"    {outcome}{status}; seen {src['items_seen']}, new {src['items_new']}, "
        f"failed {src['items_failed']}; next poll {src['next_poll_at']}"
        + (f"\n    error: {src['last_error']}" if src["last_error"] else ""),
        markup=False,
    )


def register(app: typer.Typer) -> None:
    for command in (ingest, story, follow, sources):
        app.command()(command)
