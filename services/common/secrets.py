"""Encryption of stored secrets (overwrite tokens, registry auths).

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) before they
reach the database. ``IIB_SECRETS_KEY`` may hold several comma-separated keys: the first
encrypts, all decrypt, so keys can be rotated without losing in-flight requests.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.common.errors import ConfigError, IIBError

__all__ = ["SecretBox", "generate_key"]


def generate_key() -> str:
    """A new random key suitable for ``IIB_SECRETS_KEY``."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts secret strings with the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
            # a separate key for fingerprints, derived from the first (encrypting) key
            self._mac_key = hashlib.sha256(b"iib fingerprint\0" + keys[0].encode()).digest()
        except (ValueError, TypeError):
            raise ConfigError(
                "Invalid setting IIB_SECRETS_KEY: each key must be 32 url-safe base64-encoded bytes "
                "(generate one with `iib secrets-key`)"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def fingerprint(self, data: bytes) -> str:
        """A keyed HMAC-SHA256 of ``data``: comparable, but useless to guess a secret from."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise IIBError(
                "A stored secret cannot be decrypted with the configured IIB_SECRETS_KEY"
            ) from None
