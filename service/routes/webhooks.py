"""Webhooks: POST /webhooks, GET /webhooks, GET/PATCH/DELETE /webhooks/{id},
GET /webhooks/{id}/deliveries.

Every route needs a write key when keys are set: a webhook's URL is the subscriber's, and its
deliveries log tells what the receiver answered. The workers send the deliveries
(workers/webhooks/deliver.py), through the same SSRF guard as feeds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from core.storage.webhooks import (
    DeliveryPage,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
    Webhooks,
)
from service.auth import WriteAccess
from service.deps import SettingsDep
from service.openapi import problem_responses
from service.routes.sources import refuse_private

router = APIRouter(tags=["webhooks"], dependencies=[WriteAccess])

HookId = Annotated[str, Path(max_length=64)]
UNKNOWN_HOOK = problem_responses(404, e404="No webhook has this id")


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


@router.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookOut)
def add_webhook(
    body: WebhookIn, request: Request, response: Response, settings: SettingsDep
) -> WebhookOut:
    """Subscribe a URL to story events. The answer holds the signing `secret`, shown only here.
    A URL resolving to a non-public address is refused (422), as for sources."""
    refuse_private(body.url, settings)
    hook = _webhooks(request).add(body)
    response.headers["Location"] = f"/webhooks/{hook.id}"
    return hook


@router.get("/webhooks", response_model=WebhookList)
def list_webhooks(request: Request) -> WebhookList:
    """Every webhook, enabled or disabled (with the reason)."""
    return WebhookList(webhooks=_webhooks(request).all())


@router.get("/webhooks/{hook_id}", response_model=WebhookOut, responses=UNKNOWN_HOOK)
def get_webhook(hook_id: HookId, request: Request) -> WebhookOut:
    """One webhook: enabled, failures in a row, why it was disabled."""
    return _webhooks(request).get(hook_id)


@router.patch("/webhooks/{hook_id}", response_model=WebhookOut, responses=UNKNOWN_HOOK)
def patch_webhook(hook_id: HookId, body: WebhookPatch, request: Request) -> WebhookOut:
    """`{"enabled": true}` turns a webhook disabled after repeated failures on again, with its
    failure count reset; events from while it was off are not replayed (catch up with
    `/stories?updated_after=`). `{"enabled": false}` pauses it."""
    return _webhooks(request).set_enabled(hook_id, body.enabled)


@router.delete(
    "/webhooks/{hook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=UNKNOWN_HOOK,
)
def delete_webhook(hook_id: HookId, request: Request) -> Response:
    """Unsubscribe; deliveries still queued for it are dropped."""
    _webhooks(request).delete(hook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{hook_id}/deliveries", response_model=DeliveryPage, responses=UNKNOWN_HOOK)
def deliveries(hook_id: HookId, request: Request) -> DeliveryPage:
    """The last delivery attempts, newest first: outcome, HTTP status, error."""
    return DeliveryPage(webhook_id=hook_id, deliveries=_webhooks(request).log(hook_id))
