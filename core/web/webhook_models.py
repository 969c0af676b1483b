"""The API's webhook bodies (issue 15): endpoints, the delivery log and the per-job secret."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from core.domain.webhooks import EVENTS, MAX_URL_LENGTH, WebhookDelivery, WebhookEndpoint
from core.web.models import UtcDatetime

EventName = Literal["job.queued", "job.started", "job.succeeded", "job.failed", "job.canceled", "*"]
assert set(EventName.__args__) == {*EVENTS, "*"}  # type: ignore[attr-defined]


def _every_event() -> list[EventName]:
    return ["*"]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        examples=["https://example.com/hooks/studio"],
        description="https:// only; never loopback, private or link-local addresses.",
    )
    events: list[EventName] = Field(
        default_factory=lambda: _every_event(),
        min_length=1,
        max_length=len(EVENTS) + 1,
        description="The events to send; `*` for all.",
    )


class WebhookEndpointOut(BaseModel):
    id: UUID
    url: str
    events: list[str]
    created_at: UtcDatetime
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled (a 410 Gone), or null.")

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
        return cls(
            id=UUID(endpoint.id),
            url=endpoint.url,
            events=list(endpoint.events),
            created_at=endpoint.created_at,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
        )


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`), shown this once: keep it to verify "
        "the `webhook-signature` header."
    )


class WebhookEndpointList(BaseModel):
    items: list[WebhookEndpointOut]


class WebhookDeleted(BaseModel):
    id: UUID
    deleted: bool


class WebhookDeliveryOut(BaseModel):
    id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    endpoint_id: UUID | None = Field(description="null: the job's own webhook_url.")
    event: str
    job_id: UUID
    status: Literal["pending", "delivered", "failed", "gone"]
    attempts: int = Field(ge=0)
    last_status_code: int | None
    last_error: str | None
    created_at: UtcDatetime
    next_attempt_at: UtcDatetime | None = Field(description="When pending: the next attempt.")
    delivered_at: UtcDatetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> WebhookDeliveryOut:
        pending = delivery.status == "pending"
        return cls(
            id=delivery.id,
            endpoint_id=None if delivery.endpoint_id is None else UUID(delivery.endpoint_id),
            event=delivery.event,
            job_id=UUID(delivery.job_id),
            status=delivery.status.value,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            delivered_at=delivery.delivered_at,
        )


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryOut]


class WebhookSecret(BaseModel):
    secret: str = Field(
        description="The signing secret of your jobs' own `webhook_url`s (`whsec_…`), shown "
        "this once; a new one replaces the old."
    )
