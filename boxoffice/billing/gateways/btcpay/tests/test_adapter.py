"""BTCPay Server adapter: configuration, webhook verification (raw-body HMAC, constant time),
what an invoice's state means, and the webhook endpoint's answers to bad input (400, never 500)."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

import pytest

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import VerifiedEvent, WebhookRejected
from boxoffice.billing.gateways.btcpay.adapter import FETCHED, BTCPayConfig, BTCPayGateway
from boxoffice.billing.models import Order, WebhookEvent
from boxoffice.billing.services import payment_update_apply
from boxoffice.lib import local_defaults

SECRET = "whsec-btcpay-test"
URL = "/billing/webhooks/btcpay/"


def _adapter() -> BTCPayGateway:
    return BTCPayGateway(
        BTCPayConfig(
            url="https://pay.example", store_id="store1", api_key="k", webhook_secret=SECRET
        )
    )


def _sig(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _event(**overrides) -> dict:
    return {
        "deliveryId": "d1",
        "webhookId": "w1",
        "originalDeliveryId": "d1",
        "isRedelivery": False,
        "type": "InvoiceSettled",
        "timestamp": 1,
        "storeId": "store1",
        "invoiceId": "inv1",
        "metadata": {"orderId": "BX-TEST0001"},
        **overrides,
    }


def _invoice(status: str, additional: str = "None", paid: str = "0.0001998", amount="9.99"):
    return {
        "id": "inv1",
        "amount": amount,
        "currency": "EUR",
        "status": status,
        "additionalStatus": additional,
        "metadata": {"orderId": "BX-TEST0001"},
        "paymentMethods": [{"paymentMethodPaid": paid, "rate": "50000"}],
    }


def test_config_problems_name_each_variable_and_refuse_the_emulator(settings):
    settings.SITE_URL = "https://tv.example"
    problems = BTCPayConfig(url="http://127.0.0.1:8400", store_id="", api_key="").problems(settings)
    assert [p.split(" ", 1)[0] for p in problems] == [
        "BTCPAY_URL=http://127.0.0.1:8400",
        "BTCPAY_STORE_ID",
        "BTCPAY_API_KEY",
        "BTCPAY_WEBHOOK_SECRET",
    ]
    assert "https://tv.example/billing/webhooks/btcpay/" in problems[-1]
    emulator = BTCPayConfig(
        url="https://pay.example",
        store_id=local_defaults.BTCPAY_STORE_ID,
        api_key=local_defaults.BTCPAY_API_KEY,
        webhook_secret=local_defaults.BTCPAY_WEBHOOK_SECRET,
    ).problems(settings)
    assert len(emulator) == 3 and all("emulator" in p for p in emulator)
    assert not _adapter().config.problems(settings)


def test_the_config_never_shows_its_secrets():
    text = repr(BTCPayConfig(api_key="api-secret-1", webhook_secret="hook-secret-2"))
    assert "api-secret-1" not in text and "hook-secret-2" not in text


def test_the_signature_is_checked_over_the_raw_body():
    body = json.dumps(_event()).encode()
    event = _adapter().verify_webhook(body=body, headers={"BTCPay-Sig": _sig(body)})
    assert (event.event_id, event.event_type) == ("d1", "InvoiceSettled")
    for headers in ({}, {"BTCPay-Sig": _sig(body, "other")}, {"BTCPay-Sig": "sha256="}):
        with pytest.raises(WebhookRejected):
            _adapter().verify_webhook(body=body, headers=headers)
    # The same JSON written differently is another body: its signature does not carry over.
    respaced = json.dumps(_event(), indent=1).encode()
    with pytest.raises(WebhookRejected):
        _adapter().verify_webhook(body=respaced, headers={"BTCPay-Sig": _sig(body)})


def test_no_secret_means_nothing_is_authentic():
    body = json.dumps(_event()).encode()
    adapter = BTCPayGateway(BTCPayConfig(url="https://p", store_id="store1", webhook_secret=""))
    with pytest.raises(WebhookRejected):
        adapter.verify_webhook(body=body, headers={"BTCPay-Sig": _sig(body, "")})


def test_a_redelivery_is_the_same_event():
    body = json.dumps(_event(deliveryId="d2", isRedelivery=True, originalDeliveryId="d1")).encode()
    event = _adapter().verify_webhook(body=body, headers={"BTCPay-Sig": _sig(body)})
    assert event.event_id == "d1"


def test_an_event_about_another_store_is_refused():
    body = json.dumps(_event(storeId="someone-else")).encode()
    with pytest.raises(WebhookRejected):
        _adapter().verify_webhook(body=body, headers={"BTCPay-Sig": _sig(body)})


@pytest.mark.parametrize(
    ("invoice", "status", "amount"),
    [
        (_invoice("Settled"), base.CONFIRMED, Decimal("9.99")),
        # Settled while short by more than a cent (a store's payment tolerance): review.
        (_invoice("Settled", paid="0.0001"), base.PARTIAL, Decimal("5.00")),
        # The merchant marked it settled in BTCPay: their decision.
        (_invoice("Settled", "Marked", paid="0"), base.CONFIRMED, Decimal("9.99")),
        (_invoice("Processing"), base.PENDING, Decimal("9.99")),
        (_invoice("New", "PaidPartial", paid="0.0001"), base.PENDING, Decimal("5.00")),
        (_invoice("Expired", "PaidPartial", paid="0.0001"), base.PARTIAL, Decimal("5.00")),
        (_invoice("Expired", paid="0"), base.EXPIRED, Decimal("9.99")),
        (_invoice("Invalid", paid="0"), base.FAILED, Decimal("9.99")),
        (_invoice("Invalid", paid="0.0001"), base.PARTIAL, Decimal("5.00")),
    ],
)
def test_the_invoice_state_decides(invoice, status, amount):
    event = VerifiedEvent("d1", "InvoiceProcessing", {**_event(), FETCHED: invoice})
    update = _adapter().parse_event(event)
    assert (update.status, update.amount, update.currency) == (status, amount, "EUR")
    assert (update.order_reference, update.gateway_reference) == ("BX-TEST0001", "inv1")


def test_nothing_paid_on_a_new_invoice_means_nothing():
    event = VerifiedEvent("d1", "InvoiceCreated", {**_event(), FETCHED: _invoice("New", paid="0")})
    assert _adapter().parse_event(event) is None


def test_a_fetched_invoice_that_is_another_one_is_not_read():
    other = {**_invoice("Settled"), "id": "inv2"}
    assert (
        _adapter().parse_event(VerifiedEvent("d1", "InvoiceSettled", {**_event(), FETCHED: other}))
        is None
    )


def test_a_settled_invoice_for_less_than_the_order_goes_to_review(make_order):
    order = make_order(gateway="btcpay")
    invoice = {**_invoice("Settled", amount="1.00"), "metadata": {"orderId": order.reference}}
    update = _adapter().invoice_update(invoice)
    assert payment_update_apply(order=order, update=update) == "amount_mismatch"
    order.refresh_from_db()
    assert order.needs_review and order.status == Order.Status.AWAITING_PAYMENT
    assert not order.lines.exists()


@pytest.fixture
def enabled(settings):
    settings.PAYMENT_GATEWAYS = ["btcpay"]
    settings.BTCPAY_WEBHOOK_SECRET = SECRET
    settings.BTCPAY_STORE_ID = "store1"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"text"',
        b"{}",
        json.dumps(_event(deliveryId=12)).encode(),
        json.dumps(_event(deliveryId="x" * 300)).encode(),
        json.dumps(_event(type=None)).encode(),
        json.dumps(_event(invoiceId={"a": 1})).encode(),
        json.dumps(_event(metadata=[1])).encode(),
        json.dumps(_event(originalDeliveryId=5)).encode(),
        b"[" * 10000 + b"]" * 10000,
    ],
)
def test_absurd_signed_bodies_are_400_not_500(client, db, enabled, body):
    response = client.post(
        URL, data=body, content_type="application/json", HTTP_BTCPAY_SIG=_sig(body)
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_forged_and_duplicate_deliveries_at_the_endpoint(client, db, enabled):
    body = json.dumps(_event()).encode()
    forged = client.post(
        URL, data=body, content_type="application/json", HTTP_BTCPAY_SIG=_sig(body, "guess")
    )
    assert forged.status_code == 400
    assert not WebhookEvent.objects.exists()
    for _ in range(2):
        answer = client.post(
            URL, data=body, content_type="application/json", HTTP_BTCPAY_SIG=_sig(body)
        )
        assert answer.status_code == 200
    assert WebhookEvent.objects.filter(gateway="btcpay", event_id="d1").count() == 1
    assert answer.json() == {"received": True, "duplicate": True}


def test_a_disabled_gateway_takes_no_webhooks(client, db, settings):
    settings.PAYMENT_GATEWAYS = ["stripe"]
    settings.BTCPAY_WEBHOOK_SECRET = SECRET
    body = json.dumps(_event()).encode()
    answer = client.post(
        URL, data=body, content_type="application/json", HTTP_BTCPAY_SIG=_sig(body)
    )
    assert answer.status_code == 404
