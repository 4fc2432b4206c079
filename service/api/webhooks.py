"""Webhook endpoints for provider push notifications (outside /v1: their shape is
the providers', not ours). They verify, mark dirty and answer within milliseconds."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from service.api.deps import Now, Session
from service.api.problems import responses
from service.errors import BadRequest, Forbidden
from service.metrics import WEBHOOKS
from service.sync import webhooks
from service.sync.webhooks import Outcome

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Graph's validation tokens are about 110 characters
# ("Validation: Testing client application reachability for subscription Request-Id: <guid>").
MAX_VALIDATION_TOKEN = 1024


@router.post(
    "/google",
    summary="Google Calendar watch-channel notification",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "Acknowledged"}, **responses(403)},
)
async def google_notification(request: Request, session: Session, now: Now) -> Response:
    """Empty body; the `X-Goog-*` headers say which channel. A wrong channel token is rejected."""
    if await webhooks.google(session, request.headers, now) is Outcome.rejected:
        raise Forbidden("unknown channel or wrong channel token")
    return Response(status_code=200)


def _validation(request: Request, provider: str) -> PlainTextResponse | None:
    """Graph's subscription handshake: echo `validationToken` as text/plain (nosniff:
    the token is the caller's text, never to be taken for HTML)."""
    token = request.query_params.get("validationToken")
    if token is None:
        return None
    if len(token) > MAX_VALIDATION_TOKEN:
        raise BadRequest("validationToken too long")
    WEBHOOKS.labels(provider, "validation").inc()
    return PlainTextResponse(token, status_code=200, headers={"X-Content-Type-Options": "nosniff"})


async def _graph(request: Request, session: Session, now, *, lifecycle: bool) -> Response:
    if (handshake := _validation(request, "microsoft")) is not None:
        return handshake
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    outcomes = await webhooks.microsoft(session, body, now, lifecycle=lifecycle)
    if not outcomes:
        raise BadRequest('expected {"value": [notification, …]}')
    if all(o is Outcome.rejected for o in outcomes):
        raise Forbidden("unknown subscription or wrong clientState")
    return Response(status_code=202)


_GRAPH_RESPONSES = {
    200: {"description": "Validation handshake: the token echoed as text/plain", "content": {"text/plain": {}}},
    202: {"description": "Accepted"},
    **responses(400, 403),
}


@router.post(
    "/microsoft",
    summary="Microsoft Graph change notification",
    status_code=202,
    response_class=Response,
    responses=_GRAPH_RESPONSES,
)
async def microsoft_notification(request: Request, session: Session, now: Now) -> Response:
    """`?validationToken=` is answered with the token; otherwise each notification's
    clientState is verified and its calendar marked for sync."""
    return await _graph(request, session, now, lifecycle=False)


@router.post(
    "/microsoft/lifecycle",
    summary="Microsoft Graph lifecycle notification",
    status_code=202,
    response_class=Response,
    responses=_GRAPH_RESPONSES,
)
async def microsoft_lifecycle(request: Request, session: Session, now: Now) -> Response:
    """`reauthorizationRequired` renews, `subscriptionRemoved` recreates, `missed` resyncs."""
    return await _graph(request, session, now, lifecycle=True)
