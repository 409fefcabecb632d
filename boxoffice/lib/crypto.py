"""Field encryption at rest for panel API keys and line passwords.

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. `FIELD_ENCRYPTION_KEYS` is a list: the
first key encrypts, every key decrypts, so keys can be rotated without a flag day.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)

PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # cryptography's own errors ("Fernet key must be 32 url-safe base64-encoded bytes") do not
    # say which setting is wrong; these do, and never echo the key.
    if not keys:
        raise ValueError(
            "FIELD_ENCRYPTION_KEYS is empty: set it to a Fernet key "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise ValueError(
                f"FIELD_ENCRYPTION_KEYS: key {position} of {len(keys)} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return MultiFernet(fernets)


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(value: str) -> str:
    return PREFIX + _current().encrypt(value.encode()).decode()


def decrypt_str(token: str) -> str:
    if not token.startswith(PREFIX):
        raise ValueError("value is not an encrypted token")
    try:
        return _current().decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError(
            "cannot decrypt a stored secret: FIELD_ENCRYPTION_KEYS does not hold the key it was "
            "written with"
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees plain text.

    Encrypted values cannot be searched or compared in SQL: look rows up by other columns.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def to_python(self, value):
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt_str(value)
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))


class UnreadableSecrets(dict):
    """What an encrypted JSON column holds when FIELD_ENCRYPTION_KEYS cannot decrypt it (a key
    rotated away): empty, so pages that load the row keep working, and the token itself kept,
    so saving the row again does not destroy what a restored key could still read."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted as one token; Python code sees a plain dict.

    For a panel kind's secret settings: the whole object is one Fernet token, so neither the
    values nor which keys are set can be read from the database.
    """

    description = "JSON object encrypted at rest"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        try:
            return json.loads(decrypt_str(value))
        except ValueError:
            logger.error("a stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS")
            return UnreadableSecrets(value)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value is None or value == "":
            return {}
        if isinstance(value, str) and value.startswith(PREFIX):
            return json.loads(decrypt_str(value))
        return json.loads(value)

    def get_prep_value(self, value):
        if isinstance(value, UnreadableSecrets) and not value:
            return value.token  # nothing new typed: keep what a restored key can still read
        if not value:
            return ""
        return encrypt_str(json.dumps(value, sort_keys=True))
