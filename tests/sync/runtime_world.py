"""The service wired as production wires it (service.runtime) against the sandbox
fakes: fake Google and Graph on loopback, and our API served over HTTP on loopback
too, so consent redirects, Graph's validation handshake and push notifications
really reach it. Settings come from `sandbox.google_connection()` /
`sandbox.microsoft_connection()`, as in the replay harness."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from service.clock import FixedClock
from service.runtime import StoppableWorker, build_app, build_worker
from service.sandbox.oauth import LoopbackHttpClient
from service.sandbox.providers import SandboxProviders
from service.sandbox.serve import LoopbackServer
from service.security.crypto import generate_key
from service.settings import GoogleSettings, MicrosoftSettings, Settings


def sandbox_settings(sandbox: SandboxProviders, database_url: str, **changes: Any) -> Settings:
    google, microsoft = sandbox.google_connection(), sandbox.microsoft_connection()
    values: dict[str, Any] = dict(
        _env_file=None,
        database_url=database_url,
        secret_key=generate_key(),
        auth_cache_seconds=0,
        google=GoogleSettings(
            client_id=google.client_id,
            client_secret=google.client_secret,
            api_endpoint=google.api_endpoint,
            token_uri=google.token_uri,
            auth_uri=f"{sandbox.google_url}/o/oauth2/v2/auth",
        ),
        microsoft=MicrosoftSettings(
            tenant_id=microsoft.tenant_id,
            client_id=microsoft.client_id,
            client_secret=microsoft.client_secret,
            authority_host=microsoft.authority_host,
            graph_endpoint=microsoft.graph_endpoint,
        ),
    )
    values.update(changes)
    return Settings(**values)


class _Later:
    """An ASGI app set after the server exists: its port goes into the settings."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class World:
    sandbox: SandboxProviders
    settings: Settings
    clock: FixedClock
    app: FastAPI
    base_url: str
    login: LoopbackHttpClient  # MSAL's http client: https://login.fake.test → the fake

    def worker(self, sessions, **kwargs: Any) -> StoppableWorker:
        return build_worker(self.settings, sessions, self.clock, msal_http_client=self.login, **kwargs)

    def api(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=headers or {}, timeout=30)

    def add(self, email: str, provider: str, *, timezone: str = "Europe/Berlin") -> str:
        self.sandbox.add_person(email, provider, timezone=timezone)
        return email

    def one_on_one(self, provider: str, manager: str, report: str, start: datetime, *, event_id: str) -> None:
        """A 30-minute 1:1 the manager organizes, in both calendars, booked a week earlier."""
        end = start + timedelta(minutes=30)
        booked = start - timedelta(days=7)
        if provider == "google":
            stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
            event = {
                "id": event_id,
                "status": "confirmed",
                "summary": "1:1",
                "iCalUID": f"{event_id}@google.com",
                "start": {"dateTime": stamp(start), "timeZone": "UTC"},
                "end": {"dateTime": stamp(end), "timeZone": "UTC"},
                "organizer": {"email": manager},
                "creator": {"email": manager},
                "attendees": [
                    {"email": manager, "organizer": True, "responseStatus": "accepted"},
                    {"email": report, "responseStatus": "accepted"},
                ],
                "eventType": "default",
            }
            self.sandbox.google.store.create([manager, report], event, at=booked)
            return
        stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.0000000")  # noqa: E731
        event = {
            "id": event_id,
            "iCalUId": f"uid-{event_id}",
            "uid": f"uid-{event_id}",
            "subject": "1:1",
            "type": "singleInstance",
            "start": {"dateTime": stamp(start), "timeZone": "UTC"},
            "end": {"dateTime": stamp(end), "timeZone": "UTC"},
            "originalStartTimeZone": "UTC",
            "originalEndTimeZone": "UTC",
            "recurrence": None,
            "organizer": {"emailAddress": {"name": manager, "address": manager}},
            "attendees": [
                {
                    "type": "required",
                    "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"name": report, "address": report},
                }
            ],
            "showAs": "busy",
            "isAllDay": False,
            "isCancelled": False,
        }
        for mailbox in (manager, report):  # Graph: one copy per mailbox, each with its own id
            copy = {**event, "id": event_id if mailbox == manager else f"{event_id}-{report}"}
            self.sandbox.graph.store.create([mailbox], copy, at=booked)

    async def consent(self, location: str) -> str:
        """Play the person's browser at the provider's consent screen (the fakes consent
        at once): the URL it sends the browser back to, our callback."""
        if location.startswith(self.sandbox.google_url):
            async with httpx.AsyncClient() as browser:
                answer = await browser.get(location)
        else:
            import asyncio

            answer = await asyncio.to_thread(self.login.get, location)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@asynccontextmanager
async def running_world(db_url: str, clock: FixedClock, *, worker: bool = False, **changes: Any):
    """Fakes and our app (its own engine, on its own thread, like `oneonone serve`),
    `worker`: with the in-process worker."""
    async with SandboxProviders(clock=clock) as sandbox:
        shim = _Later()
        server = LoopbackServer(shim, name="oneonone-api", lifespan="on")
        settings = sandbox_settings(sandbox, db_url, public_base_url=server.base_url, **changes)
        login = sandbox.microsoft_connection().http_client()
        shim.app = build_app(settings, worker=worker, clock=clock, msal_http_client=login)
        server.start()
        try:
            yield World(sandbox, settings, clock, shim.app, server.base_url, login)
        finally:
            server.stop(timeout=30)
            login.close()
