"""The FastAPI app factory. Redis comes from STORYFOLD_REDIS_URL or, without one, an embedded
server the app starts and stops itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core.config import Settings, get_settings
from core.keys import Keys
from core.queue import Queue
from core.storage import metrics
from core.storage.archive_files import ArchiveFiles
from core.storage.articles import Store
from core.storage.cold import ColdStore
from core.storage.connection import connect, connect_async
from core.storage.embedded import EmbeddedRedis
from core.storage.events import EventLog, closing_on_signal
from core.storage.feed import Feed
from core.storage.sources import Sources
from core.storage.stories import Stories
from core.storage.webhooks import Webhooks
from service.etag import ETagMiddleware
from service.guard import RequestGuard
from service.openapi import install_openapi
from service.problems import install_handlers
from service.routes import (
    articles,
    events,
    health,
    pages,
    sources,
    stories,
    story_feeds,
    webhooks,
)
from service.security_headers import SecurityHeaders

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = None
        url = settings.redis_url
        if url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            url = embedded.start()
        retries = None if settings.redis_cluster else 1  # a cluster's: through a failover
        client = connect(url, settings.redis_cluster, settings.redis_timeout_s, retries)
        keys = Keys(settings.key_prefix)
        app.state.settings = settings
        app.state.store = Store(client, keys)
        archive = settings.archive
        cold = ColdStore(client, keys, ArchiveFiles(archive)) if archive else None
        app.state.stories = Stories(client, keys, settings.events_retention, cold)
        app.state.queue = Queue(client, keys)
        app.state.sources = Sources(client, keys)
        app.state.webhooks = Webhooks(client, keys)
        app.state.queue.ensure_group()
        app.state.feed = Feed(
            client,
            keys,
            app.state.stories,
            settings.feed_scan_max,
            settings.feed_snapshot_ttl_s,
        )
        # Event streams block on XREAD: async, so an open stream holds no thread.
        stream_timeout_s = settings.events_block_ms / 1000 + settings.redis_timeout_s
        app.state.events = EventLog(
            connect_async(url, settings.redis_cluster, stream_timeout_s, retries), keys
        )
        app.state.closing = closing_on_signal()
        app.state.metrics_registry = metrics.registry(
            client, keys, app.state.queue, app.state.stories
        )
        if not settings.api_keys:
            log.warning(
                "api.open",
                detail="no STORYFOLD_API_KEYS set: anyone who reaches this port can write",
            )
        try:
            yield
        finally:
            app.state.closing.set()
            await app.state.events.aclose()
            client.close()
            if embedded is not None:
                embedded.stop()

    app = FastAPI(
        title="storyfold",
        version="0.1.0",
        summary="Folds duplicate news coverage into stories with cited, merged summaries.",
        lifespan=lifespan,
    )
    install_handlers(app)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ETagMiddleware)
    app.add_middleware(SecurityHeaders)  # outermost: every response, errors included
    for module in (articles, story_feeds, stories, events, pages, health, sources, webhooks):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(packages=[("service", "static")]), name="static")
    install_openapi(app, settings)
    return app
