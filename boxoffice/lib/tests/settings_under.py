"""Evaluate settings.py afresh under another environment (e.g. BOXOFFICE_ENV=production) and
return its module namespace, without touching the settings this test run uses."""

from __future__ import annotations

import runpy
from pathlib import Path

import boxoffice.settings

# Every variable these tests reason about: unset first, so the developer's shell cannot leak in.
VARIABLES = (
    "BOXOFFICE_ENV",
    "DEBUG",
    "SITE_URL",
    "ALLOWED_HOSTS",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "PAYPAL_CLIENT_ID",
    "PAYPAL_CLIENT_SECRET",
    "PAYPAL_WEBHOOK_ID",
    "PAYPAL_API_BASE",
    "BANK_TRANSFER_DETAILS",
    "PAYMENT_GATEWAYS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "BOXOFFICE_VAR_DIR",
    "BOXOFFICE_SQLITE_PATH",
    "DATABASE_URL",
)
PRODUCTION_KEYS = {
    "SECRET_KEY": "test-only-secret-key-" + "x" * 40,
    "FIELD_ENCRYPTION_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
}


def settings_under(monkeypatch, var_dir: Path, **env: str) -> dict:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOXOFFICE_VAR_DIR", str(var_dir))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(boxoffice.settings.__file__)
