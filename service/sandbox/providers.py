"""Both fake providers for one scenario, served on loopback: what `oneonone replay`
and the demo drive.

    async with SandboxProviders(scenario, clock=clock) as sandbox:
        google = sandbox.google_connection()       # api_endpoint, token_uri, credentials
        microsoft = sandbox.microsoft_connection() # authority, http_client, graph_endpoint
        … the service connects calendars (watch channels, subscriptions) …
        await sandbox.flush()                      # the `sync` messages
        for op in scenario.timeline:
            clock.set(parse_instant(op["at"])); sandbox.apply(op); await sandbox.flush()

Everyone in the scenario's org gets a calendar on their provider; every Google
user gets a refresh token for the sandbox OAuth client, a service account with
domain-wide delegation can impersonate any of them (and the Workspace admin
GOOGLE_ADMIN, to read the directory), and an Entra app with the
Calendars.Read application permission reads every mailbox. One TokenIssuer
serves both fakes, so `expire_access_tokens()` hits both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from service.clock import Clock, SystemClock
from service.sandbox.faults import Faults
from service.sandbox.google_directory import DIRECTORY_SCOPES
from service.sandbox.google_quota import GoogleQuota
from service.sandbox.google_server import READ_SCOPES, GoogleFake
from service.sandbox.google_store import GoogleStore
from service.sandbox.graph_server import GraphFake
from service.sandbox.graph_store import GraphStore
from service.sandbox.notifier import DeliveryResult, Notifier
from service.sandbox.oauth import FAKE_LOGIN_HOST, LoopbackHttpClient, TokenIssuer
from service.sandbox.oauth_google import CALENDAR_SCOPES
from service.sandbox.scenario import Scenario, build_stores, load_scenario
from service.sandbox.serve import LoopbackServer, stop_all

GOOGLE_CLIENT_ID = "1234567890-sandbox.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "GOCSPX-sandbox-not-a-secret"
GOOGLE_SERVICE_ACCOUNT = "oneonone-sync@oneonone-sandbox.iam.gserviceaccount.com"
GOOGLE_ADMIN = "workspace-admin@oneonone-sandbox.test"  # a directory admin without a calendar
ENTRA_CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "oneonone.app.fake.test"))
ENTRA_CLIENT_SECRET = "entra-sandbox-not-a-secret"
GRAPH_APP_SCOPES = ("https://graph.microsoft.com/.default",)
ENTRA_APP_ROLES = ("Calendars.Read", "User.Read.All")


@dataclass(frozen=True)
class GoogleConnection:
    """Everything the service needs to reach the fake Google (settings: google.*)."""

    api_endpoint: str  # client_options={"api_endpoint": …}
    token_uri: str
    directory_endpoint: str  # the Admin SDK's root (client_options for admin directory_v1)
    admin_email: str  # a Workspace admin delegation may act as to read the directory
    client_id: str
    client_secret: str
    refresh_tokens: Mapping[str, str]  # calendar email → refresh token (per-user OAuth)
    service_account_info: Mapping[str, Any] = field(repr=False)  # JSON key, domain-wide delegation
    scopes: tuple[str, ...] = CALENDAR_SCOPES
    clock: Clock | None = field(default=None, repr=False, compare=False)  # the fake's: stamps assertions

    def user_credentials(self, user: str) -> Any:
        from google.oauth2.credentials import Credentials

        return Credentials(
            token=None,
            refresh_token=self.refresh_tokens[user.lower()],
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_uri=self.token_uri,
        )

    def delegated_credentials(self, user: str, scopes: tuple[str, ...] | None = None) -> Any:
        """Domain-wide delegation as `user`, the assertions stamped with the fake's clock
        (google-auth would use the wall clock, which the fake checks them against)."""
        from google.oauth2 import service_account

        clock = self.clock

        class Stamped(service_account.Credentials):
            def _make_authorization_grant_assertion(self) -> bytes:
                if clock is None:
                    return super()._make_authorization_grant_assertion()
                now = int(clock.now().timestamp())
                claims = self.with_claims({"iat": now, "exp": now + 3600})
                return service_account.Credentials._make_authorization_grant_assertion(claims)

        info = dict(self.service_account_info)
        return Stamped.from_service_account_info(info, scopes=list(scopes or self.scopes)).with_subject(user)

    def build_directory(self, credentials: Any) -> Any:
        """An Admin SDK Directory v1 client on the fake (bundled discovery document)."""
        from googleapiclient.discovery import build

        return build(
            "admin",
            "directory_v1",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.directory_endpoint},
        )

    def build(self, credentials: Any) -> Any:
        """A Calendar v3 client on the fake (bundled discovery document: no network)."""
        from googleapiclient.discovery import build

        return build(
            "calendar",
            "v3",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.api_endpoint},
        )


@dataclass(frozen=True)
class MicrosoftConnection:
    """Everything the service needs to reach the fake Graph (settings: microsoft.*)."""

    tenant_id: str
    client_id: str
    client_secret: str
    authority_host: str  # https://login.fake.test
    graph_endpoint: str  # http://127.0.0.1:PORT/v1.0
    login_base_url: str  # where LoopbackHttpClient sends the authority's requests
    scopes: tuple[str, ...] = GRAPH_APP_SCOPES

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    def http_client(self) -> LoopbackHttpClient:
        return LoopbackHttpClient(self.login_base_url, hosts=[self.authority_host.split("://", 1)[1]])

    def msal_app(self, **kwargs: Any) -> Any:
        import msal

        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self.client_secret,
            authority=self.authority,
            instance_discovery=False,
            http_client=self.http_client(),
            **kwargs,
        )


class SandboxProviders:
    def __init__(
        self,
        scenario: Scenario | dict[str, Any] | str | Path | None = None,
        *,
        clock: Clock | None = None,
        auto_deliver: bool = False,
        token_lifetime: timedelta = timedelta(hours=1),
        stub_occurrences: bool = True,
        faults: Faults | None = None,
        max_subscription_minutes: int = 10080,
        channel_max_ttl: timedelta = timedelta(days=30),
        google_quota: GoogleQuota | None = None,
        allow_http_loopback: bool = True,
    ) -> None:
        """`allow_http_loopback`: the fake Google takes http watch addresses on loopback
        (replays, the demo and tests receive there); Google itself, and the fake told
        False, insist on https. `google_quota`: the Calendar API quotas the fake Google enforces (none by
        default; `GoogleQuota.documented()` for Google's 600/user and 10,000/project a
        minute), on `clock`. Change them later with `self.google.set_quota(…)`."""
        if scenario is not None and not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        self.scenario = scenario
        self.clock = clock or SystemClock()
        self.faults = faults or Faults()
        self.notifier = Notifier(faults=self.faults, auto=auto_deliver)
        self.issuer = TokenIssuer(self.clock, lifetime=token_lifetime)
        if scenario is not None:
            google_store, graph_store = build_stores(scenario, stub_occurrences=stub_occurrences)
        else:
            google_store, graph_store = GoogleStore(), GraphStore(stub_occurrences=stub_occurrences)
        shared = {"clock": self.clock, "issuer": self.issuer, "faults": self.faults, "notifier": self.notifier}
        # The service's webhooks listen on loopback http here: the one place the https rules are relaxed.
        self.google = GoogleFake(
            google_store,
            channel_max_ttl=channel_max_ttl,
            quota=google_quota,
            allow_http_loopback=allow_http_loopback,
            **shared,
        )
        self.graph = GraphFake(
            graph_store,
            max_subscription_minutes=max_subscription_minutes,
            allow_loopback_http=allow_http_loopback,
            **shared,
        )
        self.google.auth.register_client(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)
        # Calendars.Read to sync, User.Read.All to resolve each mailbox's immutable user id.
        self.graph.entra.register_app(ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET, ENTRA_APP_ROLES)
        self._refresh_tokens: dict[str, str] = {}
        self._google_server = LoopbackServer(self.google.app, name="fake-google")
        self._graph_server = LoopbackServer(self.graph.app, name="fake-graph")
        # The admin authorized, and each user consented to, every Calendar read scope,
        # so the service may ask for whichever it uses.
        self._service_account = self.google.auth.new_service_account(
            GOOGLE_SERVICE_ACCOUNT,
            token_uri=f"{self._google_server.base_url}/token",
            delegated_scopes=READ_SCOPES | DIRECTORY_SCOPES,
        )
        self.google.directory.add_user(GOOGLE_ADMIN, admin=True)
        for person in scenario.people if scenario is not None else []:
            if person.get("provider") == "google":
                self._issue_refresh_token(person["email"])

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> SandboxProviders:
        self._google_server.start()
        self._graph_server.start()
        return self

    def stop(self) -> None:
        stop_all([self._google_server, self._graph_server])
        self.notifier.close()

    def __enter__(self) -> SandboxProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SandboxProviders:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def google_url(self) -> str:
        return self._google_server.base_url

    @property
    def graph_url(self) -> str:
        return self._graph_server.base_url

    # -- configuration for the service ----------------------------------------------------
    def add_person(self, email: str, provider: str, *, timezone: str = "UTC") -> None:
        if provider == "google":
            self.google.store.add_calendar(email, time_zone=timezone)
            self._issue_refresh_token(email)
        else:
            self.graph.store.add_mailbox(email, time_zone=timezone)

    def _issue_refresh_token(self, email: str) -> None:
        self._refresh_tokens[email.lower()] = self.google.auth.issue_refresh_token(
            GOOGLE_CLIENT_ID, email, sorted(READ_SCOPES)
        )

    def google_connection(self) -> GoogleConnection:
        return GoogleConnection(
            f"{self.google_url}/calendar/v3/",
            f"{self.google_url}/token",
            f"{self.google_url}/",
            GOOGLE_ADMIN,
            GOOGLE_CLIENT_ID,
            GOOGLE_CLIENT_SECRET,
            dict(self._refresh_tokens),
            dict(self._service_account),
            clock=self.clock,
        )

    def microsoft_connection(self) -> MicrosoftConnection:
        return MicrosoftConnection(
            self.graph.tenant_id,
            ENTRA_CLIENT_ID,
            ENTRA_CLIENT_SECRET,
            f"https://{FAKE_LOGIN_HOST}",
            f"{self.graph_url}/v1.0",
            self.graph_url,
        )

    # -- driving ---------------------------------------------------------------------------
    def apply(self, op: dict[str, Any]) -> int:
        """Apply one timeline op to its provider's store; queue the notifications (how many)."""
        return (self.google if op["provider"] == "google" else self.graph).apply(op)

    async def flush(self) -> list[DeliveryResult]:
        """Deliver every queued notification and wait for the receivers' answers."""
        return await self.notifier.flush()

    def flush_sync(self) -> list[DeliveryResult]:
        return self.notifier.flush_sync()

    # -- knobs ---------------------------------------------------------------------------------
    def expire_access_tokens(self) -> int:
        return self.issuer.expire_all()

    def invalidate_sync_tokens(self, calendar: str) -> None:
        """Google sync tokens or Graph delta tokens of `calendar` answer 410 from now on."""
        if calendar.lower() in self.google.store.calendars():
            self.google.expire_sync_tokens(calendar)
        else:
            self.graph.invalidate_delta_tokens(calendar)
