"""Access tokens of the fake providers, and the plumbing the token endpoints share.

`TokenIssuer` hands out opaque bearer tokens bound to a user (a calendar
email) or to an app (app-only Graph tokens), with a lifetime measured on the
injected clock: once it passes, the API answers 401 and the client library
must refresh. `expire_all()` is the "expire access tokens now" knob.

The endpoints themselves live in `oauth_google` (Google's /token, with
refresh tokens and service-account JWT assertions) and `oauth_entra`
(Microsoft Entra v2.0: OpenID configuration, /token).

`LoopbackHttpClient` is the `http_client` MSAL is given in the sandbox: MSAL
insists on https authorities, so the app uses `https://login.fake.test/<tenant>`
and this client sends those requests to the loopback fake instead."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.clock import Clock, SystemClock

FAKE_LOGIN_HOST = "login.fake.test"


@dataclass(frozen=True)
class Grant:
    """What a bearer token stands for."""

    token: str
    audience: str  # "google" | "graph"
    user: str | None  # calendar email; None for an app-only token
    client_id: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    serial: int
    tenant: str | None = None
    roles: tuple[str, ...] = ()  # app roles of an app-only Graph token

    @property
    def app_only(self) -> bool:
        return self.user is None


class TokenRejected(Exception):
    """A request's bearer token is missing ("missing"), unknown ("invalid") or expired ("expired")."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class TokenIssuer:
    """Access tokens for one or both fakes. Thread-safe."""

    def __init__(self, clock: Clock | None = None, *, lifetime: timedelta = timedelta(hours=1)) -> None:
        self.clock = clock or SystemClock()
        self.lifetime = lifetime  # knob: how long a new token lives (injected clock)
        self._grants: dict[str, Grant] = {}
        self._serial = 0
        self._expired_through = 0  # tokens with serial <= this are expired
        self._lock = threading.Lock()

    def issue(
        self,
        audience: str,
        user: str | None,
        client_id: str,
        scopes: Iterable[str],
        *,
        tenant: str | None = None,
        roles: Iterable[str] = (),
    ) -> Grant:
        prefix = "ya29.fake" if audience == "google" else "eyJ0eXAiOiJKV1QiLCJmYWtlIjp0cnVlfQ"
        now = self.clock.now()
        with self._lock:
            self._serial += 1
            grant = Grant(
                f"{prefix}.{secrets.token_urlsafe(32)}",
                audience,
                user.lower() if user else None,
                client_id,
                tuple(scopes),
                now,
                now + self.lifetime,
                self._serial,
                tenant,
                tuple(roles),
            )
            self._grants[grant.token] = grant
        return grant

    def issued(self, audience: str) -> int:
        """How many access tokens were issued for `audience` ("google", "graph") so far."""
        with self._lock:
            return sum(1 for grant in self._grants.values() if grant.audience == audience)

    def check(self, audience: str, authorization: str | None) -> Grant:
        """The grant behind an `Authorization: Bearer …` header, or TokenRejected."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise TokenRejected("missing")
        token = authorization[7:].strip()
        with self._lock:
            grant = self._grants.get(token)
            expired_through = self._expired_through
        if grant is None or grant.audience != audience:
            raise TokenRejected("invalid")
        if grant.serial <= expired_through or self.clock.now() >= grant.expires_at:
            raise TokenRejected("expired")
        return grant

    def expire_all(self) -> int:
        """Knob: every access token issued so far is expired from now on."""
        with self._lock:
            self._expired_through = self._serial
            return len(self._grants)

    def rename_user(self, user: str, new: str) -> int:
        """A user's address changed: their live tokens (bound to the account) now name
        `new`. Returns how many."""
        with self._lock:
            moved = [g for g in self._grants.values() if g.user == user.lower()]
            for grant in moved:
                self._grants[grant.token] = replace(grant, user=new.lower())
            return len(moved)

    def forget_user(self, user: str) -> None:
        """The user was deleted: their tokens are unknown from now on (401)."""
        with self._lock:
            for token in [t for t, g in self._grants.items() if g.user == user.lower()]:
                del self._grants[token]

    def expires_in(self, grant: Grant) -> int:
        return max(0, int((grant.expires_at - self.clock.now()).total_seconds()))

    def rebind(self, grant: Grant, **changes: Any) -> Grant:
        """Testing aid: change a live grant in place (e.g. its expiry)."""
        with self._lock:
            updated = replace(grant, **changes)
            self._grants[grant.token] = updated
            return updated


async def read_form(request: Any) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (parsed here: no python-multipart dependency)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def client_auth(form: dict[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    """(client_id, client_secret) from HTTP Basic (RFC 6749 §2.3.1, form-encoded parts) or the body."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            raw = base64.b64decode(authorization[6:].strip()).decode()
            user, _, password = raw.partition(":")
            return unquote_plus(user), unquote_plus(password)
        except (ValueError, UnicodeDecodeError):
            return None, None
    return form.get("client_id"), form.get("client_secret")


def redirect_with(uri: str, **params: str | None) -> str:
    """`uri` with `params` (None values left out) added to its query string."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def new_rsa_key() -> tuple[str, str]:
    """A fresh 2048-bit RSA key pair as (private PKCS#8 PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class LoopbackHttpClient:
    """The `http_client` for MSAL against the fake: https://login.fake.test/… (and
    any other host in `hosts`) goes to `base_url`; any other https URL is refused,
    so a misconfigured test never talks to the real login service.

    It has the requests-like surface MSAL uses: get/post(url, params=, data=,
    headers=) returning a response with status_code, text, headers."""

    def __init__(self, base_url: str, *, hosts: Iterable[str] = (FAKE_LOGIN_HOST,), timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.hosts = {h.lower() for h in hosts}
        self._client = httpx.Client(timeout=timeout)

    def map(self, url: str) -> str:
        if url.startswith(self.base_url):
            return url
        parts = urlsplit(url)
        if (parts.hostname or "").lower() not in self.hosts:
            raise ValueError(f"LoopbackHttpClient only reaches the sandbox, not {parts.hostname}")
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + rest

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self._client.get(self.map(url), params=params, headers=_clean(headers), **_passthrough(kwargs))

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"data": data} if isinstance(data, dict) else {"content": data}
        return self._client.post(self.map(url), params=params, headers=_clean(headers), **body, **_passthrough(kwargs))

    def close(self) -> None:
        self._client.close()


def _clean(headers: Any) -> dict[str, str] | None:
    # MSAL may pass None values (e.g. an absent correlation id); httpx refuses them.
    return {k: str(v) for k, v in headers.items() if v is not None} if headers else None


def _passthrough(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"timeout": kwargs["timeout"]} if "timeout" in kwargs else {}
