"""`boxoffice` as the operator runs it, in real processes: production refuses unsafe
configuration with a sentence, and generate-keys works before any key exists."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from boxoffice.lib.tests.settings_under import PRODUCTION_KEYS, VARIABLES

pytestmark = pytest.mark.multiprocess

ROOT = Path(__file__).resolve().parents[3]


def _boxoffice(*args: str, env: dict[str, str], timeout: float = 60):
    """The installed console script, importing this checkout (PYTHONPATH) rather than whatever
    the virtualenv was installed from."""
    script = Path(sys.executable).with_name("boxoffice")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "boxoffice.cli"]
    return subprocess.run(
        [*command, *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(BOXOFFICE_VAR_DIR=str(tmp_path / "var"), **extra)
    return env


PRODUCTION = {
    "BOXOFFICE_ENV": "production",
    **PRODUCTION_KEYS,
    "SITE_URL": "https://tv.example.com",
    "STRIPE_SECRET_KEY": "sk_live_51Example",
    "STRIPE_WEBHOOK_SECRET": "whsec_live_example",
    "BANK_TRANSFER_DETAILS": "Example TV GmbH\\nIBAN: DE02 1203 0000 0000 2020 51",
}


def test_it_refuses_to_start_in_production_with_the_emulator_webhook_secret(tmp_path):
    env = _env(tmp_path, **{**PRODUCTION, "STRIPE_WEBHOOK_SECRET": "whsec_emulator"})

    result = _boxoffice("check", env=env)

    assert result.returncode != 0
    assert "refusing to start with BOXOFFICE_ENV=production" in result.stderr
    assert "STRIPE_WEBHOOK_SECRET is the local emulator's secret (whsec_emulator)" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_migrates_in_production_once_configured_and_keeps_the_files_private(tmp_path):
    env = _env(tmp_path, **PRODUCTION, BOXOFFICE_SQLITE_PATH=str(tmp_path / "var" / "db.sqlite3"))

    result = _boxoffice("migrate", "--no-input", env=env, timeout=120)

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    database = tmp_path / "var" / "db.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_it_generates_keys_in_production_before_any_key_exists(tmp_path):
    env = _env(tmp_path, BOXOFFICE_ENV="production")

    result = _boxoffice("generate-keys", env=env)

    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(values) == {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    assert len(values["SECRET_KEY"]) >= 50
    fernet = Fernet(values["FIELD_ENCRYPTION_KEYS"].encode())
    assert fernet.decrypt(fernet.encrypt(b"line password")) == b"line password"


def test_it_installs_no_development_tools_and_mounts_no_local_inbox_in_production(tmp_path):
    # In a process of its own: swapping INSTALLED_APPS inside the test run would rebuild the app
    # registry (and the admin's) under every later test.
    code = (
        "from django.apps import apps\n"
        "from django.urls import Resolver404, resolve\n"
        "print('dev-tools-installed' if apps.is_installed('boxoffice_dev') else 'no-dev-tools')\n"
        "try:\n"
        "    resolve('/backoffice/inbox/')\n"
        "    print('inbox-mounted')\n"
        "except Resolver404:\n"
        "    print('no-inbox')\n"
        "print(resolve('/backoffice/review/').url_name)\n"
    )
    local = _boxoffice("shell", "--no-imports", "-c", code, env=_env(tmp_path / "local"))
    production = _boxoffice(
        "shell", "--no-imports", "-c", code, env=_env(tmp_path / "prod", **PRODUCTION)
    )

    assert local.returncode == 0, local.stderr
    assert local.stdout.split() == ["dev-tools-installed", "inbox-mounted", "review"]
    assert production.returncode == 0, production.stderr
    assert production.stdout.split() == ["no-dev-tools", "no-inbox", "review"]
