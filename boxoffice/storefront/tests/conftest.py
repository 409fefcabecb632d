import pytest


@pytest.fixture
def site(live_server, settings, stripe_emulator, plan):
    """The application on a live server, paying through the Stripe emulator, which delivers
    its signed webhooks back to it."""
    settings.SITE_URL = live_server.url
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
    stripe_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/stripe/")
    return live_server.url
