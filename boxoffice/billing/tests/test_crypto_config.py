"""Production refuses the crypto gateways' emulator defaults, missing secrets and http:// URLs
(through the registry, as `boxoffice check` and a production start read them)."""

from __future__ import annotations

from boxoffice.billing.gateways.registry import gateway_config_problems, gateway_for
from boxoffice.lib import local_defaults


def test_the_local_defaults_are_refused(settings):
    settings.PAYMENT_GATEWAYS = ["btcpay", "nowpayments"]
    settings.BTCPAY_URL = local_defaults.BTCPAY_URL
    settings.BTCPAY_STORE_ID = local_defaults.BTCPAY_STORE_ID
    settings.BTCPAY_API_KEY = local_defaults.BTCPAY_API_KEY
    settings.BTCPAY_WEBHOOK_SECRET = local_defaults.BTCPAY_WEBHOOK_SECRET
    settings.NOWPAYMENTS_API_BASE = local_defaults.NOWPAYMENTS_API_BASE
    settings.NOWPAYMENTS_API_KEY = local_defaults.NOWPAYMENTS_API_KEY
    settings.NOWPAYMENTS_IPN_SECRET = local_defaults.NOWPAYMENTS_IPN_SECRET
    named = [p.split(" ", 1)[0].split("=", 1)[0] for p in gateway_config_problems(settings)]
    assert named == [
        "BTCPAY_URL",
        "BTCPAY_STORE_ID",
        "BTCPAY_API_KEY",
        "BTCPAY_WEBHOOK_SECRET",
        "NOWPAYMENTS_API_KEY",
        "NOWPAYMENTS_IPN_SECRET",
        "NOWPAYMENTS_API_BASE",
    ]


def test_real_settings_pass_and_nowpayments_defaults_to_its_api(settings):
    settings.SITE_URL = "https://tv.example"
    settings.PAYMENT_GATEWAYS = ["btcpay", "nowpayments"]
    settings.BTCPAY_URL = "https://pay.tv.example/"
    settings.BTCPAY_STORE_ID = "8Xk2store"
    settings.BTCPAY_API_KEY = "real-api-key"
    settings.BTCPAY_WEBHOOK_SECRET = "real-webhook-secret"
    settings.NOWPAYMENTS_API_BASE = ""
    settings.NOWPAYMENTS_API_KEY = "real-np-key"
    settings.NOWPAYMENTS_IPN_SECRET = "real-ipn-secret"
    assert gateway_config_problems(settings) == []
    assert gateway_for("btcpay").config.url == "https://pay.tv.example"
    nowpayments = gateway_for("nowpayments").config
    assert nowpayments.api_base == "https://api.nowpayments.io"
    assert nowpayments.ipn_callback_url == "https://tv.example/billing/webhooks/nowpayments/"
