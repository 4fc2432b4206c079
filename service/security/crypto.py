"""Encryption at rest for provider secrets (OAuth refresh tokens, client secrets).

Keys come from `ONEONONE_SECRET_KEY`: comma-separated Fernet keys, newest first.
MultiFernet encrypts with the first and decrypts with any, so keys rotate by
prepending a new key and re-encrypting (`rotate`)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.errors import AppError


class SecretKeyMissing(AppError):
    status, title, slug = 500, "Secret key not configured", "secret-key-missing"


class Vault:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise SecretKeyMissing("ONEONONE_SECRET_KEY is empty: generate one with `oneonone keygen`")
        fernets = []
        for i, key in enumerate(parts, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:  # never echo the key itself
                raise SecretKeyMissing(
                    f"ONEONONE_SECRET_KEY entry {i} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes): use `oneonone keygen`"
                ) from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:  # never include the ciphertext in the message
            raise SecretKeyMissing("a stored secret cannot be decrypted with the configured keys") from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key (whichever configured key encrypted it)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyMissing("a stored secret cannot be decrypted with the configured keys") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
