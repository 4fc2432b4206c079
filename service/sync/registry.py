"""Which adapters serve which provider, built from Settings: the only module
outside service/sync/providers/ that names a concrete adapter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from service.clock import Clock
from service.domain.connections import PROVIDERS
from service.errors import AppError
from service.settings import Settings
from service.sync.port import (
    UNLIMITED,
    CalendarProvider,
    CallBudget,
    ConnectFlow,
    DirectoryLookup,
    RefreshTokenHook,
    TokenCache,
)
from service.sync.providers.google.adapter import GoogleCalendarProvider
from service.sync.providers.google.auth import GoogleConnect
from service.sync.providers.microsoft.adapter import GraphCalendarProvider
from service.sync.providers.microsoft.consent import GraphConnect


class NotConfigured(AppError):
    status, title, slug = 501, "Provider not configured", "provider-not-configured"


class UnknownProvider(ValueError):
    pass


def configured_providers(settings: Settings) -> set[str]:
    """Providers whose credentials the settings hold (a web app for people's own
    consent, or Google's process-wide service-account key)."""
    names = set()
    if settings.google.client_id or settings.google.service_account_file:
        names.add("google")
    if settings.microsoft.client_id:
        names.add("microsoft")
    return names


def build_provider(
    name: str,
    settings: Settings,
    clock: Clock,
    *,
    msal_http_client: Any = None,
    on_refresh_token: RefreshTokenHook | None = None,
    budget: CallBudget = UNLIMITED,
    tokens: TokenCache | None = None,
) -> CalendarProvider:
    """`msal_http_client`: MSAL's transport (None in production; the sandbox's loopback);
    `budget`: the provider calls all workers may still make (service.sync.budget);
    `tokens`: the access tokens the workers share (Google's delegated ones)."""
    if name == "google":
        return GoogleCalendarProvider(settings.google, clock=clock, budget=budget, tokens=tokens)
    if name == "microsoft":
        return GraphCalendarProvider(
            settings, clock=clock, msal_http_client=msal_http_client, on_refresh_token=on_refresh_token, budget=budget
        )
    raise UnknownProvider(f"unknown calendar provider {name!r}")


def build_directory(name: str, settings: Settings, clock: Clock) -> DirectoryLookup:
    """The provider's directory as an org grant reads it (connect-all): Google's
    Workspace directory; Microsoft has none here yet."""
    if name == "google":
        return GoogleCalendarProvider(settings.google, clock=clock)
    raise UnknownProvider(f"no directory lookup for calendar provider {name!r}")


def build_connect_flow(name: str, settings: Settings, *, msal_http_client: Any = None) -> ConnectFlow:
    """A person's consent flow; NotConfigured without this server's OAuth app."""
    if name not in PROVIDERS:
        raise UnknownProvider(f"unknown calendar provider {name!r}")
    app = settings.google if name == "google" else settings.microsoft
    if not app.client_id or not app.client_secret.get_secret_value():
        raise NotConfigured(
            f"{name} calendars cannot be connected here: the server has no "
            f"ONEONONE_{name.upper()}__CLIENT_ID / __CLIENT_SECRET"
        )
    if name == "google":
        return GoogleConnect(settings.google)
    return GraphConnect(settings.microsoft, http_client=msal_http_client)


class ProviderSet(Mapping[str, CalendarProvider]):
    """The configured adapters, plus any other known provider built the first time a
    calendar of it is synced: an org grant carries its own credentials (connect-all
    stores the key or the app secret), so it needs no provider settings, and a
    worker started before the grant was made still serves it."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        msal_http_client: Any = None,
        on_refresh_token: RefreshTokenHook | None = None,
        budget: CallBudget = UNLIMITED,
        tokens: TokenCache | None = None,
    ) -> None:
        self._options = dict(
            msal_http_client=msal_http_client, on_refresh_token=on_refresh_token, budget=budget, tokens=tokens
        )
        self._settings, self._clock = settings, clock
        self._built = {
            name: build_provider(name, settings, clock, **self._options)
            for name in sorted(configured_providers(settings))
        }

    def __getitem__(self, name: str) -> CalendarProvider:
        if name not in self._built:
            if name not in PROVIDERS:
                raise KeyError(name)
            self._built[name] = build_provider(name, self._settings, self._clock, **self._options)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._built))

    def __len__(self) -> int:
        return len(self._built)


async def close_providers(providers: Mapping[str, CalendarProvider]) -> None:
    """Release the adapters' HTTP clients and the connections they keep."""
    for name in list(providers):
        closer = getattr(providers[name], "aclose", None)
        if closer is not None:
            await closer()
