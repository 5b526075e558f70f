"""The CLI's client commands: they talk to a running storyfold over HTTP (no Redis, no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from storyfold.ingest import iter_files, post_all, read_articles, wait_processed

console = Console(stderr=True)
out = Console(soft_wrap=True, highlight=False)

ApiOpt = Annotated[
    str, typer.Option("--api", envvar="STORYFOLD_API", help="Base URL of a storyfold API")
]
KeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="STORYFOLD_API_KEY", help="Bearer key")
]


def print_story(story: dict, base: str) -> None:  # type: ignore[type-arg]
    from core.summary import Summary
    from workers.summarize.render import render_text

    out.print(
        f"[bold]{story['headline']}[/]  ({story['article_count']} articles, "
        f"{story['source_count']} sources)"
    )
    out.print("sources: " + ", ".join(sorted({a["source"] for a in story["articles"]})))
    if story.get("summary"):
        out.print(render_text(Summary.from_dict(story["summary"])), markup=False, highlight=False)
    out.print(f"open: {base}/stories/{story['id']}\n")


def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help=".txt, .json, .jsonl files or folders", exists=True)
    ],
    api_url: ApiOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait until every article is in a story")] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Articles per request")] = 100,
) -> None:
    """Post article files to a running storyfold."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        items = [x for f in iter_files(paths) for x in read_articles(f)]
    except (ValueError, OSError) as exc:  # unsupported file, unreadable file, broken .json
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        httpx.Client(base_url=api_url, timeout=60, headers=headers) as client,
        Progress(*columns, console=console) as progress,
    ):
        try:
            task = progress.add_task("posting", total=len(items))
            report = post_all(client, items, batch, lambda n: progress.advance(task, n))
            if wait and report.ids:
                task = progress.add_task("processing", total=len(report.ids))
                wait_processed(client, report.ids, 3600, lambda n: progress.advance(task, n))
        except httpx.ConnectError as exc:
            console.print(f"[red]cannot reach {api_url}: {exc}. Is `storyfold serve` running?[/]")
            raise typer.Exit(2) from exc
    out.print(
        f"accepted {len(report.accepted)}, already stored {len(report.existing)}, "
        f"rejected {len(report.rejected)}"
    )
    for where, why in report.rejected[:20]:
        out.print(f"  rejected {where}: {why}", markup=False)
    if report.rejected:
        raise typer.Exit(1)


def story(story_id: str, api_url: ApiOpt = "http://127.0.0.1:8000") -> None:
    """Print a story's summary as readable text."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        resp = client.get(f"/stories/{story_id}")
        if resp.status_code != 200:
            console.print(f"[red]{resp.json().get('detail', resp.text)}[/]")
            raise typer.Exit(1)
        print_story(resp.json(), api_url)


def follow(
    url: Annotated[str, typer.Argument(help="An RSS, Atom or JSON Feed URL")],
    name: Annotated[str | None, typer.Option(help="Source name of its articles")] = None,
    poll_seconds: Annotated[int | None, typer.Option(min=1, help="Seconds between polls")] = None,
    api_url: ApiOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
) -> None:
    """Follow a feed: the workers poll it and fold its new entries into stories."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {k: v for k, v in {"url": url, "name": name, "poll_seconds": poll_seconds}.items() if v}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as client:
        resp = client.post("/sources", json=body)
    if resp.status_code not in (200, 201):
        console.print(str(resp.json().get("detail", resp.text)), style="red", markup=False)
        raise typer.Exit(1)
    src = resp.json()
    verb = "already following" if resp.status_code == 200 else "following"
    out.print(f"{verb} {src['url']} as {src['id']} (every {src['poll_seconds']} s)", markup=False)


def sources(api_url: ApiOpt = "http://127.0.0.1:8000", api_key: KeyOpt = None) -> None:
    """The followed feeds and how their last poll went."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as client:
        resp = client.get("/sources")
    if resp.status_code != 200:
        console.print(str(resp.json().get("detail", resp.text)), style="red", markup=False)
        raise typer.Exit(1)
    for src in resp.json()["sources"]:
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
