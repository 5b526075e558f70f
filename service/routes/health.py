"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import QueueDep, StoreDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(store: StoreDep, queue: QueueDep) -> JSONResponse:
    """Redis answers, and how far behind the workers are."""
    if not store.ping():
        return JSONResponse({"status": "unavailable", "redis": False}, status_code=503)
    body: dict[str, Any] = {"status": "ok", "redis": True, "queue": queue.stats()}
    return JSONResponse(body)
