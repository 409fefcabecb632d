"""A production start refuses what is only safe on a laptop: the emulators' published secrets,
the demo bank account, a missing secret, DEBUG, a plain-http site, an unknown gateway; and it
runs without the development tools (emulators, local inbox)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from boxoffice.billing.gateways.registry import GATEWAYS
from boxoffice.lib.tests.settings_under import PRODUCTION_KEYS, settings_under
from boxoffice.runtime.production import production_settings_check, production_settings_problems

LIVE = {
    "SITE_URL": "https://tv.example.com",
    "STRIPE_SECRET_KEY": "sk_live_51Example",
    "STRIPE_WEBHOOK_SECRET": "whsec_live_example",
    "BANK_TRANSFER_DETAILS": "Example TV GmbH\nIBAN: DE02 1203 0000 0000 2020 51",
}


@pytest.fixture
def production(settings):
    """A complete, valid production configuration; each test breaks one thing."""
    settings.PRODUCTION = True
    settings.DEBUG = False
    settings.STRIPE_API_BASE = ""
    settings.PAYMENT_GATEWAYS = ["stripe", "manual"]
    settings.ALLOWED_HOSTS = ["tv.example.com"]
    for name, value in LIVE.items():
        setattr(settings, name, value)
    return settings


def _problems() -> str:
    return "\n".join(production_settings_problems(django_settings))


def test_it_accepts_a_complete_production_configuration(production):
    assert production_settings_problems(django_settings) == []
    production_settings_check(django_settings)  # does not raise


def test_it_refuses_the_stripe_emulator_secrets(production):
    production.STRIPE_SECRET_KEY = "sk_test_emulator"
    production.STRIPE_WEBHOOK_SECRET = "whsec_emulator"

    with pytest.raises(ImproperlyConfigured) as refused:
        production_settings_check(django_settings)

    message = str(refused.value)
    assert "BOXOFFICE_ENV=production" in message
    assert "STRIPE_SECRET_KEY is the local emulator's key (sk_test_emulator)" in message
    assert "STRIPE_WEBHOOK_SECRET is the local emulator's secret (whsec_emulator)" in message
    # ... and says what to do instead.
    assert "https://tv.example.com/billing/webhooks/stripe/" in message


def test_it_refuses_missing_stripe_secrets(production):
    production.STRIPE_SECRET_KEY = ""
    production.STRIPE_WEBHOOK_SECRET = ""

    problems = _problems()

    assert "STRIPE_SECRET_KEY is not set" in problems
    assert "STRIPE_WEBHOOK_SECRET is not set" in problems


def test_it_refuses_a_stripe_api_base_that_is_not_https(production):
    production.STRIPE_API_BASE = "http://127.0.0.1:8200"

    assert "STRIPE_API_BASE=http://127.0.0.1:8200 is not an https:// address" in _problems()

    production.STRIPE_API_BASE = "https://stripe-proxy.example.com"
    assert _problems() == ""


@pytest.mark.parametrize(
    ("details", "said"),
    [
        (
            "Demo TV Ltd\nIBAN: DE89 3704 0044 0532 0130 00\nBIC: COBADEFFXXX",
            "the demo bank account",
        ),
        ("  ", "BANK_TRANSFER_DETAILS is not set"),
    ],
)
def test_it_refuses_the_demo_or_a_missing_bank_account(production, details, said):
    production.BANK_TRANSFER_DETAILS = details

    problems = _problems()

    assert "BANK_TRANSFER_DETAILS" in problems
    assert said in problems


def test_it_checks_only_the_enabled_gateways(production):
    production.PAYMENT_GATEWAYS = ["manual"]
    production.STRIPE_SECRET_KEY = "sk_test_emulator"
    production.STRIPE_WEBHOOK_SECRET = "whsec_emulator"

    assert _problems() == ""


def test_it_refuses_an_unknown_or_no_gateway(production):
    production.PAYMENT_GATEWAYS = ["stripe", "klarna"]
    known = ", ".join(GATEWAYS)
    assert f"PAYMENT_GATEWAYS names an unknown gateway 'klarna': use only {known}" in _problems()

    production.PAYMENT_GATEWAYS = []
    assert "PAYMENT_GATEWAYS is empty" in _problems()


@pytest.mark.parametrize(
    ("site_url", "said"),
    [
        ("http://127.0.0.1:8000", "SITE_URL is the local default"),
        ("http://tv.example.com", "SITE_URL=http://tv.example.com is not https://"),
        ("", "SITE_URL is not set"),
    ],
)
def test_it_refuses_a_site_url_that_is_local_or_not_https(production, site_url, said):
    production.SITE_URL = site_url

    assert said in _problems()


@pytest.mark.parametrize(
    ("hosts", "said"),
    [(["*"], "ALLOWED_HOSTS contains '*'"), (["other.example.com"], "does not include")],
)
def test_it_refuses_allowed_hosts_that_are_open_or_miss_the_site(production, hosts, said):
    production.ALLOWED_HOSTS = hosts

    assert said in _problems()


def test_it_refuses_debug(production):
    production.DEBUG = True

    assert "DEBUG is on" in _problems()


def test_it_names_every_problem_at_once(production):
    production.DEBUG = True
    production.SITE_URL = "http://127.0.0.1:8000"
    production.STRIPE_WEBHOOK_SECRET = "whsec_emulator"

    with pytest.raises(ImproperlyConfigured) as refused:
        production_settings_check(django_settings)

    lines = [line for line in str(refused.value).splitlines() if line.startswith("  - ")]
    assert len(lines) == 3


def test_it_runs_the_check_when_django_starts_in_production(production):
    production.STRIPE_WEBHOOK_SECRET = "whsec_emulator"

    with pytest.raises(ImproperlyConfigured, match="STRIPE_WEBHOOK_SECRET"):
        apps.get_app_config("runtime").ready()

    production.PRODUCTION = False
    apps.get_app_config("runtime").ready()  # locally the emulator's secret is the default


def test_it_leaves_the_emulator_values_out_of_production_defaults(monkeypatch, tmp_path):
    local = settings_under(monkeypatch, tmp_path / "local")
    production = settings_under(
        monkeypatch, tmp_path / "prod", BOXOFFICE_ENV="production", **PRODUCTION_KEYS
    )

    assert local["STRIPE_WEBHOOK_SECRET"] == "whsec_emulator"
    assert local["STRIPE_SECRET_KEY"] == "sk_test_emulator"
    assert local["SITE_URL"] == "http://127.0.0.1:8000"
    assert local["BANK_TRANSFER_DETAILS"].startswith("Demo TV Ltd")
    for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "SITE_URL", "BANK_TRANSFER_DETAILS"):
        assert production[name] == "", name
    assert production["DEBUG"] is False


def test_it_answers_only_the_site_host_in_production_by_default(monkeypatch, tmp_path):
    production = settings_under(
        monkeypatch,
        tmp_path / "prod",
        BOXOFFICE_ENV="production",
        SITE_URL="https://tv.example.com",
        **PRODUCTION_KEYS,
    )

    assert production["ALLOWED_HOSTS"] == ["tv.example.com"]


def _sidebar_links(namespace: dict) -> list[str]:
    return [
        item["link"]
        for group in namespace["UNFOLD"]["SIDEBAR"]["navigation"]
        for item in group["items"]
    ]


def test_it_installs_the_development_tools_only_outside_production(monkeypatch, tmp_path):
    local = settings_under(monkeypatch, tmp_path / "local")
    production = settings_under(
        monkeypatch, tmp_path / "prod", BOXOFFICE_ENV="production", **PRODUCTION_KEYS
    )

    assert "boxoffice_dev" in local["INSTALLED_APPS"]
    assert "/backoffice/inbox/" in _sidebar_links(local)
    assert "boxoffice_dev" not in production["INSTALLED_APPS"]
    assert not [app for app in production["INSTALLED_APPS"] if app.startswith("boxoffice_dev")]
    assert "/backoffice/inbox/" not in _sidebar_links(production)
    assert "/backoffice/review/" in _sidebar_links(production)


def test_it_runs_without_the_development_tools_where_they_are_not_installed(monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "boxoffice_dev" else find_spec(name, *args),
    )

    local = settings_under(monkeypatch, tmp_path / "local")

    assert "boxoffice_dev" not in local["INSTALLED_APPS"]
    assert "/backoffice/inbox/" not in _sidebar_links(local)


# --- payment gateways configured in the back office (GatewayAccount) --------------------------


@pytest.mark.django_db
def test_it_refuses_an_enabled_back_office_gateway_with_the_emulators_defaults(production):
    from boxoffice.billing.models import GatewayAccount
    from boxoffice.lib import local_defaults

    production.PAYMENT_GATEWAYS_FROM_ENV = False
    # Saved before production (the row came from a development database, say).
    production.PRODUCTION = False
    account = GatewayAccount(kind="stripe")
    account.setting_set("secret_key", local_defaults.STRIPE_SECRET_KEY)
    account.setting_set("webhook_secret", local_defaults.STRIPE_WEBHOOK_SECRET)
    account.save()
    production.PRODUCTION = True

    with pytest.raises(ImproperlyConfigured) as refused:
        production_settings_check(django_settings)
    assert "Card (Stripe) (back office): STRIPE_SECRET_KEY is the local emulator's" in str(
        refused.value
    )


@pytest.mark.django_db
def test_it_accepts_gateways_configured_only_in_the_back_office(production):
    from boxoffice.billing.models import GatewayAccount

    production.PAYMENT_GATEWAYS_FROM_ENV = False
    production.STRIPE_SECRET_KEY = production.STRIPE_WEBHOOK_SECRET = ""  # nothing in the env
    account = GatewayAccount(kind="stripe")
    account.setting_set("secret_key", "sk_live_51FromTheBackOffice")
    account.setting_set("webhook_secret", "whsec_live_back_office")
    account.full_clean()
    account.save()
    production_settings_check(django_settings)  # does not raise: the account is in force
