"""Webhook endpoints for provider push notifications (outside /v1: their shape is
the providers', not ours). They verify, request a sync and answer within milliseconds.

Anyone can post here, so a body larger than `webhooks.max_body_bytes` is refused
with 413 before more than that is read (Content-Length first, then counted while
streaming: chunked bodies have no length), and nothing touches the database before
the body is read and parsed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.requests import ClientDisconnect

from service.api.deps import Now, Session
from service.api.problems import responses
from service.errors import AppError, BadRequest, Forbidden, PayloadTooLarge
from service.metrics import WEBHOOKS
from service.settings import WebhookSettings
from service.sync import webhooks
from service.sync.webhooks import BatchRefused, Outcome, Reason, RejectionLog

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Graph's validation tokens are about 110 characters
# ("Validation: Testing client application reachability for subscription Request-Id: <guid>").
MAX_VALIDATION_TOKEN = 1024


def _settings(request: Request) -> WebhookSettings:
    return request.app.state.settings.webhooks


def _rejections(request: Request) -> RejectionLog:
    return request.app.state.webhook_rejections


def _refuse(request: Request, provider: str, reason: Reason, error: BadRequest | PayloadTooLarge) -> AppError:
    """A whole delivery refused: counted, logged at the rejection log's rate, returned to raise."""
    WEBHOOKS.labels(provider, "invalid").inc()
    _rejections(request).note(provider, reason)
    return error


async def _read_body(request: Request, provider: str) -> bytes:
    """The body, refused with 413 as soon as it is known to pass the cap: from its
    Content-Length before reading anything, else counted as it streams in."""
    limit = _settings(request).max_body_bytes
    too_large = PayloadTooLarge(f"body over {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise _refuse(request, provider, Reason.invalid, BadRequest("invalid Content-Length"))
        if len(declared) > 18 or int(declared) > limit:  # 18 digits: int() stays cheap
            raise _refuse(request, provider, Reason.too_large, too_large)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _refuse(request, provider, Reason.too_large, too_large)
            chunks.append(chunk)
    except ClientDisconnect:  # the sender hung up mid-body: nobody to answer, nothing to trace
        raise _refuse(request, provider, Reason.invalid, BadRequest("client disconnected")) from None
    return b"".join(chunks)


def _too_large(description: str) -> dict[int | str, dict]:
    return {413: {**responses(413)[413], "description": description}}


@router.post(
    "/google",
    summary="Google Calendar watch-channel notification",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "Acknowledged"}, **responses(400, 403), **_too_large("Body over the size cap")},
)
async def google_notification(request: Request, session: Session, now: Now) -> Response:
    """Empty body; the `X-Goog-*` headers say which channel. A wrong channel token, or a
    channel we do not know, is rejected; except the `sync` handshake, which Google may
    send before the channel is on record: acknowledged and ignored."""
    await _read_body(request, "google")  # Google sends none: only its size matters
    if await webhooks.google(session, request.headers, now, _rejections(request)) is Outcome.rejected:
        raise Forbidden("unknown channel or wrong channel token")
    return Response(status_code=200)


def _validation(request: Request, provider: str) -> PlainTextResponse | None:
    """Graph's subscription handshake: echo `validationToken` as text/plain (nosniff:
    the token is the caller's text, never to be taken for HTML)."""
    token = request.query_params.get("validationToken")
    if token is None:
        return None
    if len(token) > MAX_VALIDATION_TOKEN:
        raise _refuse(request, provider, Reason.invalid, BadRequest("validationToken too long"))
    WEBHOOKS.labels(provider, "validation").inc()
    return PlainTextResponse(token, status_code=200, headers={"X-Content-Type-Options": "nosniff"})


async def _graph(request: Request, session: Session, now, *, lifecycle: bool) -> Response:
    if (handshake := _validation(request, "microsoft")) is not None:
        return handshake  # Graph's handshake has no body: none is read
    raw = await _read_body(request, "microsoft")
    try:
        notes = webhooks.parse_graph_batch(raw, max_items=_settings(request).max_items)
    except BatchRefused as refused:
        error = PayloadTooLarge if refused.reason is Reason.too_large else BadRequest
        raise _refuse(request, "microsoft", refused.reason, error(refused.detail)) from None
    outcomes = await webhooks.microsoft(session, notes, now, _rejections(request), lifecycle=lifecycle)
    if all(o is Outcome.rejected for o in outcomes):
        raise Forbidden("unknown subscription or wrong clientState")
    return Response(status_code=202)


_GRAPH_RESPONSES = {
    200: {"description": "Validation handshake: the token echoed as text/plain", "content": {"text/plain": {}}},
    202: {"description": "Accepted"},
    **responses(400, 403),
    **_too_large("Body over the size cap, or too many notifications or JSON values"),
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
    clientState is verified and its calendar marked for sync. A notification for a
    subscription we do not know is acknowledged (Graph would retry a refusal for
    hours) and the subscription recorded for the workers to delete. At most
    `webhooks.max_items` notifications (1,000) and `webhooks.max_body_bytes` (1 MiB)
    per delivery (413 beyond); a body that is not such a batch is a 400; a malformed
    notification, or a wrong clientState for a subscription of ours, is rejected on
    its own (403 if nothing is acknowledged)."""
    return await _graph(request, session, now, lifecycle=False)


@router.post(
    "/microsoft/lifecycle",
    summary="Microsoft Graph lifecycle notification",
    status_code=202,
    response_class=Response,
    responses=_GRAPH_RESPONSES,
)
async def microsoft_lifecycle(request: Request, session: Session, now: Now) -> Response:
    """`reauthorizationRequired` has the subscription reauthorized by the workers' upkeep,
    `subscriptionRemoved` recreated, `missed` (and each of them) resyncs the calendar.
    The same caps and checks as change notifications."""
    return await _graph(request, session, now, lifecycle=True)
