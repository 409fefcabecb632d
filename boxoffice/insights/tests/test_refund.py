"""Refunding from the back office, through a gateway that can (PayPal, on its emulator over real
HTTP): all that is left or part of it, never more, and a gateway's refusal shown, not a 500."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from boxoffice.billing.checkout import CheckoutData, checkout_begin, order_confirm_on_return
from boxoffice.billing.gateways.paypal.client import tokens_forget
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order, Payment
from boxoffice.billing.services import order_refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user(
        "operator", "op@operator.test", "pw", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


@pytest.fixture
def paid(settings, paypal_emulator, plan):
    """An order paid with PayPal (captured on the customer's return; no webhooks here)."""
    tokens_forget()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PAYMENT_GATEWAYS = ["paypal", "manual"]
    settings.PAYPAL_API_BASE = paypal_emulator.base_url
    settings.PAYPAL_CLIENT_ID = paypal_emulator.client_id
    settings.PAYPAL_CLIENT_SECRET = paypal_emulator.client_secret
    settings.PAYPAL_WEBHOOK_ID = paypal_emulator.webhook_id
    data = CheckoutData(
        email=f"r-{uuid.uuid4().hex[:6]}@example.test",
        name="Rita Refund",
        preferred_username="",
        preferred_password="",
        device=Order.Device.APP,
        mac_address="",
        country="DE",
        gateway="paypal",
    )
    order = checkout_begin(plan=plan, data=data, status_url_for=lambda o: "http://shop.test/o/")
    order = order.order
    paypal_emulator.approve(order.gateway_reference)
    assert order_confirm_on_return(order=order) == "confirmed"
    yield order
    tokens_forget()


def refund_url(order) -> str:
    return reverse("backoffice:refund_order", args=[order.pk])


def capture_status(paypal_emulator, order) -> str:
    payment = Payment.objects.get(order=order, status=Payment.Status.CONFIRMED)
    return paypal_emulator.capture(payment.gateway_payment_id)["status"]


def test_the_order_page_links_to_the_refund_of_what_is_left(staff_client, paid, make_order):
    page = staff_client.get(reverse("admin:billing_order_change", args=[paid.pk]))
    assert "Refund (up to 9.99 EUR)" in page.content.decode()
    unpaid = make_order(gateway="manual")
    page = staff_client.get(reverse("admin:billing_order_change", args=[unpaid.pk]))
    assert "Refund (up to" not in page.content.decode()
    assert staff_client.get(refund_url(unpaid)).status_code == 409


def test_a_partial_refund_then_the_rest(staff_client, paid, paypal_emulator):
    form = staff_client.get(refund_url(paid))
    assert form.status_code == 200 and 'value="9.99"' in form.content.decode()

    done = staff_client.post(refund_url(paid), {"amount": "4.00"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("admin:billing_order_change", args=[paid.pk])
    assert "4.00 EUR refunded; the order waits in the review queue" in done.content.decode()
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID and paid.needs_review  # a person decides
    assert capture_status(paypal_emulator, paid) == "PARTIALLY_REFUNDED"

    too_much = staff_client.post(refund_url(paid), {"amount": "6.00"})
    assert too_much.status_code == 400
    assert "5.99" in too_much.content.decode()

    assert staff_client.post(refund_url(paid), {"amount": "5.99"}).status_code == 302
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    refunds = Payment.objects.filter(order=paid, status=Payment.Status.REFUNDED)
    assert sorted(p.amount for p in refunds) == [Decimal("-5.99"), Decimal("-4.00")]
    assert capture_status(paypal_emulator, paid) == "REFUNDED"
    assert staff_client.get(refund_url(paid)).status_code == 409


def test_a_refusal_by_the_gateway_is_shown(staff_client, paid, paypal_emulator):
    # Refunded at PayPal meanwhile, and we have not heard yet.
    payment = Payment.objects.get(order=paid, status=Payment.Status.CONFIRMED)
    paypal_emulator.api_refund(payment.gateway_payment_id, {})
    refused = staff_client.post(refund_url(paid), {"amount": "9.99"})
    assert refused.status_code == 502
    assert "CAPTURE_FULLY_REFUNDED" in refused.content.decode()
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID


def test_only_staff_refund(client, paid):
    response = client.post(refund_url(paid), {"amount": "9.99"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID


def test_two_partial_refunds_of_one_amount_are_two_and_a_repeat_is_one(paid, paypal_emulator):
    assert order_refund(order=paid, actor="ops", amount=Decimal("3.00")) == "partial_refund"
    assert order_refund(order=paid, actor="ops", amount=Decimal("3.00")) == "partial_refund"
    payment = Payment.objects.get(order=paid, status=Payment.Status.CONFIRMED)
    # The second one asked once more (its key: 3.00 refunded before, 3.00 now).
    again = gateway_for("paypal").refund(
        gateway_payment_id=payment.gateway_payment_id,
        amount=Decimal("3.00"),
        currency="EUR",
        key="3.00-3.00",
    )
    assert again.amount == Decimal("6.00")  # the same refund: still 6.00 in all
    refunds = Payment.objects.filter(order=paid, status=Payment.Status.REFUNDED)
    assert sorted(p.amount for p in refunds) == [Decimal("-3.00"), Decimal("-3.00")]
    assert paypal_emulator.capture(payment.gateway_payment_id)["status"] == "PARTIALLY_REFUNDED"
