"""Encryption at rest: round trip, key rotation, missing or wrong keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from service.cli import main
from service.security.crypto import SecretKeyMissing, Vault, generate_key

SECRET = "1//0refresh-token-of-maya"


def test_round_trip_and_ciphertext_hides_plaintext():
    vault = Vault(generate_key())
    ciphertext = vault.encrypt(SECRET)
    assert SECRET not in ciphertext and ciphertext != vault.encrypt(SECRET)  # random IV
    assert vault.decrypt(ciphertext) == SECRET


def test_rotation_old_key_second_still_decrypts_and_rotate_moves_to_new_key():
    old, new = generate_key(), generate_key()
    stored = Vault(old).encrypt(SECRET)
    both = Vault(f"{new}, {old}")  # newest first; spaces around commas are fine
    assert both.decrypt(stored) == SECRET
    assert Vault(new).decrypt(both.encrypt(SECRET)) == SECRET  # encrypts with the first key
    rotated = both.rotate(stored)
    assert Vault(new).decrypt(rotated) == SECRET  # the old key can now be dropped
    with pytest.raises(SecretKeyMissing):
        Vault(old).decrypt(rotated)


@pytest.mark.parametrize("keys", ["", "   ", " , ,"])
def test_missing_key_is_a_clear_error(keys):
    with pytest.raises(SecretKeyMissing, match="oneonone keygen"):
        Vault(keys)


def test_malformed_key_is_a_clear_error_without_echoing_it():
    with pytest.raises(SecretKeyMissing, match="entry 2") as info:
        Vault(f"{generate_key()},not-a-fernet-key")
    assert "not-a-fernet-key" not in str(info.value)


def test_wrong_key_does_not_leak_the_ciphertext():
    ciphertext = Vault(generate_key()).encrypt(SECRET)
    vault = Vault(generate_key())
    for op in (vault.decrypt, vault.rotate):
        with pytest.raises(SecretKeyMissing) as info:
            op(ciphertext)
        assert ciphertext not in str(info.value) and info.value.status == 500


def test_keygen_prints_a_usable_key(capsys):
    assert main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    Fernet(key.encode())
    assert Vault(key).decrypt(Vault(key).encrypt(SECRET)) == SECRET
