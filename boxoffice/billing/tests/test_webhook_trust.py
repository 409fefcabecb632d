"""Which webhooks can be believed at all: only an enabled gateway's, only with a real secret."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from django.conf import settings as django_settings

from boxoffice.billing.gateways.base import WebhookRejected
from boxoffice.billing.gateways.stripe.adapter import StripeGateway
from boxoffice.billing.models import Order, WebhookEvent
from boxoffice.lib.tests.settings_under import PRODUCTION_KEYS, settings_under
from boxoffice.runtime.production import production_settings_problems

URL = "/billing/webhooks/stripe/"
EMULATOR_SECRET = "whsec_emulator"  # noqa: S105 - the published secret these tests must see refused


@pytest.fixture
def stripe_order(make_order):
    return make_order(gateway="stripe")


def _completed(order) -> str:
    return json.dumps(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": "cs_forged",
                    "object": "checkout.session",
                    "client_reference_id": order.reference,
                    "payment_status": "paid",
                    "amount_total": int(order.amount * 100),
                    "currency": order.currency.lower(),
                }
            },
        }
    )


def _post(client, body: str, secret: str):
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    return client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


@pytest.mark.django_db
def test_it_answers_404_to_a_correctly_signed_webhook_of_a_gateway_that_is_not_enabled(
    client, settings, stripe_order
):
    settings.PAYMENT_GATEWAYS = ["manual"]
    settings.STRIPE_WEBHOOK_SECRET = EMULATOR_SECRET

    response = _post(client, _completed(stripe_order), EMULATOR_SECRET)

    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.AWAITING_PAYMENT


@pytest.mark.parametrize("signed_with", ["", EMULATOR_SECRET])
def test_it_rejects_every_webhook_while_the_secret_is_empty(settings, signed_with):
    settings.STRIPE_WEBHOOK_SECRET = ""
    body = json.dumps({"id": "evt_1", "object": "event", "type": "charge.refunded"})
    header = stripe.WebhookSignature.generate_signature_header(body, signed_with)

    with pytest.raises(WebhookRejected, match="STRIPE_WEBHOOK_SECRET"):
        StripeGateway().verify_webhook(body=body.encode(), headers={"Stripe-Signature": header})


@pytest.mark.django_db
def test_it_cannot_accept_a_webhook_signed_with_the_emulator_secret_in_production(
    client, settings, stripe_order, monkeypatch, tmp_path
):
    production = settings_under(
        monkeypatch,
        tmp_path,
        BOXOFFICE_ENV="production",
        SITE_URL="https://tv.example.com",
        STRIPE_SECRET_KEY="sk_live_51Example",
        BANK_TRANSFER_DETAILS="Example TV GmbH\\nIBAN: DE02 1203 0000 0000 2020 51",
        **PRODUCTION_KEYS,
    )
    # Left unset, the production secret is empty, not the emulator's ...
    assert production["STRIPE_WEBHOOK_SECRET"] == ""
    settings.STRIPE_WEBHOOK_SECRET = production["STRIPE_WEBHOOK_SECRET"]
    for signed_with in (EMULATOR_SECRET, ""):
        response = _post(client, _completed(stripe_order), signed_with)
        assert response.status_code == 400
    assert not WebhookEvent.objects.exists()

    # ... and set to the emulator's, the application refuses to start at all.
    settings.STRIPE_WEBHOOK_SECRET = EMULATOR_SECRET
    for name in (
        "PRODUCTION",
        "DEBUG",
        "SITE_URL",
        "ALLOWED_HOSTS",
        "STRIPE_SECRET_KEY",
        "BANK_TRANSFER_DETAILS",
    ):
        setattr(settings, name, production[name])
    assert production_settings_problems(django_settings) == [
        "STRIPE_WEBHOOK_SECRET is the local emulator's secret (whsec_emulator), with which anyone "
        "can sign a payment: set it to the signing secret (whsec_...) of the Stripe webhook "
        "endpoint for https://tv.example.com/billing/webhooks/stripe/."
    ]
