"""The Google sandbox the adapter tests run against: the fake Google Calendar v3
server on loopback, behind a recorder that lets tests see the requests the
client really sent, and a tiny push receiver."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.clock import FixedClock
from service.sandbox.google_server import GoogleFake
from service.sandbox.google_store import GoogleStore
from service.sandbox.serve import LoopbackServer
from service.settings import GoogleSettings
from service.sync.port import CalendarRef, SyncWindow
from tests.sandbox.builders import google_event

UTC = UTC
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
WINDOW = SyncWindow(start=datetime(2025, 12, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC))
CLIENT_ID, CLIENT_SECRET = "oneonone-test.apps.googleusercontent.com", "GOCSPX-sandbox-secret"
WEEKLY = ["RRULE:FREQ=WEEKLY;BYDAY=MO"]
numbers = itertools.count(1)


class Recorder:
    """ASGI wrapper noting (method, path, query) of every request the fake receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.clients: list[tuple[str, int]] = []  # each request's client address (its connection)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"], parse_qs(scope["query_string"].decode())))
            self.clients.append(tuple(scope["client"]))
        await self.app(scope, receive, send)

    def lists(self) -> list[dict[str, list[str]]]:
        return [q for m, p, q in self.requests if m == "GET" and p.endswith("/events")]


class Sandbox:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.store = GoogleStore()
        self.fake = GoogleFake(self.store, clock=self.clock, allow_http_loopback=True)  # the receivers' http
        self.fake.auth.register_client(CLIENT_ID, CLIENT_SECRET)
        self.recorder = Recorder(self.fake.app)
        self.server = LoopbackServer(self.recorder, name="google-fake").start()
        self.base = self.server.base_url
        self.settings = GoogleSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            api_endpoint=f"{self.base}/calendar/v3/",
            token_uri=f"{self.base}/token",
            directory_endpoint=f"{self.base}/",
        )

    def person(self, name: str) -> str:
        """A fresh calendar per test: tests share one server, never its data."""
        email = f"{name}.{next(numbers)}@acme.test"
        self.store.add_calendar(email, time_zone="Europe/Berlin")
        return email

    def user_ref(self, email: str, *, external_id: str | None = None) -> CalendarRef:
        token = self.fake.auth.issue_refresh_token(CLIENT_ID, email)
        return CalendarRef(
            calendar_id=next(numbers),
            email=email,
            external_id=external_id or email,
            credentials=token,
            connection_kind="user",
        )


class Receiver:
    """The tiny push receiver: records each notification's headers and body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            return Response(status_code=200)

        self.server = LoopbackServer(
            Starlette(routes=[Route("/hooks/google", hook, methods=["POST"])]), name="receiver"
        ).start()
        self.address = f"{self.server.base_url}/hooks/google"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seed_calendar(store: GoogleStore, email: str) -> None:
    """A single, a weekly series, an old event before the window, a cancelled event."""
    store.create([email], google_event("single1"), at=at("2026-01-02T08:00:00Z"))
    store.create([email], google_event("weekly1", recurrence=WEEKLY), at=at("2026-01-02T08:01:00Z"))
    store.create(
        [email],
        google_event("ancient", start="2025-06-02T10:00:00+02:00", end="2025-06-02T10:30:00+02:00"),
        at=at("2026-01-02T08:02:00Z"),
    )
    for n in range(4):
        store.create(
            [email],
            google_event(f"more{n}", start=f"2026-02-0{n + 2}T10:00:00+01:00", end=f"2026-02-0{n + 2}T10:30:00+01:00"),
            at=at("2026-01-02T08:03:00Z"),
        )
    store.create([email], google_event("dropped"), at=at("2026-01-02T08:04:00Z"))
    store.delete([email], "dropped", at=at("2026-01-02T08:05:00Z"))
