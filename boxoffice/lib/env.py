"""Typed helpers for reading configuration from environment variables.

Every setting has a working local default; a bad value fails loudly at start-up with the
variable's name rather than surfacing later as a confusing error.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Every variable the settings read (through these helpers): the site's own configuration and
# secrets. Nothing else may copy them elsewhere (a TOML file's `<secret>_env`, for one).
SETTINGS_VARIABLES: set[str] = {"DJANGO_SETTINGS_MODULE"}


def _read(name: str, default: str | None = None) -> str | None:
    SETTINGS_VARIABLES.add(name)
    return os.environ.get(name, default)


def env_str(name: str, default: str = "") -> str:
    value = _read(name, default)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    raw = _read(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int) -> int:
    raw = _read(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None


def env_float(name: str, default: float) -> float:
    raw = _read(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = _read(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """Django's SECURE_PROXY_SSL_HEADER from `HTTP_X_FORWARDED_PROTO` (the header's value then
    must be `https`), a header name as sent (`X-Forwarded-Proto`), or `NAME=value`
    (`X-Forwarded-Ssl=on`). Unset or empty: None (no proxy is trusted)."""
    raw = (_read(name) or "").strip()
    if not raw:
        return None
    header, _, value = raw.partition("=")
    header = header.strip().upper().replace("-", "_")
    if not header.startswith("HTTP_"):
        header = f"HTTP_{header}"
    if header == "HTTP_" or " " in header:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a header name (e.g. HTTP_X_FORWARDED_PROTO)"
        )
    return header, value.strip() or "https"
