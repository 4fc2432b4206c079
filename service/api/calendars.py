"""Calendars: which calendars sync and how they are doing, a person's own connect
flow (consent at Google or Microsoft, then back to the callback), and disconnecting.

The callback is reached by the provider's browser redirect, without our bearer
token: the signed `state` authenticates it (service.security.connect_state). It
trades the code at the provider first and only then opens its short write
transaction, so no database lock is held across provider I/O."""
from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import RedirectResponse

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import MEDIA_TYPE, Problem, responses
from service.api.schemas.calendars import CalendarOut, CalendarStatus, Provider
from service.api.schemas.common import Id
from service.db.models import Calendar, CalendarConnection, Person
from service.domain import connections
from service.errors import AppError, BadRequest, NotFound, ProviderUnavailable, Unauthorized
from service.security import connect_state
from service.runtime import stop_channels, store_rotated_refresh_tokens
from service.security.crypto import SecretKeyMissing, Vault
from service.settings import Settings
from service.sync import google, microsoft_auth
from service.sync.provider import AuthorizationFailed, CalendarRef, Channel, ProviderError

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/calendars", tags=["calendars"])


class NotConfigured(AppError):
    status, title, slug = 501, "Provider not configured", "provider-not-configured"


class InvalidState(AppError):
    status, title, slug = 400, "Invalid connect state", "invalid-state"


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {MEDIA_TYPE: {}}}


_SERVER_SIDE = {500: _problem("ONEONONE_SECRET_KEY is not configured"),
                501: _problem("This server has no OAuth app for the provider"),
                503: _problem("The provider could not be reached; try again")}


def _redirect_uri(settings: Settings, provider: Provider) -> str:
    return f"{settings.public_base_url.rstrip('/')}/v1/calendars/{provider.value}/callback"


def _require_oauth_app(settings: Settings, provider: Provider) -> None:
    app = settings.google if provider is Provider.google else settings.microsoft
    if not app.client_id or not app.client_secret.get_secret_value():
        raise NotConfigured(f"{provider.value} calendars cannot be connected here: the server has no "
                            f"ONEONONE_{provider.value.upper()}__CLIENT_ID / __CLIENT_SECRET")


def _out(view: connections.CalendarView) -> CalendarOut:
    return CalendarOut.model_validate(view)


@router.get("", summary="List calendars and their sync state", response_model=Page[CalendarOut],
            responses=responses(400, 401, 422))
async def list_calendars(session: Session, caller: Caller, limit: Limit = 50, cursor: Cursor = None,
                         provider: Provider | None = None, status: CalendarStatus | None = None):
    """The caller's own calendars; an admin's: everyone's. Ordered by id. Never shows a
    grant, a sync cursor or a channel secret."""
    views = await connections.list_calendars(
        session, person_id=None if caller.is_admin else caller.person_id,
        provider=provider.value if provider else None, status=status.value if status else None,
        after_id=decode_int_cursor(cursor), limit=limit + 1)
    more = len(views) > limit
    views = views[:limit]
    return Page(items=[_out(v) for v in views], next_cursor=encode_cursor([views[-1].id]) if more else None)


@router.get("/{provider}/connect", summary="Start connecting the caller's calendar", status_code=302,
            response_class=RedirectResponse,
            responses={302: {"description": "To the provider's consent screen (read the `Location` header and "
                                            "open it in the person's browser); it returns to `/callback`.",
                             "headers": {"Location": {"schema": {"type": "string"}}}},
                       **responses(401, 422), **_SERVER_SIDE})
async def connect(provider: Provider, request: Request, caller: Caller, now: Now) -> RedirectResponse:
    """Read-only access (Google calendar.readonly, Microsoft Calendars.Read) with offline
    access, for the caller's own calendar. The link is valid for 15 minutes."""
    settings: Settings = request.app.state.settings
    _require_oauth_app(settings, provider)
    state = connect_state.sign(settings.secret_key.get_secret_value(), caller.person_id, provider.value, now)
    redirect_uri = _redirect_uri(settings, provider)
    if provider is Provider.google:
        url = google.authorization_url(settings, redirect_uri, state, login_hint=caller.email,
                                       auth_uri=settings.google.auth_uri)
    else:
        try:  # blocking the first time (MSAL fetches the authority's metadata)
            url = await asyncio.to_thread(microsoft_auth.authorization_url, settings, redirect_uri, state,
                                          login_hint=caller.email,
                                          http_client=getattr(request.app.state, "msal_http_client", None))
        except ProviderError as err:
            raise ProviderUnavailable(f"microsoft sign-in is unavailable ({type(err).__name__})") from None
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


def _provider_error_code(value: str) -> str:
    code = value.strip()
    return code if code and code.replace("_", "").isalpha() and len(code) <= 40 else "refused"


async def _exchange(request: Request, settings: Settings, provider: Provider, code: str) -> tuple[str, str]:
    redirect_uri = _redirect_uri(settings, provider)
    try:
        if provider is Provider.google:
            return await google.exchange_code(settings, code, redirect_uri)
        return await microsoft_auth.exchange_code(settings, code, redirect_uri,
                                                  http_client=getattr(request.app.state, "msal_http_client", None))
    except AuthorizationFailed as err:  # messages name the status and error code only
        raise BadRequest(f"{provider.value} refused the authorization code: {err}") from None
    except ProviderError as err:
        raise ProviderUnavailable(f"{provider.value} could not be reached ({type(err).__name__}): "
                                  "start connecting again") from None


_CALLBACK = {**responses(400, 401, 403, 409, 422), **_SERVER_SIDE,
             400: _problem("Bad or expired state, consent refused, or the code refused by the provider"),
             401: _problem("The person who started connecting no longer exists"),
             403: _problem("The account signed in to is not the person's own address"),
             409: _problem("That calendar is connected to another person")}


@router.get("/{provider}/callback", summary="Finish connecting a calendar (the provider redirects here)",
            response_model=CalendarOut, responses=_CALLBACK)
async def callback(provider: Provider, request: Request, now: Now,
                   state: Annotated[str | None, Query(description="The signed state `/connect` issued.")] = None,
                   code: Annotated[str | None, Query(max_length=4096, description="The authorization code.")] = None,
                   error: Annotated[str | None, Query(max_length=200, description="Set when consent was refused."
                                                      )] = None):
    """Authenticated by `state`, not by a bearer token. Stores the grant (encrypted) and
    marks the calendar for a full sync; connecting again replaces the grant and
    revives a calendar in error or disconnected. 400: bad or expired state, consent
    refused, code refused; 401: the person no longer exists; 403: the account signed
    in to is not the person's own address."""
    settings: Settings = request.app.state.settings
    try:
        verified = connect_state.verify(settings.secret_key.get_secret_value(), state, provider.value, now)
    except connect_state.InvalidState as exc:
        raise InvalidState(str(exc)) from None
    if error is not None:
        raise BadRequest(f"{provider.value} did not grant access ({_provider_error_code(error)})")
    if not code:
        raise BadRequest("the provider sent no authorization code")
    _require_oauth_app(settings, provider)
    vault = Vault(settings.secret_key.get_secret_value())
    refresh_token, account = await _exchange(request, settings, provider, code)
    scopes = " ".join(google.SCOPES if provider is Provider.google else microsoft_auth.DELEGATED_SCOPES)
    async with request.app.state.sessions() as session:
        person = await session.get(Person, verified.person_id)
        if person is None:
            raise Unauthorized("the person who started connecting no longer exists")
        calendar = await connections.connect_user(session, vault, person=person, provider=provider.value,
                                                  account=account, refresh_token=refresh_token, scopes=scopes,
                                                  now=now)
        await session.commit()
        [view] = await connections.list_calendars(session, calendar_id=calendar.id)
    log.info("calendar_connected", provider=provider.value, person_id=person.id, calendar_id=calendar.id)
    return _out(view)


@router.delete("/{calendar_id}", summary="Disconnect a calendar", response_model=CalendarOut,
               responses=responses(401, 404, 422))
async def disconnect(calendar_id: Id, request: Request, session: Session, caller: Caller, now: Now,
                     background: BackgroundTasks):
    """Own calendars; admins: any. The calendar stops syncing and its push channels are
    stopped (best effort, after the response); its events, meetings and content stay,
    and the grant is not revoked. Connecting again resumes it."""
    calendar = await session.get(Calendar, calendar_id, with_for_update=True)
    if calendar is None or (calendar.person_id != caller.person_id and not caller.is_admin):
        raise NotFound(f"calendar {calendar_id} not found")
    channels = await connections.disconnect(session, calendar, now)
    if channels:
        await _stop_later(request, session, background, calendar,
                          [Channel(c.channel_id, c.resource_id, c.expires_at) for c in channels])
    [view] = await connections.list_calendars(session, calendar_id=calendar.id)
    return _out(view)


async def _stop_later(request: Request, session, background: BackgroundTasks, calendar: Calendar,
                      channels: list[Channel]) -> None:
    """Background tasks run after the response, so after the unit of work committed."""
    settings: Settings = request.app.state.settings
    connection = await session.get(CalendarConnection, calendar.connection_id)
    person = await session.get(Person, calendar.person_id)
    try:
        vault = Vault(settings.secret_key.get_secret_value())
        secret = vault.decrypt(connection.secret_encrypted) if connection.secret_encrypted else ""
    except SecretKeyMissing:
        log.warning("channel_stop_skipped", calendar_id=calendar.id, reason="grant unreadable")
        return
    ref = CalendarRef(calendar_id=calendar.id, email=person.email, external_id=calendar.external_id,
                      credentials=secret, connection_kind=connection.kind, time_zone=calendar.time_zone)
    clock = request.app.state.clock
    background.add_task(stop_channels, settings, clock, ref, calendar.provider, channels,
                        msal_http_client=getattr(request.app.state, "msal_http_client", None),
                        on_refresh_token=store_rotated_refresh_tokens(request.app.state.sessions, vault, clock))
