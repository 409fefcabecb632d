"""The webhook endpoint refuses what is not a verified PayPal event with 400 (PayPal then
delivers again), stores nothing, and never answers 500."""

from __future__ import annotations

import json

import pytest

from boxoffice.billing.models import WebhookEvent

pytestmark = pytest.mark.django_db
URL = "/billing/webhooks/paypal/"

HEADERS = {
    "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-1",
    "PAYPAL-TRANSMISSION-ID": "3f1b0f10-0000-0000-0000-000000000000",
    "PAYPAL-TRANSMISSION-SIG": "c2lnbmF0dXJl",
    "PAYPAL-TRANSMISSION-TIME": "2026-12-01T10:00:00Z",
}


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"", HEADERS),
        (b"\xff\xfe\x00garbage", HEADERS),
        (b"[]", HEADERS),
        (b"null", HEADERS),
        (b'{"id": 1, "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}', HEADERS),
        (b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": "x"}', HEADERS),
        (json.dumps({"id": "W" * 300, "event_type": "X", "resource": {}}).encode(), HEADERS),
        (
            b'{"id": "WH-1", "event_type": "X", "resource": {}, "pad": "' + b"x" * 300_000 + b'"}',
            HEADERS,
        ),
        (b'{"id": "WH-1", "event_type": "X", "resource": {}}', {}),
        (
            b'{"id": "WH-1", "event_type": "X", "resource": {}}',
            {**HEADERS, "PAYPAL-TRANSMISSION-ID": "x" * 5000},
        ),
        (b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}', HEADERS),
    ],
)
def test_the_webhook_endpoint_answers_nonsense_with_400(client, paypal_settings, body, headers):
    response = client.post(URL, body, content_type="application/json", headers=headers)
    assert response.status_code == 400, response.content
    assert not WebhookEvent.objects.exists()


def test_a_disabled_paypal_takes_no_webhooks(client, paypal_settings):
    paypal_settings.PAYMENT_GATEWAYS = ["manual"]
    response = client.post(URL, b"{}", content_type="application/json", headers=HEADERS)
    assert response.status_code == 404
