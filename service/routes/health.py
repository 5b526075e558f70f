"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from core.queue import Queue
from core.storage import StorageDown, StorageError, liveness, metrics
from service.deps import QueueDep, StoreDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Workers(BaseModel):
    live: int
    model_loaded: int
    list: list[dict[str, Any]]


class Ready(BaseModel):
    status: Literal["ok", "degraded"]
    redis: Literal[True]
    queue: dict[str, Any] = Field(description="Articles waiting to be placed in stories")
    summary_queue: dict[str, Any] = Field(description="Stories waiting for a summary update")
    workers: Workers
    detail: str | None = Field(None, description="Present when `degraded`: why")


class NotReady(BaseModel):
    status: Literal["unavailable"]
    redis: Literal[False]
    error: str


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


# The body is built as a plain dict (absent `detail` stays absent); the models document it.
@router.get(
    "/readyz",
    response_class=JSONResponse,
    responses={
        200: {"model": Ready, "description": "Storage answers; `degraded` without a live worker"},
        503: {"model": NotReady, "description": "Storage does not answer"},
    },
)
def readyz(store: StoreDep, queue: QueueDep) -> JSONResponse:
    """Redis answers (else 503); how far behind the queues are (articles to place in stories,
    summaries to update); which workers are alive and have their model loaded. No such worker
    reads `degraded` (still 200: posts are accepted and wait)."""
    try:
        if problem := store.write_problem():  # answering is not enough: it must take writes
            raise StorageDown(problem)
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
