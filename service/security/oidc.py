"""OIDC bearer JWTs verified against the issuer's JWKS (signature, issuer, audience, expiry).

All network I/O (discovery, JWKS fetches) is blocking and runs in a worker thread,
never on the event loop; it happens lazily on first use, so an unreachable
identity provider does not stop the app from starting, and only on cache misses."""

from __future__ import annotations

import asyncio
import threading

import httpx
import jwt

from service.errors import ProviderUnavailable, Unauthorized
from service.settings import OIDCSettings

ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


class OIDCVerifier:
    def __init__(
        self, settings: OIDCSettings, *, timeout: float = 10.0, jwks_lifespan: float = 300.0, leeway: float = 30.0
    ) -> None:
        self.settings = settings
        self._timeout = timeout
        self._lifespan = jwks_lifespan
        self._leeway = leeway  # clock skew between us and the issuer (exp, nbf, iat)
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self.settings.jwks_url or self._discover_jwks_url()
                # The key *set* is cached for `lifespan` and refetched early (with a
                # cooldown) on an unknown `kid`, i.e. key rotation. No per-key cache:
                # it never expires, so a key the issuer withdrew would stay trusted.
                self._client = jwt.PyJWKClient(url, cache_keys=False, lifespan=self._lifespan, timeout=self._timeout)
            return self._client

    def _discover_jwks_url(self) -> str:
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            return str(httpx.get(url, timeout=self._timeout).raise_for_status().json()["jwks_uri"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable(f"OIDC discovery failed at the issuer: {exc.__class__.__name__}") from None

    def verify_sync(self, token: str) -> str:
        """Return the verified email claim (lower-cased). Blocking: call `verify`."""
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise ProviderUnavailable("the identity provider's signing keys cannot be fetched") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc.__class__.__name__}") from None
        email = claims.get(self.settings.email_claim)
        if not isinstance(email, str) or not email.strip():
            raise Unauthorized(f"token has no '{self.settings.email_claim}' claim")
        return email.strip().lower()

    async def verify(self, token: str) -> str:
        return await asyncio.to_thread(self.verify_sync, token)
