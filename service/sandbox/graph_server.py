"""The fake Microsoft Graph v1.0 server plus its Entra ID token endpoint (ASGI).

    fake = GraphFake(store, clock=clock, allow_loopback_http=True)  # Graph itself wants https
    fake.entra.register_app(CLIENT_ID, SECRET)
    server = LoopbackServer(fake.app).start()
    msal.ConfidentialClientApplication(CLIENT_ID, client_credential=SECRET,
        authority=f"https://login.fake.test/{fake.tenant_id}", instance_discovery=False,
        http_client=LoopbackHttpClient(server.base_url))
    httpx: GET {server.base_url}/v1.0/users/{email or object id}/calendarView/delta?startDateTime=…&endDateTime=…

Routes: Entra (see oauth_entra); `GET /v1.0/users/{id or address}` and
`GET /v1.0/me` (the directory's user: id, mail, userPrincipalName,
proxyAddresses; app-only tokens need User.Read.All, User.ReadBasic.All (no
proxyAddresses) or Directory.Read.All, delegated ones User.Read for their
own user, else 403 Authorization_RequestDenied; an unknown user is 404
Request_ResourceNotFound); `GET /v1.0/users/{id}/calendarView/delta`
(startDateTime, endDateTime, $deltatoken, $skiptoken; `Prefer:
odata.maxpagesize=N` and `Prefer: outlook.timezone="…"`), `GET
/v1.0/users/{id}/events/{eventId}` ($select), the same under `/v1.0/me/…`,
and `/v1.0/subscriptions` (POST, GET, GET/PATCH/DELETE by id, reauthorize).
Links come back absolute on the fake's own base. Errors use Graph's shape
with innerError; 429/503 carry Retry-After."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.clock import Clock, SystemClock
from service.sandbox.errors import GraphApiError
from service.sandbox.faults import FaultMiddleware, Faults, InjectedFailure
from service.sandbox.graph_store import GraphStore
from service.sandbox.graph_subscriptions import _RESOURCE, MAX_PER_MAILBOX, GraphSubscriptions
from service.sandbox.notifier import Notifier
from service.sandbox.oauth import FAKE_LOGIN_HOST, Grant, TokenIssuer, TokenRejected
from service.sandbox.oauth_entra import EntraAuth
from service.sandbox.timefmt import parse_instant

API_PREFIX = "/v1.0/"
DEFAULT_TENANT = str(uuid.uuid5(uuid.NAMESPACE_DNS, "tenant.fake.test"))
READ_PERMISSIONS = frozenset({"Calendars.Read", "Calendars.ReadWrite"})
USER_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"})
BASIC_USER_ROLES = frozenset({"User.ReadBasic.All"})
OWN_USER_SCOPES = frozenset(
    {"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}
)
USER_PROPERTIES = ("id", "displayName", "mail", "userPrincipalName", "proxyAddresses")
BASIC_PROPERTIES = ("id", "displayName", "mail", "userPrincipalName")  # and no proxyAddresses
_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
_NOT_IN_DELTA = ("$select", "$filter", "$orderby", "$expand", "$search", "$top")
_FAULTS = {
    429: ("TooManyRequests", "Please retry again later."),
    503: ("ServiceUnavailable", "Service is temporarily unavailable. Please retry later."),
    500: ("generalException", "General exception while processing."),
    504: ("GatewayTimeout", "Gateway timeout."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
}
_TOKEN_MESSAGES = {
    "missing": "Access token is empty.",
    "invalid": "IDX14100: JWT is not well formed, there are no dots (.).",
    "expired": "Lifetime validation failed, the token is expired.",
}
Handler = Callable[[Request, Grant], Awaitable[Response]]


class GraphFake:
    def __init__(
        self,
        store: GraphStore,
        *,
        clock: Clock | None = None,
        issuer: TokenIssuer | None = None,
        faults: Faults | None = None,
        notifier: Notifier | None = None,
        tenant_id: str = DEFAULT_TENANT,
        login_host: str = FAKE_LOGIN_HOST,
        max_subscription_minutes: int = 10080,
        validate_on_renew: bool = True,
        allow_loopback_http: bool = False,
        max_subscriptions_per_mailbox: int = MAX_PER_MAILBOX,
    ) -> None:
        """`allow_loopback_http`: accept http notification URLs on loopback (replays,
        tests); Graph itself accepts https only."""
        self.store = store
        self.clock = clock or SystemClock()
        self.issuer = issuer or TokenIssuer(self.clock)
        self.faults = faults or Faults()
        self.notifier = notifier or Notifier(faults=self.faults)
        self.tenant_id = tenant_id
        self.entra = EntraAuth(
            self.issuer,
            tenant_id,
            login_host,
            resolve_user=store.resolve,
            sign_in_name=lambda user: store.directory_user(user)["userPrincipalName"],
        )
        self.subscriptions = GraphSubscriptions(
            self.clock,
            self.notifier,
            self.faults,
            tenant_id,
            max_minutes=max_subscription_minutes,
            validate_on_renew=validate_on_renew,
            allow_loopback_http=allow_loopback_http,
            max_per_mailbox=max_subscriptions_per_mailbox,
        )
        self.app = FaultMiddleware(
            self._starlette(), faults=self.faults, target="graph", api_prefix=API_PREFIX, render=self._render_fault
        )

    @property
    def authority(self) -> str:
        return self.entra.authority

    # -- driving the fake ---------------------------------------------------------------
    def apply(self, op: dict[str, Any]) -> int:
        """Apply a timeline op (`provider: microsoft`) and notify the mailbox's subscriptions."""
        self.store.apply(op)
        kind = op["op"]
        change = "created" if kind == "create" else "deleted" if kind == "delete" else "updated"
        event_id = op["event"]["id"] if kind == "create" else op["event_id"]
        return self.changed(op["calendars"][0], event_id, change, at=parse_instant(op["at"]))

    def changed(self, mailbox: str, event_id: str, change_type: str, *, at: datetime | None = None) -> int:
        etag = None
        if change_type != "deleted":
            with contextlib.suppress(GraphApiError):
                etag = self.store.get_event(mailbox, event_id).get("changeKey")
        return self.subscriptions.notify(mailbox, change_type, event_id, etag=etag, at=at)

    def invalidate_delta_tokens(self, mailbox: str) -> None:
        self.store.invalidate_delta_tokens(mailbox)

    def fire_lifecycle(self, subscription_id: str, event: str) -> bool:
        return self.subscriptions.fire_lifecycle(subscription_id, event)

    # -- errors ------------------------------------------------------------------------
    def _error(self, request: Request, exc: GraphApiError, headers: dict[str, str] | None = None) -> Response:
        code = self.faults.graph_gone_code if exc.status == 410 else exc.code
        request_id = str(uuid.uuid4())
        body = {
            "error": {
                "code": code,
                "message": exc.message,
                "innerError": {
                    "date": self.clock.now().strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": request.headers.get("client-request-id", request_id),
                },
            }
        }
        out = {"request-id": request_id, **(headers or {})}
        if exc.status in (429, 503) and "Retry-After" not in out:
            out["Retry-After"] = "1"  # Graph always says how long to back off
        return JSONResponse(body, status_code=exc.status, headers=out, media_type=_JSON)

    def _render_fault(self, request: Request, failure: InjectedFailure) -> Response:
        code, message = _FAULTS.get(failure.status, ("generalException", "Error."))
        return self._error(request, GraphApiError(failure.status, failure.reason or code, message))

    # -- app ---------------------------------------------------------------------------
    def _starlette(self) -> Starlette:
        g = self._guard
        api = [
            Route(API_PREFIX + "users/{user}", g(self._user), methods=["GET"]),
            Route(API_PREFIX + "me", g(self._user), methods=["GET"]),
        ]
        api += [
            Route(API_PREFIX + prefix + suffix, g(handler), methods=["GET"])
            for prefix in ("users/{user}/", "me/")
            for suffix, handler in (
                ("calendarView/delta", self._delta),
                ("calendar/calendarView/delta", self._delta),
                ("events/{eventId:path}", self._event),
            )
        ]
        api += [
            Route(API_PREFIX + "subscriptions", g(self._create_sub), methods=["POST"]),
            Route(API_PREFIX + "subscriptions", g(self._list_subs), methods=["GET"]),
            Route(API_PREFIX + "subscriptions/{id}", g(self._get_sub), methods=["GET"]),
            Route(API_PREFIX + "subscriptions/{id}", g(self._renew_sub), methods=["PATCH"]),
            Route(API_PREFIX + "subscriptions/{id}", g(self._delete_sub), methods=["DELETE"]),
            Route(API_PREFIX + "subscriptions/{id}/reauthorize", g(self._reauthorize), methods=["POST"]),
        ]

        async def unknown(request: Request, exc: HTTPException) -> Response:
            status = 405 if exc.status_code == 405 else 400
            return self._error(
                request,
                GraphApiError(status, "BadRequest", f"Resource not found for the segment '{request.url.path}'."),
            )

        return Starlette(routes=self.entra.routes() + api, exception_handlers={404: unknown, 405: unknown})

    def _guard(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                grant = self.issuer.check("graph", request.headers.get("authorization"))
            except TokenRejected as exc:
                return self._error(
                    request,
                    GraphApiError(401, "InvalidAuthenticationToken", _TOKEN_MESSAGES[exc.why]),
                    {
                        "WWW-Authenticate": 'Bearer realm="", '
                        'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                        'client_id="00000003-0000-0000-c000-000000000000"'
                    },
                )
            try:
                return await handler(request, grant)
            except GraphApiError as exc:
                return self._error(request, exc)

        return endpoint

    def mailbox_for(self, grant: Grant, user: str | None) -> str:
        """The mailbox a path names (email, object id or /me), if the token may read it."""
        if user is None:
            if grant.app_only:
                raise GraphApiError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            mailbox = grant.user or ""
        else:
            mailbox = self.store.mailbox_named(user)
        if grant.app_only:
            if grant.tenant != self.tenant_id or not READ_PERMISSIONS & set(grant.roles):
                raise GraphApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        elif mailbox != grant.user or not any(s.rsplit("/", 1)[-1] in READ_PERMISSIONS for s in grant.scopes):
            raise GraphApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return mailbox

    async def _user(self, request: Request, grant: Grant) -> Response:
        """GET /users/{id or address}, /me: the directory's user ($select honoured)."""
        named = request.path_params.get("user")
        if named is None and grant.app_only:
            raise GraphApiError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        key = grant.user if named is None else self.store.resolve(named)
        denied = GraphApiError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if grant.app_only:
            roles = set(grant.roles)
            if grant.tenant != self.tenant_id or not roles & (USER_ROLES | BASIC_USER_ROLES):
                raise denied
            allowed = USER_PROPERTIES if roles & USER_ROLES else BASIC_PROPERTIES
        else:
            scopes = {s.rsplit("/", 1)[-1] for s in grant.scopes}
            if not scopes & OWN_USER_SCOPES or (
                key is not None and key != grant.user and "User.Read.All" not in scopes
            ):
                raise denied
            allowed = USER_PROPERTIES
        if key is None:
            raise GraphApiError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{named}' does not exist or one of its queried reference-property objects are not present.",
            )
        select = request.query_params.get("$select")
        wanted = [f.strip() for f in select.split(",") if f.strip()] if select else list(BASIC_PROPERTIES)
        unknown = [f for f in wanted if f not in USER_PROPERTIES]
        if unknown:
            raise GraphApiError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'.",
            )
        user = self.store.directory_user(key)
        base = f"{request.base_url}v1.0"
        body = {"@odata.context": f"{base}/$metadata#users/$entity"}
        body.update({f: user[f] if f in allowed else None for f in wanted})  # beyond the role: null
        return self._json(request, body)

    async def _delta(self, request: Request, grant: Grant) -> Response:
        named = request.path_params.get("user")
        mailbox = self.mailbox_for(grant, named)
        q = request.query_params
        unsupported = [k for k in _NOT_IN_DELTA if k in q]
        if unsupported:
            raise GraphApiError(
                400,
                "ErrorInvalidUrlQuery",
                f"The following parameters are not supported with "
                f"change tracking over the 'CalendarView' resource: '{unsupported[0]}'.",
            )
        size, zone, applied = _prefer(request)
        page = self.store.calendar_view_delta(
            mailbox,
            start=q.get("startDateTime"),
            end=q.get("endDateTime"),
            delta_token=q.get("$deltatoken"),
            skip_token=q.get("$skiptoken"),
            max_page_size=size,
            prefer_timezone=zone,
            segment="me" if named is None else f"users/{quote(named, safe='@')}",
        )
        return self._json(request, _rebase(page, self.store.base_url, f"{request.base_url}v1.0"), applied)

    async def _event(self, request: Request, grant: Grant) -> Response:
        mailbox = self.mailbox_for(grant, request.path_params.get("user"))
        select = request.query_params.get("$select")
        _, zone, applied = _prefer(request)
        event = self.store.get_event(
            mailbox,
            request.path_params["eventId"],
            prefer_timezone=zone,
            select=[s.strip() for s in select.split(",")] if select else None,
        )
        event = {"@odata.context": f"{request.base_url}v1.0/$metadata#users('{mailbox}')/events/$entity", **event}
        return self._json(request, event, [a for a in applied if a.startswith("outlook")])

    async def _create_sub(self, request: Request, grant: Grant) -> Response:
        body = await _json_body(request)
        match = _RESOURCE.match(str(body.get("resource", "")))
        if match is None:
            raise GraphApiError(400, "InvalidRequest", f"Resource '{body.get('resource')}' is not supported.")
        mailbox = self.mailbox_for(grant, match.group("user"))
        sub = await self.subscriptions.create(grant, mailbox, body)
        return self._json(request, sub.resource_json(f"{request.base_url}v1.0"), status=201)

    async def _list_subs(self, request: Request, grant: Grant) -> Response:
        base = f"{request.base_url}v1.0"
        return self._json(
            request,
            {
                "@odata.context": f"{base}/$metadata#subscriptions",
                "value": [s.resource_json(base) for s in self.subscriptions.listed(grant)],
            },
        )

    async def _get_sub(self, request: Request, grant: Grant) -> Response:
        sub = self.subscriptions.get(grant, request.path_params["id"])
        return self._json(request, sub.resource_json(f"{request.base_url}v1.0"))

    async def _renew_sub(self, request: Request, grant: Grant) -> Response:
        sub = await self.subscriptions.renew(grant, request.path_params["id"], await _json_body(request))
        return self._json(request, sub.resource_json(f"{request.base_url}v1.0"))

    async def _delete_sub(self, request: Request, grant: Grant) -> Response:
        self.subscriptions.delete(grant, request.path_params["id"])
        return Response(status_code=204)

    async def _reauthorize(self, request: Request, grant: Grant) -> Response:
        self.subscriptions.reauthorize(grant, request.path_params["id"])
        return Response(status_code=204)

    def _json(self, request: Request, body: Any, applied: list[str] | None = None, status: int = 200) -> Response:
        headers = {"request-id": str(uuid.uuid4())}
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        return JSONResponse(body, status_code=status, headers=headers, media_type=_JSON)


def _prefer(request: Request) -> tuple[int | None, str | None, list[str]]:
    """(odata.maxpagesize, outlook.timezone, the preferences applied) from Prefer headers."""
    raw = ", ".join(request.headers.getlist("prefer"))
    size_match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", raw)
    zone_match = re.search(r'outlook\.timezone\s*=\s*"([^"]*)"', raw) or re.search(
        r"outlook\.timezone\s*=\s*([^,;\s]+)", raw
    )
    applied = []
    if size_match:
        applied.append(f"odata.maxpagesize={size_match.group(1)}")
    if zone_match:
        applied.append(f'outlook.timezone="{zone_match.group(1)}"')
    return (int(size_match.group(1)) if size_match else None, zone_match.group(1) if zone_match else None, applied)


def _rebase(page: dict[str, Any], store_base: str, base: str) -> dict[str, Any]:
    """The store writes links on its own base; serve them on the base the client used."""
    for key in ("@odata.context", "@odata.nextLink", "@odata.deltaLink"):
        if isinstance(page.get(key), str) and page[key].startswith(store_base):
            page[key] = base + page[key][len(store_base) :]
    return page


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise GraphApiError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(body, dict):
        raise GraphApiError(400, "BadRequest", "Unable to read JSON request payload.")
    return body
