"""OIDC bearer JWTs verified against the issuer's JWKS (signature, issuer, audience, expiry)."""
from __future__ import annotations

import asyncio

import jwt

from service.errors import Unauthorized
from service.settings import OIDCSettings


class OIDCVerifier:
    def __init__(self, settings: OIDCSettings) -> None:
        self.settings = settings
        jwks_url = settings.jwks_url or self._discover_jwks_url()
        # PyJWKClient caches keys and refetches on an unknown `kid` (key rotation).
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)

    def _discover_jwks_url(self) -> str:
        import httpx

        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        return httpx.get(url, timeout=10).raise_for_status().json()["jwks_uri"]

    def verify_sync(self, token: str) -> str:
        """Return the verified email claim."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=["RS256", "ES256", "PS256", "EdDSA"],
                audience=self.settings.audience, issuer=self.settings.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc.__class__.__name__}") from None
        email = claims.get(self.settings.email_claim)
        if not isinstance(email, str) or not email:
            raise Unauthorized(f"token has no '{self.settings.email_claim}' claim")
        return email.lower()

    async def verify(self, token: str) -> str:
        # The JWKS fetch is blocking I/O (only on cache misses): keep it off the loop.
        return await asyncio.to_thread(self.verify_sync, token)
