"""The composition root: the one place that builds storage, workers and the app from Settings.

The CLI, the tests and the benchmarks all build through here, so a new dependency of the
worker or the app is wired once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config import Settings
from core.keys import Keys
from core.storage import Storage
from core.storage.connection import connect

if TYPE_CHECKING:
    from embedding.base import Embedder
    from workers.runner import Worker


def build_storage(settings: Settings, url: str) -> Storage:
    return Storage(
        connect(url, settings.redis_cluster),
        Keys(settings.key_prefix),
        settings.events_retention,
        settings.archive,
    )


def build_worker(
    settings: Settings,
    storage: Storage,
    *,
    name: str | None = None,
    embedder: Embedder | None = None,
    summary_embedder: Embedder | None = None,
) -> Worker:
    """A worker as the product runs it: the embedders settings name (or the ones given, which
    tests and benchmarks share between workers), numpy's BLAS on one thread."""
    # Imported here: the model stack is heavy and the api/ingest commands never need it.
    from embedding.factory import make_embedders
    from workers.runner import Worker, one_blas_thread

    one_blas_thread()
    if embedder is None:
        embedder, made_summary = make_embedders(settings)
        summary_embedder = summary_embedder or made_summary
    return Worker(storage, settings, embedder, name=name, summary_embedder=summary_embedder)
