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
        self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:  # never include the ciphertext in the message
            raise SecretKeyMissing("a stored secret cannot be decrypted with the configured keys") from exc

    def rotate(self, ciphertext: str) -> str:
        return self._fernet.rotate(ciphertext.encode()).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()
