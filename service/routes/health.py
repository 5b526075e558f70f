"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.queue import Queue
from core.storage import StorageDown, StorageError, liveness, metrics
from service.deps import QueueDep, StoreDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(store: StoreDep, queue: QueueDep) -> JSONResponse:
    """Redis answers (else 503); how far behind the queues are (articles to place in stories,
    summaries to update); which workers are alive and have their model loaded. No such worker
    reads `degraded` (still 200: posts are accepted and wait)."""
    try:
        if not store.ping():
            raise StorageDown("no PONG")
        stats = {**queue.stats(), "oldest_age_s": metrics.queue_oldest_age_s(store.r, store.keys)}
        summaries = Queue.summaries(store.r, store.keys)
        summary_stats = {**summaries.stats(), "oldest_waiting_s": summaries.oldest_waiting_age_s()}
        workers = liveness.live_workers(store.r, store.keys)
    except StorageError as exc:
        return JSONResponse(
            {"status": "unavailable", "redis": False, "error": str(exc)}, status_code=503
        )
    loaded = sum(w["model_loaded"] for w in workers)
    body: dict[str, Any] = {
        "status": "ok" if loaded else "degraded",
        "redis": True,
        "queue": stats,
        "summary_queue": summary_stats,
        "workers": {"live": len(workers), "model_loaded": loaded, "list": workers},
    }
    if not loaded:
        body["detail"] = "no live worker has its model loaded: articles wait in the queue"
    return JSONResponse(body)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format: the numbers workers share through Redis, and this process's."""
    registry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
