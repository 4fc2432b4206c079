from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, Strict, field_validator

from service.api.schemas.common import In, Out
from service.domain.outbox import EventType

EventTypeIn = Annotated[EventType, Strict(False)]  # from its text: JSON has no enums
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="https:// (http:// only for a loopback host, when the server allows it); a literal "
        "address must be public, and a name must resolve to public addresses at each delivery.",
        examples=["https://hooks.example.com/oneonone"],
    ),
]
Description = Annotated[str, Field(max_length=500, description="For the admins' own reference")]


class WebhookEndpointCreate(In):
    url: Url
    event_types: list[EventTypeIn] = Field(min_length=1, max_length=len(EventType), description="Events to receive")
    description: Description = ""
    enabled: bool = True


class WebhookEndpointPatch(In):
    """Only the fields sent change. `enabled: true` re-enables an endpoint disabled after
    failing: its undelivered events are retried at once."""

    url: Url | None = None
    event_types: list[EventTypeIn] | None = Field(None, min_length=1, max_length=len(EventType))
    description: Description | None = None
    enabled: bool | None = None

    @field_validator("url", "event_types", "description", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class WebhookEndpointOut(Out):
    id: int
    url: str
    description: str
    event_types: list[EventType]
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled (by an admin, or after failing)")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="First failure since the last success")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are also signed with the secret before the last rotation"
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="The signing secret (`whsec_…`), shown this once", examples=["whsec_…"])


class WebhookSecretOut(Out):
    secret: str = Field(description="The new signing secret (`whsec_…`), shown this once")
    previous_secret_expires_at: datetime | None = Field(description="The old secret is valid until then")


class WebhookAttemptOut(Out):
    id: int
    event_id: str
    event_type: EventType
    attempted_at: datetime
    status_code: int | None = Field(description="The endpoint's HTTP status; null when none came")
    latency_ms: int
    response_excerpt: str | None = Field(description="The start of the endpoint's answer")
    error: str | None = Field(description="Why it failed without an answer (timeout, refused address…)")


class RedeliveryOut(Out):
    endpoint_id: int
    event_id: str
    next_attempt_at: datetime
