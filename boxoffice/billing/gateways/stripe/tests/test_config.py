"""Stripe's configuration: read from settings by the registry, secrets never in a repr."""

from __future__ import annotations

from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.gateways.stripe.adapter import StripeConfig, StripeGateway


def test_the_registry_builds_the_adapter_with_its_config_from_settings(settings):
    settings.STRIPE_SECRET_KEY = "sk_live_abc"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_live_def"
    settings.STRIPE_API_BASE = ""
    adapter = gateway_for("stripe")
    assert isinstance(adapter, StripeGateway)
    assert adapter.config == StripeConfig(
        secret_key="sk_live_abc", webhook_secret="whsec_live_def", api_base=""
    )


def test_the_config_never_shows_its_secrets():
    config = StripeConfig(secret_key="sk_live_abc", webhook_secret="whsec_live_def")
    assert "sk_live_abc" not in repr(config)
    assert "whsec_live_def" not in repr(config)


def test_its_problems_name_the_variables(settings):
    settings.SITE_URL = "https://tv.example"
    problems = StripeConfig(secret_key="", webhook_secret="", api_base="http://x").problems(
        settings
    )
    assert [p.split(" ", 1)[0] for p in problems] == [
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE=http://x",
    ]
    assert "https://tv.example/billing/webhooks/stripe/" in problems[1]
