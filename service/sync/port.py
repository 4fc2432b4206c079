"""The one port between the service and calendar providers.

Adapters (service/sync/providers/google/, …/microsoft/) speak their provider's
protocol and return provider-neutral values: EventSnapshots, opaque cursors,
channels and grants. Nothing past this module knows about sync tokens vs delta
links, stubs, Windows time zones, MSAL or service accounts.

Two protocols: `CalendarProvider` (reading a calendar and keeping a push channel
on it, for the workers) and `ConnectFlow` (a person's consent, for the calendars
API). The registry (service.sync.providers) builds both from settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from service.domain.calendar_states import ReconnectReason
from service.domain.events import EventSnapshot


@dataclass(frozen=True, slots=True)
class CalendarRef:
    """What an adapter needs to address one calendar."""

    calendar_id: int  # our row id (for logs)
    email: str  # the owner's email: EventSnapshot.calendar
    external_id: str  # Google calendarId / the Graph user's address (UPN or mail)
    credentials: str  # decrypted grant: refresh token or org credentials (never logged)
    connection_kind: str  # "user" | "org"
    time_zone: str | None = None
    provider_user_id: str | None = None  # the owner's immutable id at the provider, when known


@dataclass(frozen=True, slots=True)
class Identity:
    """A person's account as the provider names it now: the address to use
    (Google: the primary email, which is the calendarId and the delegation
    subject) and the immutable id that finds it again after a rename."""

    address: str
    user_id: str


@dataclass(frozen=True, slots=True)
class SyncWindow:
    """Bounds of a full sync: Google uses `start` (timeMin); Graph's delta view
    is fixed to [start, end) when the baseline is taken."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """One increment: upserted events, removed event ids, and the cursor to
    resume from. `baseline` is set on a full sync; on Graph a baseline is
    complete for its window, so stored events in it that are absent were removed.
    `removed_window`: the window of the round the removals come from, when they
    are relative to one (Graph's delta also names events outside it, and events
    that left it, as removed): a removal then counts only for an event stored
    inside the window and confirmed gone (reconciler.confirm_removals). None:
    every removal is a deletion (Google)."""

    upserts: list[EventSnapshot] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cursor: str = ""
    baseline: SyncWindow | None = None
    time_zone: str | None = None  # the calendar's own zone, when the provider says
    removed_window: SyncWindow | None = None
    provider_user_id: str | None = None  # the owner's immutable id, when this call learnt it: store it


@dataclass(frozen=True, slots=True)
class Grant:
    """What a person's consent yields: a refresh token for the account they signed
    in to, and the scopes asked for. `addresses`: every address the account
    answers to (Graph: mail, userPrincipalName and proxyAddresses), to match the
    person against; `user_id`: the account's immutable id, when the provider has one."""

    refresh_token: str = field(repr=False)
    account: str  # the connected account's email, lower-cased
    scopes: str  # space-separated
    addresses: tuple[str, ...] = ()  # lower-cased; empty: `account` alone
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """A push channel as created: Google watch channel or Graph subscription."""

    channel_id: str
    resource_id: str | None
    expires_at: datetime


# Called with a delegated grant's newer refresh token (Entra rotates them on use), to store it.
RefreshTokenHook = Callable[[CalendarRef, str], Awaitable[None]]


class TokenCache(Protocol):
    """Access tokens shared by a deployment's processes (service.sync.grants.SharedTokens),
    so that each is minted once while it lives rather than once per process. `key`
    names what a token is for (a digest, never a secret); times are the clock's."""

    async def get(self, key: str) -> tuple[str, datetime] | None: ...

    async def put(self, key: str, token: str, expires_at: datetime) -> None: ...


class ProviderError(Exception):
    """A provider call failed. `retry_after` (seconds) when the provider said so."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None, transient: bool = True
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.transient = transient


class FullResyncRequired(ProviderError):
    """The cursor expired (Google 410 fullSyncRequired, Graph 410 syncStateNotFound)."""

    def __init__(self, message: str = "full resync required") -> None:
        super().__init__(message, status=410, transient=True)


class AuthorizationFailed(ProviderError):
    """The grant cannot read this calendar; `reason` says why (a person must act, or
    wait for the provider: see ReconnectReason)."""

    def __init__(
        self, message: str, *, reason: ReconnectReason = ReconnectReason.consent_withdrawn, status: int = 401
    ) -> None:
        super().__init__(message, status=status, transient=False)
        self.reason = reason


class Throttled(ProviderError):
    """The provider's quota or rate limit (Google 403 rateLimitExceeded / 429, Graph 429):
    transient; `retry_after` when the provider said so."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, status=status, retry_after=retry_after, transient=True)


class ListingTooLong(ProviderError):
    """A listing went past `ListingBounds`: a provider looping over its pages, or a
    calendar no 1:1 engine should hold in memory. Transient: the calendar backs off
    and, if it keeps happening, is reported stalled (see calendar_states)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


MAX_LISTED_EVENTS, MAX_LISTED_PAGES = 250_000, 10_000


@dataclass(slots=True)
class ListingBounds:
    """The bounds of one fetch_changes: every page's items are kept until the
    increment is reconciled in one transaction, so an unbounded listing is unbounded
    memory. 250,000 events is decades of a busy calendar (bench/sync.py lists
    100,000); 10,000 pages bounds a provider answering empty pages forever, and a
    page token seen twice is a loop at once."""

    op: str
    max_events: int = MAX_LISTED_EVENTS
    max_pages: int = MAX_LISTED_PAGES
    events: int = 0
    pages: int = 0
    _tokens: set[str] = field(default_factory=set)

    def page(self, items: int, next_token: str | None) -> None:
        """Count a page of `items` whose continuation is `next_token`."""
        self.pages += 1
        self.events += items
        if self.events > self.max_events or self.pages > self.max_pages:
            raise ListingTooLong(
                f"{self.op}: more than {self.max_events:,} events or {self.max_pages:,} pages in one listing"
            )
        if next_token is not None:
            if next_token in self._tokens:
                raise ListingTooLong(f"{self.op}: the provider repeated a page token (page {self.pages})")
            self._tokens.add(next_token)


class CalendarProvider(Protocol):
    name: str
    # True when a cursor only covers the window of its baseline (Graph delta): the
    # engine then re-takes the baseline as time moves on. Google's token covers all.
    windowed: bool

    async def fetch_changes(self, calendar: CalendarRef, cursor: str | None, window: SyncWindow) -> ChangeSet:
        """Everything changed since `cursor`, or a full sync over `window` when
        `cursor` is None. Raises FullResyncRequired, ProviderError."""

    async def get_event(self, calendar: CalendarRef, event_id: str) -> EventSnapshot | None:
        """The event as it is now; None if it no longer exists (e.g. a deleted
        series whose instances were reported removed)."""

    async def watch(
        self, calendar: CalendarRef, address: str, lifecycle_address: str, secret: str, ttl_seconds: int
    ) -> Channel:
        """Open a push channel delivering to `address` with `secret` as the
        channel token / clientState."""

    async def renew(self, calendar: CalendarRef, channel: Channel, ttl_seconds: int) -> Channel | None:
        """Extend a channel in place (Graph); None when the provider cannot (Google:
        open a new channel, then stop the old one)."""

    async def reauthorize(self, calendar: CalendarRef, channel: Channel) -> Channel | None:
        """Answer the provider's challenge to re-confirm a channel's authorization (Graph's
        `reauthorizationRequired`: POST /subscriptions/{id}/reauthorize), keeping the
        channel; None when it is gone (the caller opens a new one). Providers that
        never challenge (Google) return the channel unchanged."""

    async def stop(self, calendar: CalendarRef, channel: Channel) -> None:
        """Close a channel; late notifications for it are ignored by the webhooks."""


class DirectoryLookup(Protocol):
    """The provider's directory, read with an org grant (connect-all)."""

    async def resolve(self, credentials: str, keys: list[str]) -> dict[str, Identity]:
        """Each key (an address, alias or immutable id) the directory knows → its
        Identity; unknown keys are left out. Raises AuthorizationFailed when the
        grant may not read the directory, ProviderError otherwise."""


class ConnectFlow(Protocol):
    """A person's own OAuth consent: to the provider's consent screen and back."""

    name: str

    async def authorization_url(self, redirect_uri: str, state: str, login_hint: str | None) -> str:
        """Where to send the person: read-only calendar access with offline access,
        coming back to `redirect_uri` with `state`."""

    async def exchange_code(self, code: str, redirect_uri: str) -> Grant:
        """Redeem the authorization code. Raises AuthorizationFailed (refused) or
        ProviderError (unreachable); messages carry no secrets."""


class CallBudget(Protocol):
    """The provider calls all workers may still make (service.sync.budget): adapters
    spend one before every API call; it waits for a refill, or raises Throttled."""

    async def spend(self, provider: str, account: str) -> None: ...


class _Unlimited:
    async def spend(self, provider: str, account: str) -> None:
        return None


UNLIMITED: CallBudget = _Unlimited()  # no budget: replays, and tests against fakes without quotas
