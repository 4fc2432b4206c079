"""Microsoft Entra ID (v2.0 endpoints) as MSAL's ConfidentialClientApplication uses it.

With `authority="https://login.fake.test/<tenant>"` and `instance_discovery=False`
MSAL fetches `GET /<tenant>/v2.0/.well-known/openid-configuration`, then POSTs
to the `token_endpoint` it names: `/<tenant>/oauth2/v2.0/token` with
grant_type client_credentials (app-only, scope `https://graph.microsoft.com/.default`),
authorization_code or refresh_token (delegated). Errors carry AADSTS codes in
Entra's JSON shape.

As Entra does it:
- the multi-tenant authorities `common`, `organizations` and `consumers` serve
  people signing in (codes, refresh tokens) but no app-only token: a client
  credentials request there names no tenant (400 invalid_request, AADSTS50059);
- refresh tokens expire after `refresh_token_lifetime` without use (90 days:
  invalid_grant, AADSTS700082) and die when revoked (`revoke_refresh_tokens`:
  a password reset, an admin or the user withdrawing consent: invalid_grant,
  AADSTS50173); an unknown one is invalid_grant AADSTS9002313. Each redemption
  hands out a new refresh token; the old one keeps working until it expires.

The directory gives every mailbox a stable object id (GUID), which Graph uses
in change-notification resources and accepts in `/users/{id}` paths
(`object_id`)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from service.sandbox.oauth import FAKE_LOGIN_HOST, TokenIssuer, client_auth, read_form, redirect_with

GRAPH_RESOURCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
DEFAULT_ROLES = ("Calendars.Read",)
PUBLIC_TENANTS = frozenset({"common", "organizations", "consumers"})
REFRESH_TOKEN_LIFETIME = timedelta(days=90)  # Entra's default, counted from the token's issue


def object_id(email: str) -> str:
    """A mailbox's stable Entra object id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-entra:user:{email.lower()}"))


@dataclass
class EntraApp:
    client_id: str
    client_secret: str
    roles: tuple[str, ...]  # application permissions (admin-consented)


@dataclass(frozen=True)
class _Code:
    client_id: str
    user: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None = None  # PKCE (MSAL's auth code flow always sends one)
    method: str = "S256"
    nonce: str | None = None  # echoed in the id token; MSAL checks it

    def verifies(self, verifier: str | None) -> bool:
        if self.challenge is None:
            return True
        if verifier is None:
            return False
        if self.method == "plain":
            return verifier == self.challenge
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == self.challenge


@dataclass(frozen=True)
class _RefreshToken:
    client_id: str
    user: str
    scopes: tuple[str, ...]
    issued_at: datetime


@dataclass
class EntraAuth:
    issuer: TokenIssuer
    tenant_id: str
    host: str = FAKE_LOGIN_HOST
    apps: dict[str, EntraApp] = field(default_factory=dict)
    # The directory: which user an address (a sign-in's login_hint) names, and that
    # user's sign-in name (UPN: the id token's preferred_username, not necessarily the mail).
    resolve_user: Callable[[str], str | None] = lambda address: address.lower()
    sign_in_name: Callable[[str], str] = lambda user: user
    refresh_token_lifetime: timedelta = REFRESH_TOKEN_LIFETIME  # knob: inactivity before invalid_grant
    _codes: dict[str, _Code] = field(default_factory=dict)
    _refresh: dict[str, _RefreshToken] = field(default_factory=dict)
    _revoked_before: dict[str, datetime] = field(default_factory=dict)  # user → tokens issued before are dead
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- registration -----------------------------------------------------------------------
    def register_app(self, client_id: str, client_secret: str, roles: Iterable[str] = DEFAULT_ROLES) -> None:
        self.apps[client_id] = EntraApp(client_id, client_secret, tuple(roles))

    def revoke_refresh_tokens(self, user: str) -> None:
        """Knob: every refresh token issued to `user` so far is revoked (as after a
        password reset, or `revokeSignInSessions`)."""
        with self._lock:
            self._revoked_before[self.resolve_user(user) or user.lower()] = self.issuer.clock.now()

    def issue_code(
        self,
        client_id: str,
        user: str,
        redirect_uri: str,
        scopes: Iterable[str],
        *,
        code_challenge: str | None = None,
        code_challenge_method: str = "S256",
        nonce: str | None = None,
    ) -> str:
        """The code the sign-in page would hand back (tests skip the page with this)."""
        code = f"0.fake-code.{secrets.token_urlsafe(24)}"
        with self._lock:
            self._codes[code] = _Code(
                client_id, user.lower(), redirect_uri, tuple(scopes), code_challenge, code_challenge_method, nonce
            )
        return code

    @property
    def authority(self) -> str:
        return f"https://{self.host}/{self.tenant_id}"

    def openid_configuration(self, tenant: str | None = None) -> dict[str, Any]:
        """The tenant's metadata; a multi-tenant authority's names `{tenantid}` in its issuer."""
        base = f"https://{self.host}/{tenant or self.tenant_id}"
        issuer_tenant = "{tenantid}" if tenant in PUBLIC_TENANTS else self.tenant_id
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"https://login.microsoftonline.com/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    # -- POST /{tenant}/oauth2/v2.0/token ---------------------------------------------------
    def token(self, tenant: str, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if tenant != self.tenant_id and tenant not in PUBLIC_TENANTS:
            return _aad(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        client_id, secret = client_auth(form, authorization)
        app = self.apps.get(client_id or "")
        if app is None:
            return _aad(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if secret != app.client_secret:
            return _aad(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scopes = tuple(form.get("scope", "").split())
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials" and tenant in PUBLIC_TENANTS:
            return _aad(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by any provided credentials.",
            )
        if grant_type == "client_credentials":
            resource = [s for s in scopes if s not in OIDC_SCOPES]
            if (
                len(resource) != 1
                or resource[0].rsplit("/", 1)[0] not in GRAPH_RESOURCES
                or not resource[0].endswith("/.default")
            ):
                return _aad(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {' '.join(scopes)} is not valid. Client credential "
                    "flows must have a scope value with /.default suffixed to the resource identifier.",
                )
            grant = self.issuer.issue("graph", None, app.client_id, resource, tenant=self.tenant_id, roles=app.roles)
            return 200, {
                "token_type": "Bearer",
                "expires_in": self.issuer.expires_in(grant),
                "ext_expires_in": self.issuer.expires_in(grant),
                "access_token": grant.token,
            }
        if grant_type == "authorization_code":
            with self._lock:
                held = self._codes.pop(form.get("code", ""), None)
            if held is None or held.client_id != app.client_id or held.redirect_uri != form.get("redirect_uri"):
                return _aad(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has "
                    "expired due to inactivity. Send a new interactive authorization request.",
                )
            if not held.verifies(form.get("code_verifier")):
                return _aad(
                    400,
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                )
            return 200, self._delegated(app, held.user, held.scopes or scopes, nonce=held.nonce)
        if grant_type == "refresh_token":
            return self._redeem(app, form.get("refresh_token", ""))
        return _aad(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
        )

    def _redeem(self, app: EntraApp, token: str) -> tuple[int, dict[str, Any]]:
        now = self.issuer.clock.now()
        with self._lock:
            held = self._refresh.get(token)
            revoked = self._revoked_before.get(held.user) if held is not None else None
        if held is None or held.client_id != app.client_id:
            return _aad(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if revoked is not None and held.issued_at <= revoked:
            return _aad(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
                "The user might have changed or reset their password.",
            )
        if now >= held.issued_at + self.refresh_token_lifetime:
            days = self.refresh_token_lifetime / timedelta(days=1)
            return _aad(
                400,
                "invalid_grant",
                700082,
                f"The refresh token has expired due to inactivity. The token was issued on "
                f"{held.issued_at.isoformat()} and was inactive for {days:.2f}:00:00:00.",
            )
        return 200, self._delegated(app, held.user, held.scopes)

    def _delegated(
        self, app: EntraApp, user: str, scopes: Iterable[str], *, nonce: str | None = None
    ) -> dict[str, Any]:
        granted = tuple(s for s in scopes if s not in OIDC_SCOPES)
        grant = self.issuer.issue("graph", user, app.client_id, granted, tenant=self.tenant_id)
        refresh = f"0.fake-rt.{secrets.token_urlsafe(32)}"
        with self._lock:
            self._refresh[refresh] = _RefreshToken(app.client_id, user, granted, grant.issued_at)
        oid = object_id(user)
        now = int(grant.issued_at.timestamp())
        # MSAL reads (does not verify) the id token; signing it with a throw-away HMAC key is enough.
        claims: dict[str, Any] = {"nonce": nonce} if nonce else {}
        id_token = jwt.encode(
            {
                **claims,
                "aud": app.client_id,
                "iss": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": user,
                "oid": oid,
                "preferred_username": self.sign_in_name(user),
                "sub": oid,
                "tid": self.tenant_id,
                "ver": "2.0",
            },
            "fake-entra-id-token-signing-key-not-a-secret",
            algorithm="HS256",
        )
        client_info = base64.urlsafe_b64encode(json.dumps({"uid": oid, "utid": self.tenant_id}).encode())
        return {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": self.issuer.expires_in(grant),
            "ext_expires_in": self.issuer.expires_in(grant),
            "access_token": grant.token,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info.decode().rstrip("="),
        }

    # -- routes ----------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        async def openid(request: Request) -> Response:
            tenant = request.path_params["tenant"]
            if tenant != self.tenant_id and tenant not in PUBLIC_TENANTS:
                return JSONResponse(_aad(400, "invalid_tenant", 90002, "Tenant not found.")[1], status_code=400)
            return JSONResponse(self.openid_configuration(tenant))

        async def instance_discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "tenant_discovery_endpoint": f"{self.authority}/v2.0/.well-known/openid-configuration",
                    "api-version": "1.1",
                    "metadata": [],
                }
            )

        async def token(request: Request) -> Response:
            form = await read_form(request)
            status, body = self.token(request.path_params["tenant"], form, request.headers.get("authorization"))
            return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

        async def authorize(request: Request) -> Response:
            q = request.query_params
            user, app = q.get("login_hint"), self.apps.get(q.get("client_id", ""))
            if app is None or not q.get("redirect_uri"):
                return PlainTextResponse("AADSTS700016: unknown application", status_code=400)
            known = self.resolve_user(user) if user else None
            if known is None:
                return PlainTextResponse("the fake sign-in needs login_hint=<a known user>", status_code=400)
            code = self.issue_code(
                app.client_id,
                known,
                q["redirect_uri"],
                q.get("scope", "").split(),
                code_challenge=q.get("code_challenge"),
                code_challenge_method=q.get("code_challenge_method", "S256"),
                nonce=q.get("nonce"),
            )
            if q.get("response_mode") == "form_post":  # the page posts the answer to the redirect URI
                fields = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                    for k, v in (("code", code), ("state", q.get("state")))
                    if v
                )
                return HTMLResponse(
                    f'<html><body onload="document.forms[0].submit()"><form method="post" '
                    f'action="{html.escape(q["redirect_uri"])}">{fields}</form></body></html>'
                )
            return RedirectResponse(redirect_with(q["redirect_uri"], code=code, state=q.get("state")), status_code=302)

        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
            Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET"]),
        ]


def _aad(status: int, error: str, code: int, description: str) -> tuple[int, dict[str, Any]]:
    trace = str(uuid.uuid4())
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace}",
        "error_codes": [code],
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
