"""PayPal's configuration: read from settings by the registry, secrets never in a repr, and a
production start refuses the emulator's values, missing ones and a plain-http API base."""

from __future__ import annotations

from django.conf import settings as django_settings

from boxoffice.billing.gateways.paypal.adapter import PayPalConfig, PayPalGateway
from boxoffice.billing.gateways.registry import gateway_config_problems, gateway_for
from boxoffice.lib import local_defaults
from boxoffice.lib.tests.settings_under import PRODUCTION_KEYS, settings_under

LIVE = PayPalConfig(client_id="AaLiveId", client_secret="EeLiveSecret", webhook_id="8PT597110X")


def test_the_registry_builds_the_adapter_with_its_config_from_settings(settings):
    settings.PAYPAL_CLIENT_ID = "AaLiveId"
    settings.PAYPAL_CLIENT_SECRET = "EeLiveSecret"
    settings.PAYPAL_WEBHOOK_ID = "8PT597110X"
    settings.PAYPAL_API_BASE = ""
    adapter = gateway_for("paypal")
    assert isinstance(adapter, PayPalGateway)
    assert adapter.config == LIVE


def test_the_config_never_shows_its_secret():
    assert "EeLiveSecret" not in repr(LIVE)


def test_a_live_config_has_no_problems_and_the_sandbox_is_allowed(settings):
    settings.SITE_URL = "https://tv.example"
    assert LIVE.problems(settings) == []
    sandbox = PayPalConfig(
        client_id="AaId",
        client_secret="EeSecret",
        webhook_id="WH1",
        api_base="https://api-m.sandbox.paypal.com",
    )
    assert sandbox.problems(settings) == []


def test_its_problems_name_the_variables(settings):
    settings.SITE_URL = "https://tv.example"
    missing = PayPalConfig(api_base="http://127.0.0.1:8300").problems(settings)
    assert [p.split(" ", 1)[0] for p in missing] == [
        "PAYPAL_CLIENT_ID",
        "PAYPAL_CLIENT_SECRET",
        "PAYPAL_WEBHOOK_ID",
        "PAYPAL_API_BASE=http://127.0.0.1:8300",
    ]
    assert "https://tv.example/billing/webhooks/paypal/" in missing[2]


def test_it_refuses_the_emulator_values(settings):
    settings.SITE_URL = "https://tv.example"
    emulator = PayPalConfig(
        client_id=local_defaults.PAYPAL_CLIENT_ID,
        client_secret=local_defaults.PAYPAL_CLIENT_SECRET,
        webhook_id=local_defaults.PAYPAL_WEBHOOK_ID,
    ).problems(settings)
    assert len(emulator) == 3
    assert all("local emulator" in p for p in emulator)
    # The secret itself is never repeated in a problem (it may be printed at start-up).
    assert not any(local_defaults.PAYPAL_CLIENT_SECRET in p for p in emulator)


def test_an_enabled_paypal_is_checked_at_production_start(settings):
    settings.PAYMENT_GATEWAYS = ["paypal"]
    settings.PAYPAL_CLIENT_ID = ""
    settings.PAYPAL_CLIENT_SECRET = ""
    settings.PAYPAL_WEBHOOK_ID = local_defaults.PAYPAL_WEBHOOK_ID
    settings.PAYPAL_API_BASE = ""
    problems = gateway_config_problems(django_settings)
    assert [p.split(" ", 1)[0] for p in problems] == [
        "PAYPAL_CLIENT_ID",
        "PAYPAL_CLIENT_SECRET",
        "PAYPAL_WEBHOOK_ID",
    ]


def test_the_emulator_values_are_local_defaults_only(monkeypatch, tmp_path):
    local = settings_under(monkeypatch, tmp_path / "local")
    production = settings_under(
        monkeypatch, tmp_path / "prod", BOXOFFICE_ENV="production", **PRODUCTION_KEYS
    )
    assert local["PAYPAL_CLIENT_ID"] == local_defaults.PAYPAL_CLIENT_ID
    assert local["PAYPAL_WEBHOOK_ID"] == local_defaults.PAYPAL_WEBHOOK_ID
    for name in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"):
        assert production[name] == "", name
    assert production["PAYPAL_API_BASE"] == "" == local["PAYPAL_API_BASE"]
