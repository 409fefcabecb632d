"""Fresh production secrets. Imports nothing from Django, so `boxoffice generate-keys` works
before the keys it prints exist (settings refuse to load in production without them)."""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet


def secret_key_new() -> str:
    return secrets.token_urlsafe(50)


def fernet_key_new() -> str:
    return Fernet.generate_key().decode()


def production_keys_lines() -> list[str]:
    """`NAME=value` lines, ready for an environment file."""
    return [f"SECRET_KEY={secret_key_new()}", f"FIELD_ENCRYPTION_KEYS={fernet_key_new()}"]
