"""Webhook records at the storage boundary: what a client posts (WebhookIn, WebhookPatch), what
it reads back (WebhookOut, WebhookList), and one attempt of the delivery log (DeliveryLog)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.records import HTTP_URL_PATTERN, check_http_url

EventType = Literal["story.created", "story.updated", "story.merged"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(
        max_length=2000, pattern=HTTP_URL_PATTERN, description="Where to POST events (http or https)"
    )
    events: list[EventType] = Field(min_length=1, description="Event types to receive")
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="HMAC key; generated when absent"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = None
    failures: int = Field(0, description="Failed delivery attempts in a row")
    created_at: datetime
    secret: str | None = Field(None, description="Shown once, when the webhook is created")


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        description="true: deliver again (failures reset; events from while it was disabled "
        "are not replayed), false: stop delivering"
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryLog(BaseModel):
    delivery_id: str
    event: str
    story_id: str
    attempt: int
    at: datetime
    outcome: str = Field(description="delivered | failed | gave_up | blocked")
    status: int | None = None
    error: str | None = None


class DeliveryPage(BaseModel):
    webhook_id: str
    deliveries: list[DeliveryLog] = Field(description="Newest first (the last 200 attempts)")
