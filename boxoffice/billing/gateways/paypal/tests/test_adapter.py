"""The PayPal adapter against the emulator over real HTTP: what it sends (the order's shape,
idempotency keys), the token it keeps, capturing exactly once, refunds, and webhook
verification through verify-webhook-signature (a forged or modified event is refused)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    PaymentError,
    UnableToTakePayment,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.paypal.adapter import PayPalConfig, PayPalGateway


def request(**overrides) -> CheckoutRequest:
    values = {
        "order_reference": "BX-TEST1",
        "amount": Decimal("9.99"),
        "currency": "EUR",
        "description": "Demo TV — Monthly",
        "customer_email": "jane@example.test",
        "success_url": "http://shop.test/order/abc/",
        "cancel_url": "http://shop.test/order/abc/",
    }
    return CheckoutRequest(**{**values, **overrides})


def test_it_creates_an_order_to_capture_with_our_reference_and_sends_the_buyer_to_approve(
    adapter, paypal_emulator
):
    start = adapter.start_checkout(request())
    order = paypal_emulator.order(start.gateway_reference)
    assert order["intent"] == "CAPTURE"
    [unit] = order["purchase_units"]
    assert unit["reference_id"] == unit["custom_id"] == "BX-TEST1"
    assert unit["amount"] == {"currency_code": "EUR", "value": "9.99"}
    assert start.redirect_url == f"{paypal_emulator.base_url}/checkoutnow?token={order['id']}"


def test_amounts_carry_the_currency_s_decimals_and_money_is_never_rounded(adapter, paypal_emulator):
    start = adapter.start_checkout(
        request(order_reference="BX-JPY", amount=Decimal("1000"), currency="JPY")
    )
    unit = paypal_emulator.order(start.gateway_reference)["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "JPY", "value": "1000"}
    with pytest.raises(PaymentError, match="cannot be charged"):
        adapter.start_checkout(request(amount=Decimal("9.999")))


def test_one_order_per_checkout_however_often_it_is_asked(adapter, paypal_emulator):
    first = adapter.start_checkout(request())
    again = adapter.start_checkout(request())
    assert again.gateway_reference == first.gateway_reference
    # Paying again from the status page is a checkout of its own.
    fresh = adapter.start_checkout(request(previous_gateway_reference=first.gateway_reference))
    assert fresh.gateway_reference != first.gateway_reference
    assert len(paypal_emulator.orders()) == 2


def test_the_token_is_kept_until_it_expires_and_fetched_again_when_refused(
    adapter, paypal_emulator
):
    adapter.start_checkout(request(order_reference="BX-A"))
    adapter.start_checkout(request(order_reference="BX-B"))
    assert paypal_emulator.token_requests == 1
    paypal_emulator.expire_tokens()  # PayPal no longer knows it: 401, then one fresh token
    adapter.start_checkout(request(order_reference="BX-C"))
    assert paypal_emulator.token_requests == 2


def test_wrong_credentials_mean_paypal_is_unavailable_and_the_secret_is_never_logged(
    paypal_settings, paypal_emulator, caplog
):
    adapter = PayPalGateway(
        PayPalConfig(
            client_id="someone",
            client_secret="s3cr3t-not-theirs",
            webhook_id="WH",
            api_base=paypal_emulator.base_url,
        )
    )
    with pytest.raises(UnableToTakePayment):
        adapter.start_checkout(request())
    assert "s3cr3t-not-theirs" not in caplog.text
    assert "A21AA" not in caplog.text


def test_the_return_captures_an_approved_order_once(adapter, paypal_emulator):
    start = adapter.start_checkout(request())
    ref = CheckoutRef("BX-TEST1", start.gateway_reference)
    assert adapter.checkout_status(ref) is None  # not approved yet: nothing to capture
    paypal_emulator.approve(start.gateway_reference)
    update = adapter.checkout_status(ref)
    assert update is not None
    assert (update.status, update.amount, update.currency) == (
        base.CONFIRMED,
        Decimal("9.99"),
        "EUR",
    )
    assert (update.order_reference, update.gateway_reference) == (
        "BX-TEST1",
        start.gateway_reference,
    )
    again = adapter.checkout_status(ref)
    assert again == update
    [capture] = paypal_emulator.order(start.gateway_reference)["purchase_units"][0]["payments"][
        "captures"
    ]
    assert capture["id"] == update.gateway_payment_id


def test_an_order_captured_meanwhile_is_read_back(adapter, paypal_emulator):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference)
    paypal_emulator.api_capture(start.gateway_reference)  # e.g. our other worker got there first
    captured = adapter._capture(start.gateway_reference)  # 422 ORDER_ALREADY_CAPTURED
    assert captured["status"] == "COMPLETED"
    event = VerifiedEvent(
        "WH-1",
        "CHECKOUT.ORDER.APPROVED",
        {
            "id": "WH-1",
            "event_type": "CHECKOUT.ORDER.APPROVED",
            "resource": {"id": start.gateway_reference},
        },
    )
    update = adapter.event_update(event, checkout_open=lambda ref: True)
    assert update is not None and update.status == base.CONFIRMED


def test_an_approval_is_captured_only_while_it_is_our_open_checkout(adapter, paypal_emulator):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference)
    payload = {
        "id": "WH-3",
        "event_type": "CHECKOUT.ORDER.APPROVED",
        "resource": {"id": start.gateway_reference},
    }
    event = VerifiedEvent("WH-3", "CHECKOUT.ORDER.APPROVED", payload)
    asked = []
    # The customer cancelled the order, or paid it again with a new checkout, meanwhile.
    assert adapter.event_update(event, checkout_open=lambda ref: asked.append(ref)) is None
    assert asked == [start.gateway_reference]
    assert paypal_emulator.order(start.gateway_reference)["status"] == "APPROVED"


@pytest.mark.parametrize(
    ("outcome", "status"), [("pending", base.PENDING), ("declined", base.FAILED)]
)
def test_a_pending_or_declined_capture_is_not_a_payment(adapter, paypal_emulator, outcome, status):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference, outcome)
    update = adapter.checkout_status(CheckoutRef("BX-TEST1", start.gateway_reference))
    assert update is not None and update.status == status


def test_a_completed_capture_event_is_read_back_before_it_grants_anything(adapter, paypal_emulator):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference, "pending")
    paypal_emulator.api_capture(start.gateway_reference)
    [capture] = paypal_emulator.order(start.gateway_reference)["purchase_units"][0]["payments"][
        "captures"
    ]
    # An event that says COMPLETED while PayPal's own order still says PENDING grants nothing.
    claimed = {**capture, "status": "COMPLETED"}
    payload = {"id": "WH-2", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": claimed}
    event = VerifiedEvent("WH-2", "PAYMENT.CAPTURE.COMPLETED", payload)
    assert adapter.parse_event(event).status == base.CONFIRMED
    assert adapter.event_update(event) is None
    paypal_emulator.emit(start.gateway_reference, "PAYMENT.CAPTURE.COMPLETED")
    assert adapter.event_update(event).status == base.CONFIRMED


def test_refunds_in_part_and_then_the_rest(adapter, paypal_emulator):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference)
    paid = adapter.checkout_status(CheckoutRef("BX-TEST1", start.gateway_reference))
    part = adapter.refund(
        gateway_payment_id=paid.gateway_payment_id, amount=Decimal("4.00"), currency="EUR"
    )
    assert (part.status, part.amount, part.gateway_payment_id) == (
        base.REFUNDED,
        Decimal("4.00"),
        paid.gateway_payment_id,
    )
    rest = adapter.refund(
        gateway_payment_id=paid.gateway_payment_id, amount=Decimal("5.99"), currency="EUR"
    )
    assert rest.amount == Decimal("9.99")  # the total refunded, as the gateway reports it
    assert paypal_emulator.capture(paid.gateway_payment_id)["status"] == "REFUNDED"
    with pytest.raises(UnableToTakePayment, match="CAPTURE_FULLY_REFUNDED"):
        adapter.refund(
            gateway_payment_id=paid.gateway_payment_id, amount=Decimal("1.00"), currency="EUR"
        )


# --- webhooks ---------------------------------------------------------------------------------


def delivered(paypal_emulator, receiver) -> tuple[dict[str, str], bytes]:
    paypal_emulator.wait_for_deliveries()
    return receiver.received[-1]


def test_a_delivered_event_is_verified_by_paypal(adapter, paypal_emulator, receiver):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference)
    headers, body = delivered(paypal_emulator, receiver)
    event = adapter.verify_webhook(body=body, headers=headers)
    assert event.event_type == "CHECKOUT.ORDER.APPROVED"
    assert event.event_id == json.loads(body)["id"]
    # Event types we do not act on read as nothing.
    assert adapter.parse_event(event) is None
    other = VerifiedEvent(
        "WH-9",
        "BILLING.PLAN.CREATED",
        {"id": "WH-9", "event_type": "BILLING.PLAN.CREATED", "resource": {}},
    )
    assert adapter.parse_event(other) is None
    assert adapter.event_update(other) is None


def test_a_modified_or_forged_event_is_refused(adapter, paypal_emulator, receiver):
    start = adapter.start_checkout(request())
    paypal_emulator.approve(start.gateway_reference)
    adapter.checkout_status(CheckoutRef("BX-TEST1", start.gateway_reference))
    headers, body = delivered(paypal_emulator, receiver)
    assert json.loads(body)["event_type"] == "PAYMENT.CAPTURE.COMPLETED"
    tampered = body.replace(b'"value": "9.99"', b'"value": "0.01"')
    assert tampered != body
    with pytest.raises(WebhookRejected, match="did not verify"):
        adapter.verify_webhook(body=tampered, headers=headers)
    forged = {**headers, "PAYPAL-TRANSMISSION-ID": "0f0f0f0f-made-up"}
    with pytest.raises(WebhookRejected, match="did not verify"):
        adapter.verify_webhook(body=body, headers=forged)
    missing = {k: v for k, v in headers.items() if k.upper() != "PAYPAL-TRANSMISSION-SIG"}
    with pytest.raises(WebhookRejected, match="missing PAYPAL-TRANSMISSION-SIG"):
        adapter.verify_webhook(body=body, headers=missing)
    # Verified for another webhook id, it is not ours.
    other = PayPalGateway(
        PayPalConfig(
            client_id=paypal_emulator.client_id,
            client_secret=paypal_emulator.client_secret,
            webhook_id="WH-SOMEONE-ELSE",
            api_base=paypal_emulator.base_url,
        )
    )
    with pytest.raises(WebhookRejected):
        other.verify_webhook(body=body, headers=headers)
    # Unchanged, it still verifies.
    assert adapter.verify_webhook(body=body, headers=headers).event_type.startswith("PAYMENT.")


def test_no_webhook_id_verifies_nothing(paypal_emulator, receiver):
    adapter = PayPalGateway(PayPalConfig(client_id="x", client_secret="y", webhook_id=""))
    with pytest.raises(WebhookRejected, match="PAYPAL_WEBHOOK_ID"):
        adapter.verify_webhook(
            body=b"{}",
            headers={
                h: "x"
                for h in (
                    "PAYPAL-AUTH-ALGO",
                    "PAYPAL-CERT-URL",
                    "PAYPAL-TRANSMISSION-ID",
                    "PAYPAL-TRANSMISSION-SIG",
                    "PAYPAL-TRANSMISSION-TIME",
                )
            },
        )


@pytest.mark.parametrize(
    "payload",
    [
        {
            "id": "WH-1",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": 5, "status": "COMPLETED", "amount": {"value": 9.99}},
        },
        {
            "id": "WH-1",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "C1", "status": "COMPLETED", "amount": "lots"},
        },
        {
            "id": "WH-1",
            "event_type": "PAYMENT.CAPTURE.REFUNDED",
            "resource": {"links": "nope", "amount": []},
        },
        {
            "id": "WH-1",
            "event_type": "CUSTOMER.DISPUTE.CREATED",
            "resource": {"disputed_transactions": [None, 3]},
        },
        {
            "id": "WH-1",
            "event_type": "CHECKOUT.PAYMENT-APPROVAL.REVERSED",
            "resource": {"order_id": ["x"]},
        },
        {"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": []},
        ["not", "an", "event"],
    ],
)
def test_absurd_resources_read_as_nothing_or_without_an_amount(adapter, payload):
    event_type = payload.get("event_type", "") if isinstance(payload, dict) else ""
    update = adapter.parse_event(VerifiedEvent("WH-1", event_type, payload))  # never raises
    assert update is None or update.amount is None
