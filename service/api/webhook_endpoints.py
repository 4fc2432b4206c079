"""Outbound webhook endpoints (admins): register, change, rotate secrets, read the
delivery log, redeliver. The rules are service.domain.webhook_endpoints'."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request, Response

from service.api.deps import Admin, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.common import EventId, Id
from service.api.schemas.webhook_endpoints import (
    RedeliveryOut,
    WebhookAttemptOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookSecretOut,
)
from service.api.schemas.webhook_events import ENVELOPES, EVENTS
from service.domain import webhook_endpoints as endpoints
from service.security.addresses import networks
from service.security.crypto import Vault
from service.settings import OutboundWebhookSettings

router = APIRouter(prefix="/webhook-endpoints", tags=["webhook-endpoints"])
ADMINS = "Admins only (403 for anyone else)."
_SECRET_500 = {500: {"description": "ONEONONE_SECRET_KEY is not configured"}}


def _settings(request: Request) -> OutboundWebhookSettings:
    return request.app.state.settings.outbound


def _rules(request: Request) -> endpoints.UrlRules:
    s = _settings(request)
    return endpoints.UrlRules(s.allow_http_loopback, tuple(networks(s.allow_networks)))


def _vault(request: Request) -> Vault:
    return Vault(request.app.state.settings.secret_key.get_secret_value())


@router.post(
    "",
    summary="Register a webhook endpoint",
    description=ADMINS + " The signing secret is in the answer, and never shown again.",
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses={**responses(401, 403, 422), **_SECRET_500},
)
async def create_endpoint(body: WebhookEndpointCreate, request: Request, session: Session, admin: Admin, now: Now):
    endpoint, secret = await endpoints.create(
        session,
        _vault(request),
        _rules(request),
        url=body.url,
        event_types=[t.value for t in body.event_types],
        description=body.description,
        enabled=body.enabled,
        created_by=admin.person_id,
        now=now,
    )
    return WebhookEndpointCreated.model_validate(
        {**WebhookEndpointOut.model_validate(endpoint).model_dump(), "secret": secret}
    )


@router.get(
    "",
    summary="List webhook endpoints",
    description=ADMINS + " Ordered by id.",
    response_model=Page[WebhookEndpointOut],
    responses=responses(400, 401, 403, 422),
)
async def list_endpoints(session: Session, _admin: Admin, limit: Limit = 50, cursor: Cursor = None):
    rows = await endpoints.list_endpoints(session, after_id=decode_int_cursor(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.get(
    "/{endpoint_id}",
    summary="Get a webhook endpoint",
    description=ADMINS,
    response_model=WebhookEndpointOut,
    responses=responses(401, 403, 404, 422),
)
async def get_endpoint(endpoint_id: Id, session: Session, _admin: Admin):
    return await endpoints.get(session, endpoint_id)


@router.patch(
    "/{endpoint_id}",
    summary="Change, disable or re-enable a webhook endpoint",
    description=ADMINS + " Only the fields sent change. `enabled: true` on an endpoint disabled after "
    "failing clears its reason and retries its undelivered events at once.",
    response_model=WebhookEndpointOut,
    responses=responses(401, 403, 404, 422),
)
async def update_endpoint(
    endpoint_id: Id, body: WebhookEndpointPatch, request: Request, session: Session, _admin: Admin, now: Now
):
    changes = body.model_dump(exclude_unset=True, mode="json")
    return await endpoints.change(session, endpoint_id, changes, _rules(request), now)


@router.delete(
    "/{endpoint_id}",
    summary="Delete a webhook endpoint",
    description=ADMINS + " Its undelivered events and its delivery log go with it.",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def delete_endpoint(endpoint_id: Id, session: Session, _admin: Admin) -> Response:
    await endpoints.delete(session, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    summary="Rotate a webhook endpoint's signing secret",
    description=ADMINS + " The new secret is in the answer, and never shown again. Until "
    "`previous_secret_expires_at` deliveries carry a signature with each secret.",
    response_model=WebhookSecretOut,
    responses={**responses(401, 403, 404, 422), **_SECRET_500},
)
async def rotate_secret(endpoint_id: Id, request: Request, session: Session, _admin: Admin, now: Now):
    grace = timedelta(hours=_settings(request).secret_grace_hours)
    endpoint, secret = await endpoints.rotate_secret(session, _vault(request), endpoint_id, grace, now)
    return WebhookSecretOut(secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at)


@router.get(
    "/{endpoint_id}/attempts",
    summary="List a webhook endpoint's delivery attempts",
    description=ADMINS + " Newest first: when, the status the endpoint answered, how long it took, the "
    "start of its answer, or why no answer came. Kept for the retention period.",
    response_model=Page[WebhookAttemptOut],
    responses=responses(400, 401, 403, 404, 422),
)
async def list_attempts(endpoint_id: Id, session: Session, _admin: Admin, limit: Limit = 50, cursor: Cursor = None):
    rows = await endpoints.attempts(session, endpoint_id, before_id=decode_int_cursor(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.post(
    "/{endpoint_id}/events/{event_id}/redeliver",
    summary="Deliver a past event to a webhook endpoint again",
    description=ADMINS + " With the same `webhook-id`, as soon as a worker can; also an event the "
    "endpoint was not subscribed to. 404 for an event past the retention period.",
    status_code=202,
    response_model=RedeliveryOut,
    responses=responses(401, 403, 404, 422),
)
async def redeliver(
    endpoint_id: Id,
    event_id: Annotated[EventId, Path(description="The event's id (`webhook-id`)")],
    session: Session,
    _admin: Admin,
    now: Now,
):
    delivery = await endpoints.redeliver(session, endpoint_id, event_id, now)
    return RedeliveryOut(endpoint_id=endpoint_id, event_id=event_id, next_attempt_at=delivery.next_attempt_at)


_SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "The event's id: the same on every retry (deduplicate on it)",
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Seconds since the epoch when this attempt was signed",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Space-separated `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`, one per valid "
        "secret (Standard Webhooks)",
    },
]


def describe_events(app: FastAPI) -> None:
    """Publish each event type's body in the OpenAPI document's `webhooks` section (the
    receiver's answers are theirs: no 422 of ours is documented there)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # cached: editing it once is enough, and idempotent
        for operations in document.get("webhooks", {}).values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(document):
                schemas.pop(unused, None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    for kind, envelope in ENVELOPES.items():

        async def receive(body: Any) -> None:  # pragma: no cover - documentation only
            return None

        receive.__annotations__ = {"body": envelope, "return": None}
        app.webhooks.add_api_route(
            kind,
            receive,
            methods=["POST"],
            name=kind,
            operation_id=f"webhook-events-{kind}",
            tags=["webhook-events"],
            summary=f"`{kind}`",
            description=EVENTS[kind][1] + " Answer 2xx within 10 s; anything else is retried.",
            status_code=204,
            response_class=Response,
            responses={204: {"description": "Received (any 2xx will do)"}},
            openapi_extra={"parameters": _SIGNATURE_HEADERS},
        )
