"""The `storyfold` command: serve (all in one), api, worker, ingest, story."""

from __future__ import annotations

import gc
import os
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import structlog
import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape

from core.config import Settings
from core.keys import Keys
from core.logs import configure_logging
from core.storage.connection import connect
from core.storage.embedded import EmbeddedRedis
from core.storage.liveness import Heartbeat
from service.app import create_app
from storyfold.client_commands import fail, print_story
from storyfold.client_commands import register as register_client_commands
from storyfold.compose import build_storage, build_worker
from storyfold.embed_check import embed_check
from storyfold.ingest import iter_files, post_all, read_articles, wait_processed
from storyfold.stopping import HTTP_GRACE_S, Stopper

if TYPE_CHECKING:
    from workers.runner import Worker

app = typer.Typer(
    help="storyfold: fold duplicate news coverage into stories.", no_args_is_help=True
)
app.command("embed-check")(embed_check)
register_client_commands(app)
log = structlog.get_logger(__name__)
console = Console(stderr=True)
out = Console(soft_wrap=True, highlight=False)

HostOpt = Annotated[str | None, typer.Option(help="Interface to listen on (env STORYFOLD_HOST)")]
PortOpt = Annotated[int | None, typer.Option(help="Port to listen on (env STORYFOLD_PORT)")]
DataOpt = Annotated[
    Path | None, typer.Option(help="Folder for the embedded Redis (env STORYFOLD_DATA_DIR)")
]


def _settings(
    host: str | None = None, port: int | None = None, data_dir: Path | None = None
) -> Settings:
    overrides = {
        k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_json)
    return settings


def _redis_url(settings: Settings, stack: ExitStack, stopper: Stopper | None = None) -> str:
    if settings.redis_url:
        return settings.redis_url
    embedded = stack.enter_context(EmbeddedRedis(settings.data_dir))
    if stopper is not None:  # an abandoned process still shuts its Redis down (AOF flushed)
        stopper.on_abandon(lambda: embedded.stop(timeout_s=2))
    console.print(
        f"[dim]embedded Redis 6.2 at {embedded.url} (data in {settings.data_dir.resolve()})[/]"
    )
    return embedded.url


def _heartbeat(settings: Settings, url: str, name: str | None) -> Heartbeat:
    from workers.runner import default_consumer_name

    name = name or default_consumer_name()
    client = connect(url, settings.redis_cluster)
    return Heartbeat(client, Keys(settings.key_prefix), name, settings.heartbeat_s)


def _worker(settings: Settings, url: str, name: str | None = None) -> Worker:
    return build_worker(settings, build_storage(settings, url), name=name)


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataOpt = None,
    seeds: Annotated[
        Path | None, typer.Option(exists=True, help="Post these article files once the API is up")
    ] = None,
) -> None:
    """All in one: Redis (embedded unless STORYFOLD_REDIS_URL is set), the API and one worker."""
    settings = _settings(host, port, data_dir)
    seed_items = _read_seeds(seeds) if seeds is not None else None  # before Redis and the model
    # SIGTERM/Ctrl-C: the API and the worker stop side by side, within seconds (storyfold.stopping).
    stopper = Stopper().install()
    stop = stopper.stop
    with ExitStack() as stack:
        url = _redis_url(settings, stack, stopper)
        settings = settings.model_copy(update={"redis_url": url})
        ready = threading.Event()

        def work() -> None:
            try:
                with _heartbeat(settings, url, None) as beat:
                    stopper.on_abandon(beat.__exit__)
                    worker = _worker(settings, url, beat.name)
                    beat.ready(lambda: worker.processed_total)
                    ready.set()
                    worker.run(stop=stop)
            except Exception:
                # Without its worker the service would accept articles and never fold them.
                console.print_exception()
                console.print("[red]the worker stopped; shutting down[/]")
                server.should_exit = True
                ready.set()

        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                log_level="warning",
                timeout_graceful_shutdown=HTTP_GRACE_S,  # an open event stream must not hold a stop
            )
        )
        stopper.follow(server)
        worker_thread = threading.Thread(target=work, name="worker", daemon=True)
        worker_thread.start()
        base = _url(settings.host, settings.port)
        if seed_items is not None:
            # The demo posts like any client: with a key when the API wants one.
            key = settings.api_keys[0] if settings.api_keys else None
            demo = (server, ready, base, seed_items, key)
            threading.Thread(target=_demo, args=demo, daemon=True).start()
        else:
            _banner(base)
        try:
            server.run()
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl-C it handled; the shutdown below is the same
        finally:
            stopper.begin()
            stopper.wait(worker_thread)  # abandoned (exits) past the deadline
            stopper.settled()
    stopper.exit_now(0)  # not held up by background threads (storyfold.stopping)


def _read_seeds(seeds: Path) -> list[tuple[str, Any]]:
    """The seed articles, read before anything starts: a wrong path fails at once, not in a
    thread after the model has loaded."""
    try:
        items = [x for f in iter_files([seeds]) for x in read_articles(f)]
    except ValueError as exc:  # not an article file
        fail(str(exc), 2)
    if not items:
        fail(f"{seeds}: no .txt, .json or .jsonl articles to seed", 2)
    return items


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"  # IPv6: [::1]


def _demo(
    server: uvicorn.Server,
    ready: threading.Event,
    base: str,
    items: list[tuple[str, Any]],
    api_key: str | None,
) -> None:
    while not server.started:
        time.sleep(0.05)
    console.print("loading the model…")
    ready.wait()
    if server.should_exit:
        return
    # Bound to every interface: the demo's own requests go to the loopback one.
    local = base.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
    try:
        _seed(local, base, items, api_key)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:  # a thread: say it, go on
        console.print(f"the demo did not finish: {exc!r}", style="red", markup=False)
    _banner(base)


def _banner(base: str) -> None:
    shown = escape(base)  # an IPv6 [::1] is no markup tag
    console.print(f"storyfold is serving on [bold]{shown}[/] (API docs: {shown}/docs); Ctrl-C stops")


def _seed(local: str, base: str, items: list[tuple[str, Any]], api_key: str | None) -> None:
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=local, timeout=30, headers=headers) as client:
        report = post_all(client, items)
        for where, why in report.rejected:
            console.print(f"seed rejected {where}: {why}", style="red", markup=False)
        if report.stopped:
            stop = report.stopped
            console.print(f"the demo stopped at {stop.where}: {stop.reason}", markup=False)
            return
        state = wait_processed(client, report.ids, timeout_s=300)
        story_ids = sorted({s["story_id"] for s in state.values() if s.get("story_id")})
        console.print(
            f"{len(report.ids)} articles → {len(story_ids)} story(ies) in "
            f"{time.monotonic() - started:.1f}s\n"
        )
        for sid in story_ids:
            print_story(client.get(f"/stories/{sid}").json(), base)


def api_app(settings: Settings | None = None) -> FastAPI:
    """The app an API process serves. What is alive once it is built (every module, the app)
    lives as long as the process, so it is frozen out of the garbage collector's full passes:
    under load those otherwise walk it every few seconds and hold the event loop ~100 ms each
    time, the tail of the POST latency."""
    served = create_app(settings)
    gc.collect()
    gc.freeze()
    return served


@app.command()
def api(
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataOpt = None,
    workers: Annotated[
        int, typer.Option(min=1, help="API processes sharing the port (more cores, more posts/s)")
    ] = 1,
) -> None:
    """The HTTP API alone (scale workers separately)."""
    settings = _settings(host, port, data_dir)
    # uvicorn stops the server (open requests get HTTP_GRACE_S); then the embedded Redis stops.
    stopper = Stopper("the requests in hand").install()
    with ExitStack() as stack:
        url = _redis_url(settings, stack, stopper)
        if workers == 1:
            server = uvicorn.Server(
                uvicorn.Config(
                    api_app(settings.model_copy(update={"redis_url": url})),
                    host=settings.host,
                    port=settings.port,
                    log_level="warning",
                    timeout_graceful_shutdown=HTTP_GRACE_S,
                )
            )
            stopper.follow(server)
            server.run()
            stopper.settled()
            if not server.started:  # as uvicorn.run: the port was taken, or startup failed
                raise typer.Exit(3)
            return
        # uvicorn starts each process from an import string, so they read their settings from
        # the environment: hand them what was resolved here, the embedded Redis's URL included.
        os.environ["STORYFOLD_REDIS_URL"] = url
        uvicorn.run(
            "storyfold.cli:api_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=HTTP_GRACE_S,
        )


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Drain the queue, then exit")] = False,
    name: Annotated[str | None, typer.Option(help="Consumer name (default host-pid)")] = None,
    data_dir: DataOpt = None,
) -> None:
    """A worker: reads the article stream, clusters and summarises."""
    settings = _settings(data_dir=data_dir)
    # SIGTERM/Ctrl-C: finish the batch in hand within seconds, else leave it pending (stopping.py).
    stopper = Stopper().install()
    stop = stopper.stop
    with ExitStack() as stack:
        url = _redis_url(settings, stack, stopper)
        beat = stack.enter_context(_heartbeat(settings, url, name))  # model_loaded=0 while loading
        stopper.on_abandon(beat.__exit__)
        # Each on its own thread: signals are taken at once, even inside a long model call.
        w = stopper.call(lambda: _worker(settings, url, beat.name), "model")
        beat.ready(lambda: w.processed_total)
        done = stopper.call(lambda: w.run(burst=burst, stop=stop), "worker")
        stopper.settled()
        if stop.is_set():
            log.info("worker.stopped", worker=w.name, articles=done, reason="signal")
        if burst:
            console.print(f"burst: {done} articles finished, queue drained")
    stopper.exit_now(0)  # not held up by background threads (storyfold.stopping)


@app.command()
def repair(data_dir: DataOpt = None) -> None:
    """Re-cluster the active window with HDBSCAN now and reconcile stories (no model needed)."""
    from workers.story_ops import StoryOps

    settings = _settings(data_dir=data_dir)
    with ExitStack() as stack:
        outcome = StoryOps(build_storage(settings, _redis_url(settings, stack)), settings).repair()
    if outcome is None:
        out.print("another worker is repairing right now; nothing done")
        return
    out.print(
        f"re-clustered {outcome.articles} articles: {outcome.moved} moved, "
        f"{len(outcome.merged)} stories merged, {len(outcome.split)} split off"
    )
    for old, survivor in outcome.merged.items():
        out.print(f"  {old} merged into {survivor}")
    for new, parent in outcome.split.items():
        out.print(f"  {new} split off {parent}")


@app.command()
def archive(data_dir: DataOpt = None) -> None:
    """Move every story quiet for more than STORYFOLD_HOT_DAYS to the archive on disk now (a
    worker also does it every minute). An article joining one brings it back."""
    from workers.cold_pass import ColdPass

    settings = _settings(data_dir=data_dir)
    if settings.archive is None:
        console.print("no archive: set STORYFOLD_ARCHIVE_DIR (with an external Redis) to use one")
        raise typer.Exit(1)
    with ExitStack() as stack:
        storage = build_storage(settings, _redis_url(settings, stack))
        moved = ColdPass(storage, settings).run()
        files, size = storage.cold.files.size() if storage.cold else (0, 0)
    out.print(f"moved {moved} stories to {settings.archive}; it holds {files} ({size:,} bytes)")


@app.command("migrate-keys")
def migrate_keys(data_dir: DataOpt = None) -> None:
    """Rename the keys of a database written before the hash-tagged layout (#16) to today's
    names. Run once, with every storyfold process stopped; running it again changes nothing."""
    from core.storage.migrate import migrate_key_names

    settings = _settings(data_dir=data_dir)
    with ExitStack() as stack:
        client = connect(_redis_url(settings, stack))
        done = migrate_key_names(client, Keys(settings.key_prefix))
    out.print(f"renamed {done.renamed} keys to the hash-tagged layout")
    for old in done.kept:
        out.print(f"  kept {old}: its new name is taken already")


def main() -> None:  # pragma: no cover
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
