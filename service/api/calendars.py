"""Calendars: which calendars sync and how they are doing, a person's own connect
flow (consent at Google or Microsoft, then back to the callback), and
disconnecting. The flow itself is service.sync.connect's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import RedirectResponse

from service.api.deps import Caller, Connector, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import MEDIA_TYPE, Problem, responses
from service.api.schemas.calendars import CalendarOut, CalendarStatus, Provider
from service.api.schemas.common import Id
from service.domain import connections

router = APIRouter(prefix="/calendars", tags=["calendars"])


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {MEDIA_TYPE: {}}}


_SERVER_SIDE = {
    500: _problem("ONEONONE_SECRET_KEY is not configured"),
    501: _problem("This server has no OAuth app for the provider"),
    503: _problem("The provider could not be reached; try again"),
}


def _out(view: connections.CalendarView) -> CalendarOut:
    return CalendarOut.model_validate(view)


@router.get(
    "",
    summary="List calendars and their sync state",
    response_model=Page[CalendarOut],
    responses=responses(400, 401, 422),
)
async def list_calendars(
    session: Session,
    caller: Caller,
    now: Now,
    limit: Limit = 50,
    cursor: Cursor = None,
    provider: Provider | None = None,
    status: CalendarStatus | None = None,
    stalled: Annotated[bool, Query(description="Only calendars backing off for over a day")] = False,
):
    """The caller's own calendars; an admin's: everyone's (the admin's view of what needs
    attention: `?status=needs_reconnect`, `?stalled=true`). Ordered by id. Never shows
    a grant, a sync cursor or a channel secret."""
    views = await connections.list_calendars(
        session,
        person_id=None if caller.is_admin else caller.person_id,
        provider=provider.value if provider else None,
        status=status.value if status else None,
        after_id=decode_int_cursor(cursor),
        limit=limit + 1,
        stalled_only=stalled,
        now=now,
    )
    more = len(views) > limit
    views = views[:limit]
    return Page(items=[_out(v) for v in views], next_cursor=encode_cursor([views[-1].id]) if more else None)


@router.get(
    "/{provider}/connect",
    summary="Start connecting the caller's calendar",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "To the provider's consent screen (read the `Location` header and "
            "open it in the person's browser); it returns to `/callback`.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **responses(401, 422),
        **_SERVER_SIDE,
    },
)
async def connect(provider: Provider, caller: Caller, now: Now, connector: Connector) -> RedirectResponse:
    """Read-only access (Google calendar.readonly, Microsoft Calendars.Read) with offline
    access, for the caller's own calendar. The link is valid for 15 minutes."""
    url = await connector.start(caller, provider.value, now)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


_CALLBACK = {
    **responses(400, 401, 403, 409, 422),
    **_SERVER_SIDE,
    400: _problem("Bad or expired state, consent refused, or the code refused by the provider"),
    401: _problem("The person who started connecting no longer exists"),
    403: _problem("The account signed in to is not the person's own address"),
    409: _problem("That calendar is connected to another person"),
}


@router.get(
    "/{provider}/callback",
    summary="Finish connecting a calendar (the provider redirects here)",
    response_model=CalendarOut,
    responses=_CALLBACK,
)
async def callback(
    provider: Provider,
    now: Now,
    connector: Connector,
    state: Annotated[str | None, Query(description="The signed state `/connect` issued.")] = None,
    code: Annotated[str | None, Query(max_length=4096, description="The authorization code.")] = None,
    error: Annotated[str | None, Query(max_length=200, description="Set when consent was refused.")] = None,
):
    """Authenticated by `state`, not by a bearer token. Stores the grant (encrypted) and
    marks the calendar for a full sync; connecting again replaces the grant and
    revives a calendar in error or disconnected. 400: bad or expired state, consent
    refused, code refused; 401: the person no longer exists; 403: the account signed
    in to is not the person's own address."""
    return _out(await connector.finish(provider.value, state=state, code=code, error=error, now=now))


@router.delete(
    "/{calendar_id}", summary="Disconnect a calendar", response_model=CalendarOut, responses=responses(401, 404, 422)
)
async def disconnect(
    calendar_id: Id, session: Session, caller: Caller, now: Now, connector: Connector, background: BackgroundTasks
):
    """Own calendars; admins: any. The calendar stops syncing and its push channels are
    stopped (best effort, after the response); its events, meetings and content stay,
    and the grant is not revoked. Connecting again resumes it."""
    view, stop_channels = await connector.disconnect(session, caller, calendar_id, now)
    if stop_channels is not None:  # background tasks run after the response: after the commit
        background.add_task(stop_channels)
    return _out(view)
