"""Google's OAuth 2.0 token endpoint, as the fake serves it at `POST /token`.

Grants:
- `refresh_token` (per-user OAuth): the client id/secret must be the ones the
  refresh token was issued to; a revoked or unknown token → 400 invalid_grant;
- `authorization_code`: codes from `issue_code` or from the fake consent
  screen `GET /o/oauth2/auth?login_hint=<user>` (auto-consents, no UI);
- `urn:ietf:params:oauth:grant-type:jwt-bearer` (service account with
  domain-wide delegation): the assertion must be signed with the registered
  key (`kid` = private_key_id), `iss` the service account, `aud` Google's
  token URI; `sub` is the impersonated user, who must be known; every scope
  must be authorized for delegation, else 401 unauthorized_client.

The assertion's iat/exp are checked as Google does, against the fake's
(injected) clock: at most an hour apart, iat not ahead of the clock and exp
not behind it by more than `ASSERTION_SKEW`; else 400 invalid_grant "Invalid
JWT: Token must be a short-lived token (60 minutes) and in a reasonable
timeframe…". google-auth stamps them with the wall clock, so a client of a
fake on another clock must stamp its own (the service's adapter uses its
injected clock; `GoogleConnection.delegated_credentials` the sandbox's)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from service.sandbox.oauth import TokenIssuer, client_auth, new_rsa_key, read_form, redirect_with

CALENDAR_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # seconds: the longest exp - iat Google takes
ASSERTION_SKEW = 300  # seconds of clock difference tolerated either way
_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


@dataclass
class ServiceAccount:
    client_email: str
    client_id: str
    key_id: str
    public_key: str
    delegated_scopes: frozenset[str]  # what the Workspace admin authorized for domain-wide delegation


@dataclass
class _Refresh:
    client_id: str
    user: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class GoogleAuth:
    issuer: TokenIssuer
    known_user: Callable[[str], bool] = lambda email: True
    clients: dict[str, str] = field(default_factory=dict)  # client_id → secret
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    _refresh: dict[str, _Refresh] = field(default_factory=dict)
    _codes: dict[str, tuple[str, str, str, tuple[str, ...]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- registration (the test's or the demo's setup) ---------------------------------
    def register_client(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def issue_refresh_token(self, client_id: str, user: str, scopes: Iterable[str] = CALENDAR_SCOPES) -> str:
        token = f"1//fake-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._refresh[token] = _Refresh(client_id, user.lower(), tuple(scopes))
        return token

    def revoke_refresh_token(self, token: str) -> None:
        with self._lock:
            if token in self._refresh:
                self._refresh[token].revoked = True

    def revoke_user_grants(self, client_id: str, user: str) -> int:
        """The user removes the app from their account (or an admin does it for them):
        every refresh token of `client_id` for `user` answers invalid_grant from now on."""
        revoked = 0
        with self._lock:
            for held in self._refresh.values():
                if held.client_id == client_id and held.user == user.lower() and not held.revoked:
                    held.revoked = True
                    revoked += 1
        return revoked

    def rename_user(self, user: str, new: str) -> None:
        """Refresh tokens belong to the account: after a rename they act as `new`."""
        with self._lock:
            for held in self._refresh.values():
                if held.user == user.lower():
                    held.user = new.lower()

    def delete_service_account_key(self, client_email: str) -> None:
        """The key is deleted in the Cloud console: its assertions fail the signature check."""
        account = self.service_accounts[client_email]
        account.key_id = f"deleted-{account.key_id}"

    def issue_code(self, client_id: str, user: str, redirect_uri: str, scopes: Iterable[str] = CALENDAR_SCOPES) -> str:
        code = f"4/fake-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._codes[code] = (client_id, user.lower(), redirect_uri, tuple(scopes))
        return code

    def new_service_account(
        self,
        client_email: str,
        *,
        project_id: str = "oneonone-sandbox",
        delegated_scopes: Iterable[str] = CALENDAR_SCOPES,
        token_uri: str = "",
    ) -> dict[str, Any]:
        """Register a service account and return its JSON key (the `from_service_account_info` dict)."""
        private, public = new_rsa_key()
        key_id = secrets.token_hex(20)
        client_id = str(10**20 + secrets.randbelow(10**20))
        self.service_accounts[client_email] = ServiceAccount(
            client_email, client_id, key_id, public, frozenset(delegated_scopes)
        )
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": private,
            "client_email": client_email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    # -- POST /token -----------------------------------------------------------------------
    def token(self, form: dict[str, str], authorization: str | None, token_url: str) -> tuple[int, dict[str, Any]]:
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion", ""), token_url)
        client_id, secret = client_auth(form, authorization)
        if client_id not in self.clients:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        if self.clients[client_id] != secret:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if grant_type == "refresh_token":
            with self._lock:
                held = self._refresh.get(form.get("refresh_token", ""))
            if held is None or held.revoked or held.client_id != client_id:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            asked = tuple(form["scope"].split()) if form.get("scope") else held.scopes
            if not set(asked) <= set(held.scopes):
                return 400, {"error": "invalid_scope", "error_description": "Bad Request"}
            return 200, self._access(held.user, client_id, asked)
        if grant_type == "authorization_code":
            with self._lock:
                held_code = self._codes.pop(form.get("code", ""), None)
            if held_code is None or held_code[0] != client_id or held_code[2] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
            _, user, _, scopes = held_code
            body = self._access(user, client_id, scopes)
            body["refresh_token"] = self.issue_refresh_token(client_id, user, scopes)
            return 200, body
        return 400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant_type}"}

    def _access(self, user: str, client_id: str, scopes: Iterable[str]) -> dict[str, Any]:
        grant = self.issuer.issue("google", user, client_id, scopes)
        return {
            "access_token": grant.token,
            "expires_in": self.issuer.expires_in(grant),
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }

    def _jwt_bearer(self, assertion: str, token_url: str) -> tuple[int, dict[str, Any]]:
        invalid = 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return invalid
        account = self.service_accounts.get(unverified.get("iss", ""))
        if account is None or header.get("kid") != account.key_id:
            return invalid
        try:
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_AUDIENCE, token_url],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return invalid
        iat, exp = claims.get("iat"), claims.get("exp")
        now = self.issuer.clock.now().timestamp()
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or not 0 < exp - iat <= ASSERTION_LIFETIME
            or iat > now + ASSERTION_SKEW
            or exp < now - ASSERTION_SKEW
        ):
            return 400, {"error": "invalid_grant", "error_description": _TIMEFRAME}
        scopes = tuple(str(claims.get("scope", "")).split())
        if not scopes:
            return 400, {
                "error": "invalid_scope",
                "error_description": "Invalid OAuth scope or ID token audience provided.",
            }
        subject = claims.get("sub")
        if subject is None:  # the service account as itself: it owns no user's calendar
            return 200, self._access(account.client_email, account.client_id, scopes)
        if not set(scopes) <= account.delegated_scopes:
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using this method, or "
                "client not authorized for any of the scopes requested.",
            }
        if not self.known_user(subject):
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        return 200, self._access(subject, account.client_id, scopes)

    # -- routes ------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        async def token(request: Request) -> Response:
            form = await read_form(request)
            status, body = self.token(form, request.headers.get("authorization"), f"{request.base_url}token")
            return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

        async def authorize(request: Request) -> Response:
            q = request.query_params
            user, client_id, redirect_uri = q.get("login_hint"), q.get("client_id", ""), q.get("redirect_uri", "")
            if client_id not in self.clients or not redirect_uri:
                return PlainTextResponse("Error 401: invalid_client", status_code=401)
            if not user or not self.known_user(user):
                return PlainTextResponse("the fake consent screen needs login_hint=<a known user>", status_code=400)
            code = self.issue_code(client_id, user, redirect_uri, q.get("scope", " ".join(CALENDAR_SCOPES)).split())
            return RedirectResponse(redirect_with(redirect_uri, code=code, state=q.get("state")), status_code=302)

        return [
            Route("/token", token, methods=["POST"]),
            Route("/o/oauth2/auth", authorize, methods=["GET"]),
            Route("/o/oauth2/v2/auth", authorize, methods=["GET"]),
        ]
