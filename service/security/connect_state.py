"""The signed, expiring `state` of the calendar connect flow.

The provider sends the person back to our callback by a browser redirect, which
carries no bearer token: the state is the callback's credential. It names the
person and the provider, expires, and carries a nonce (two connects never share
a state), all under an HMAC-SHA256 whose key is derived from
ONEONONE_SECRET_KEY, so there is one secret to manage, and the Fernet keys that
encrypt grants never double as MAC keys. Every configured key verifies (rotation:
a state issued just before a new key was prepended stays valid).

Format (URL-safe, no padding): `v1.<person id>.<provider>.<expiry, unix s>.<nonce>.<mac>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.security.crypto import SecretKeyMissing

VERSION = "v1"
PURPOSE = b"oneonone/calendar-connect-state/v1"
TTL = timedelta(minutes=15)  # a consent screen, a sign-in, maybe a second factor
MAX_LENGTH = 512  # anything longer is not ours: refused before parsing


class InvalidState(Exception):
    """Forged, altered, expired or for another provider. The message says which,
    never echoing the state itself."""


@dataclass(frozen=True, slots=True)
class ConnectState:
    person_id: int
    provider: str
    expires_at: datetime


def _keys(secret_keys: str) -> list[bytes]:
    keys = [k.strip() for k in secret_keys.split(",") if k.strip()]
    if not keys:
        raise SecretKeyMissing("ONEONONE_SECRET_KEY is empty: generate one with `oneonone keygen`")
    return [hmac.new(k.encode(), PURPOSE, hashlib.sha256).digest() for k in keys]


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret_keys: str, person_id: int, provider: str, now: datetime, *, ttl: timedelta = TTL) -> str:
    expires = int((now + ttl).timestamp())
    payload = f"{VERSION}.{person_id}.{provider}.{expires}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_mac(_keys(secret_keys)[0], payload)}"


def verify(secret_keys: str, state: str | None, provider: str, now: datetime) -> ConnectState:
    # Ours are short URL-safe ASCII; anything else is refused before it reaches
    # compare_digest, which raises TypeError on non-ASCII text.
    if not state or len(state) > MAX_LENGTH or not state.isascii():
        raise InvalidState("missing or malformed state")
    payload, _, mac = state.rpartition(".")
    if not any(hmac.compare_digest(_mac(key, payload), mac) for key in _keys(secret_keys)):
        raise InvalidState("the state was not issued by this server")
    version, person_id, issued_for, expires, _nonce = payload.split(".")  # signed: well-formed
    if version != VERSION:
        raise InvalidState("unsupported state version")
    if issued_for != provider:
        raise InvalidState(f"the state was issued for {issued_for}, not {provider}")
    expires_at = datetime.fromtimestamp(int(expires), UTC)
    if now >= expires_at:
        raise InvalidState("the connect link expired: start again")
    return ConnectState(person_id=int(person_id), provider=issued_for, expires_at=expires_at)
