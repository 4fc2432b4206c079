"""A person connecting and disconnecting their own calendar: what the calendars
API does, without HTTP.

- `start`: the provider's consent screen, with a signed `state`.
- `finish`: the provider's redirect back. It is authenticated by the state
  (service.security.connect_state), not a bearer token; it trades the code at
  the provider first and only then opens its short write transaction, so no
  database lock is held across provider I/O.
- `disconnect`: the calendar stops syncing and its channels are retired here;
  stopping them at the provider is handed back as a job to run after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.clock import Clock
from service.db.models import Calendar, Person
from service.domain import connections
from service.domain.access import Principal
from service.domain.connections import CalendarView
from service.errors import AppError, BadRequest, NotFound, ProviderUnavailable, Unauthorized
from service.security import connect_state
from service.security.crypto import SecretKeyMissing, Vault
from service.settings import Settings
from service.sync import grants
from service.sync.port import AuthorizationFailed, CalendarRef, Channel, ConnectFlow, Grant, ProviderError
from service.sync.registry import build_connect_flow, build_provider, close_providers

log = structlog.get_logger(__name__)
Job = Callable[[], Awaitable[None]]


class InvalidState(AppError):
    status, title, slug = 400, "Invalid connect state", "invalid-state"


class CalendarConnector:
    """One per app. `msal_http_client`: MSAL's transport (None in production; the
    sandbox's loopback)."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        sessions: async_sessionmaker[AsyncSession],
        *,
        msal_http_client: Any = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._msal_http_client = msal_http_client
        self._flows: dict[str, ConnectFlow] = {}

    async def start(self, caller: Principal, provider: str, now: datetime) -> str:
        """The consent screen's URL for the caller's own calendar (valid 15 minutes)."""
        flow = self._flow(provider)
        state = connect_state.sign(self._secret_key(), caller.person_id, provider, now)
        try:
            return await flow.authorization_url(self._redirect_uri(provider), state, caller.email)
        except ProviderError as err:
            raise ProviderUnavailable(f"{provider} sign-in is unavailable ({type(err).__name__})") from None

    async def finish(
        self, provider: str, *, state: str | None, code: str | None, error: str | None, now: datetime
    ) -> CalendarView:
        """Store the grant (encrypted) and mark the calendar for a full sync."""
        try:
            verified = connect_state.verify(self._secret_key(), state, provider, now)
        except connect_state.InvalidState as exc:
            raise InvalidState(str(exc)) from None
        if error is not None:
            raise BadRequest(f"{provider} did not grant access ({_error_code(error)})")
        if not code:
            raise BadRequest("the provider sent no authorization code")
        flow = self._flow(provider)
        vault = Vault(self._secret_key())
        grant = await self._exchange(flow, code)
        async with self._sessions() as session:
            person = await session.get(Person, verified.person_id)
            if person is None:
                raise Unauthorized("the person who started connecting no longer exists")
            calendar = await connections.connect_user(
                session,
                vault,
                person=person,
                provider=provider,
                account=_account(grant, person.email),
                refresh_token=grant.refresh_token,
                scopes=grant.scopes,
                now=now,
            )
            if grant.user_id:
                calendar.provider_user_id = grant.user_id
            await session.commit()
            [view] = await connections.list_calendars(session, calendar_id=calendar.id, now=now)
        log.info("calendar_connected", provider=provider, person_id=person.id, calendar_id=calendar.id)
        return view

    async def disconnect(
        self, session: AsyncSession, caller: Principal, calendar_id: int, now: datetime
    ) -> tuple[CalendarView, Job | None]:
        """Own calendars; admins: any. Returns the calendar and, when it had live
        channels, the job stopping them at the provider (best effort)."""
        calendar = await session.get(Calendar, calendar_id, with_for_update=True)
        if calendar is None or (calendar.person_id != caller.person_id and not caller.is_admin):
            raise NotFound(f"calendar {calendar_id} not found")
        channels = await connections.disconnect(session, calendar, now)
        job = await self._stopping(session, calendar, channels) if channels else None
        [view] = await connections.list_calendars(session, calendar_id=calendar.id, now=now)
        return view, job

    # -- helpers ------------------------------------------------------------------------------
    def _flow(self, provider: str) -> ConnectFlow:
        if provider not in self._flows:
            self._flows[provider] = build_connect_flow(
                provider, self._settings, msal_http_client=self._msal_http_client
            )
        return self._flows[provider]

    def _secret_key(self) -> str:
        return self._settings.secret_key.get_secret_value()

    def _redirect_uri(self, provider: str) -> str:
        return f"{self._settings.public_base_url.rstrip('/')}/v1/calendars/{provider}/callback"

    async def _exchange(self, flow: ConnectFlow, code: str) -> Grant:
        try:
            return await flow.exchange_code(code, self._redirect_uri(flow.name))
        except AuthorizationFailed as err:  # messages name the status and error code only
            raise BadRequest(f"{flow.name} refused the authorization code: {err}") from None
        except ProviderError as err:
            raise ProviderUnavailable(
                f"{flow.name} could not be reached ({type(err).__name__}): start connecting again"
            ) from None

    async def _stopping(self, session: AsyncSession, calendar: Calendar, rows: list) -> Job | None:
        try:
            vault = Vault(self._secret_key())
            [(_row, ref)] = await grants.read_calendars(session, [calendar.id], vault)
        except SecretKeyMissing:
            log.warning("channel_stop_skipped", calendar_id=calendar.id, reason="grant unreadable")
            return None
        channels = [Channel(c.channel_id, c.resource_id, c.expires_at) for c in rows]

        async def stop() -> None:
            await self._stop_channels(ref, calendar.provider, channels, vault)

        return stop

    async def _stop_channels(self, ref: CalendarRef, provider_name: str, channels: list[Channel], vault: Vault) -> None:
        """Best effort: a channel left open at the provider only sends notifications the
        webhooks already ignore (it is marked stopped), until it expires."""
        provider = build_provider(
            provider_name,
            self._settings,
            self._clock,
            msal_http_client=self._msal_http_client,
            on_refresh_token=grants.store_rotated_refresh_tokens(self._sessions, vault, self._clock),
        )
        try:
            for channel in channels:
                try:
                    await provider.stop(ref, channel)
                except (ProviderError, ValueError) as err:
                    log.info(
                        "channel_stop_failed",
                        calendar_id=ref.calendar_id,
                        channel_id=channel.channel_id,
                        error=type(err).__name__,
                    )
        finally:
            await close_providers({provider_name: provider})


def _account(grant: Grant, email: str) -> str:
    """The person's own address when the account answers to it (Graph: its mail, UPN
    or any smtp proxyAddress; a sign-in name alone is neither fixed nor a mail
    address), else the account's primary one (connect_user refuses it then)."""
    return email if email in grant.addresses else grant.account


def _error_code(value: str) -> str:
    """The provider's `error` parameter, quoted only when it looks like an OAuth error code."""
    code = value.strip()
    return code if code and code.replace("_", "").isalpha() and len(code) <= 40 else "refused"
