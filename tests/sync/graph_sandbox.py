"""The fake Microsoft Graph + Entra server on loopback for the adapter tests,
with a recorder in front of it and a tiny notification receiver beside it."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from service.clock import FixedClock
from service.sandbox.graph_server import GraphFake
from service.sandbox.graph_store import GraphStore
from service.sandbox.oauth import LoopbackHttpClient, TokenIssuer
from service.sandbox.oauth_entra import object_id
from service.sandbox.serve import LoopbackServer
from service.settings import MicrosoftSettings, Settings
from service.sync.port import CalendarRef, SyncWindow
from tests.sandbox.builders import graph_event

UTC = UTC
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
WINDOW = SyncWindow(start=datetime(2026, 2, 1, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC))
CLIENT_ID, SECRET = "3f1c9e2a-0000-4000-8000-oneonone0001", "entra-test-secret-DO-NOT-LOG"
REDIRECT = "http://127.0.0.1:8000/calendars/microsoft/callback"
MASTER = "AAMkSeries1="
WEEKLY_MONDAYS = [
    "2026-02-02",
    "2026-02-09",
    "2026-02-16",
    "2026-02-23",
    "2026-03-02",
    "2026-03-09",
    "2026-03-16",
    "2026-03-23",
    "2026-03-30",
]  # 09:00 Berlin; CEST from 29 March
_numbers = itertools.count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Recorder:
    """ASGI wrapper noting each request (method, path, query, headers) and the status answered."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call = {
            "method": scope["method"],
            "path": scope["path"],
            "query": parse_qs(scope["query_string"].decode()),
            "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            "status": None,
        }
        self.calls.append(call)

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                call["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)

    def api(self, method: str = "GET", contains: str = "") -> list[dict[str, Any]]:
        return [
            c for c in self.calls if c["path"].startswith("/v1.0/") and c["method"] == method and contains in c["path"]
        ]


class Receiver:
    """The tiny notification receiver: answers Graph's validation handshake, records the rest."""

    def __init__(self) -> None:
        self.validations: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []

        def endpoint(sink: list[dict[str, Any]]):
            async def hook(request: Request) -> Response:
                token = request.query_params.get("validationToken")
                if token is not None:
                    self.validations.append(token)
                    return PlainTextResponse(token)
                sink.append(json.loads(await request.body()))
                return Response(status_code=202)

            return hook

        app = Starlette(
            routes=[
                Route("/hooks/graph", endpoint(self.notifications), methods=["POST"]),
                Route("/hooks/graph/lifecycle", endpoint(self.lifecycle), methods=["POST"]),
            ]
        )
        self.server = LoopbackServer(app, name="receiver").start()
        self.address = f"{self.server.base_url}/hooks/graph"
        self.lifecycle_address = f"{self.server.base_url}/hooks/graph/lifecycle"


class Sandbox:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.store = GraphStore()
        self.fake = GraphFake(self.store, clock=self.clock, issuer=TokenIssuer(self.clock), allow_loopback_http=True)
        self.fake.entra.register_app(CLIENT_ID, SECRET, ("Calendars.Read", "User.Read.All"))
        self.recorder = Recorder(self.fake.app)
        self.server = LoopbackServer(self.recorder, name="graph-fake").start()
        self.login = LoopbackHttpClient(self.server.base_url)
        self.settings = Settings(
            microsoft=MicrosoftSettings(
                tenant_id=self.fake.tenant_id,
                client_id=CLIENT_ID,
                client_secret=SECRET,
                authority_host="https://login.fake.test",
                graph_endpoint=f"{self.server.base_url}/v1.0",
            )
        )
        self.receiver = Receiver()

    def mailbox(self, name: str = "maya") -> str:
        """A fresh mailbox per test: tests share one server, never its data."""
        email = f"{name}.{next_number()}@acme.test"
        self.store.add_mailbox(email, time_zone="Europe/Berlin")
        return email

    def org_ref(
        self, email: str, *, external_id: str | None = None, credentials: str = SECRET, resolved: bool = False
    ) -> CalendarRef:
        """An org grant's calendar as connect-all makes it; `resolved`: with the mailbox's
        object id already stored (no GET /users/{address} at a baseline)."""
        return CalendarRef(
            calendar_id=next_number(),
            email=email,
            external_id=external_id or email,
            credentials=credentials,
            connection_kind="org",
            provider_user_id=object_id(email) if resolved else None,
        )

    def tick(self, minutes: int = 1) -> datetime:
        self.clock.set(self.clock.now() + timedelta(minutes=minutes))
        return self.clock.now()

    def seed(self, email: str) -> None:
        """A weekly series (Berlin, Mondays 09:00) and two singles, one in Pacific time."""
        self.store.create([email], graph_event(MASTER, pattern={}, iCalUId="series-uid-1@acme.test"), at=self.tick())
        self.store.create(
            [email],
            graph_event(
                "AAMkSingleBerlin=",
                start="2026-03-04T14:00:00.0000000",
                end="2026-03-04T15:00:00.0000000",
                iCalUId="single-b@acme.test",
            ),
            at=self.tick(),
        )
        self.store.create(
            [email],
            graph_event(
                "AAMkSinglePacific=",
                start="2026-03-09T10:00:00.0000000",
                end="2026-03-09T10:30:00.0000000",
                zone="Pacific Standard Time",
                iCalUId="single-p@acme.test",
            ),
            at=self.tick(),
        )


def next_number() -> int:
    """Unique ids and mailbox names: tests share one server, never its data."""
    return next(_numbers)
