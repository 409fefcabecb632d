"""Refunding from the back office, through a gateway that can (PayPal, on its emulator over real
HTTP): all that is left or part of it with a reason, never more; a durable request first, so a
double click or a lost answer never refunds twice; a gateway's refusal shown, not a 500."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from boxoffice.billing.checkout import CheckoutData, checkout_begin, order_confirm_on_return
from boxoffice.billing.gateways.paypal.client import tokens_forget
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order, Payment, RefundRequest
from boxoffice.billing.refunds import (
    RefundNotPossible,
    refund_request_create,
    refund_request_run,
    refund_requests_redrive,
)
from boxoffice.provisioning.models import Line

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
    return reverse("backoffice:order_refund", args=[order.pk])


def capture_status(paypal_emulator, order) -> str:
    payment = Payment.objects.get(order=order, status=Payment.Status.CONFIRMED)
    return paypal_emulator.capture(payment.gateway_payment_id)["status"]


def test_the_order_page_links_to_the_refund_of_what_is_left(staff_client, paid, make_order):
    page = staff_client.get(reverse("admin:billing_order_change", args=[paid.pk]))
    assert refund_url(paid) in page.content.decode()
    unpaid = make_order(gateway="manual")
    page = staff_client.get(reverse("admin:billing_order_change", args=[unpaid.pk]))
    assert refund_url(unpaid) not in page.content.decode()
    assert staff_client.get(refund_url(unpaid)).status_code == 409


def test_a_partial_refund_then_the_rest(staff_client, paid, paypal_emulator):
    form = staff_client.get(refund_url(paid))
    assert form.status_code == 200 and 'value="9.99"' in form.content.decode()

    no_reason = staff_client.post(refund_url(paid), {"amount": "4.00"})
    assert no_reason.status_code == 400
    done = staff_client.post(
        refund_url(paid), {"amount": "4.00", "reason": "two days off air"}, follow=True
    )
    assert done.redirect_chain[-1][0] == reverse("admin:billing_order_change", args=[paid.pk])
    assert "4.00 EUR refunded" in done.content.decode()
    paid.refresh_from_db()
    # The operator decided: no review, and the line is left as it is.
    assert paid.status == Order.Status.PAID and not paid.needs_review
    assert capture_status(paypal_emulator, paid) == "PARTIALLY_REFUNDED"
    partial = Payment.objects.get(order=paid, status=Payment.Status.REFUNDED)
    assert "two days off air" in partial.note

    too_much = staff_client.post(refund_url(paid), {"amount": "6.00", "reason": "rest"})
    assert too_much.status_code == 400
    assert "5.99" in too_much.content.decode()

    rest = staff_client.post(refund_url(paid), {"amount": "5.99", "reason": "cancelled"})
    assert rest.status_code == 302
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    refunds = Payment.objects.filter(order=paid, status=Payment.Status.REFUNDED)
    assert sorted(p.amount for p in refunds) == [Decimal("-5.99"), Decimal("-4.00")]
    assert capture_status(paypal_emulator, paid) == "REFUNDED"
    assert staff_client.get(refund_url(paid)).status_code == 409
    assert [r.status for r in RefundRequest.objects.order_by("pk")] == ["done", "done"]


def test_a_refusal_by_the_gateway_is_shown(staff_client, paid, paypal_emulator):
    # Refunded at PayPal meanwhile, and we have not heard yet.
    payment = Payment.objects.get(order=paid, status=Payment.Status.CONFIRMED)
    paypal_emulator.api_refund(payment.gateway_payment_id, {})
    refused = staff_client.post(
        refund_url(paid), {"amount": "9.99", "reason": "customer asked"}, follow=True
    )
    assert "The gateway refused the refund" in refused.content.decode()
    assert "CAPTURE_FULLY_REFUNDED" in refused.content.decode()
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID
    assert RefundRequest.objects.get().status == "failed"


def test_only_staff_refund(client, paid):
    response = client.post(refund_url(paid), {"amount": "9.99", "reason": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID


def test_a_double_click_is_one_refund_and_a_lost_answer_is_asked_again_once(
    paid, paypal_emulator, monkeypatch
):
    first = refund_request_create(order=paid, amount=Decimal("3.00"), reason="a", actor="ops")
    with pytest.raises(RefundNotPossible, match="on its way"):
        refund_request_create(order=paid, amount=Decimal("3.00"), reason="a", actor="ops")

    # The gateway refunds, but its answer never reaches us (a crash, a timeout).
    adapter_class = type(gateway_for("paypal"))
    real = adapter_class.refund

    def lost(self, **kwargs):
        real(self, **kwargs)
        raise ConnectionResetError("the answer was lost")

    monkeypatch.setattr(adapter_class, "refund", lost)
    assert refund_request_run(request_id=first.pk) == "pending"
    monkeypatch.setattr(adapter_class, "refund", real)
    assert refund_requests_redrive(older_than_seconds=0) == 1  # asked again, the same key

    first.refresh_from_db()
    payment = Payment.objects.get(order=paid, status=Payment.Status.CONFIRMED)
    assert first.status == "done"
    assert paypal_emulator.capture(payment.gateway_payment_id)["status"] == "PARTIALLY_REFUNDED"
    refunds = Payment.objects.filter(order=paid, status=Payment.Status.REFUNDED)
    assert [p.amount for p in refunds] == [Decimal("-3.00")]  # refunded once, recorded once

    second = refund_request_create(order=paid, amount=Decimal("3.00"), reason="b", actor="ops")
    assert refund_request_run(request_id=second.pk) == "done"  # another 3.00 is another refund
    refunds = Payment.objects.filter(order=paid, status=Payment.Status.REFUNDED)
    assert sorted(p.amount for p in refunds) == [Decimal("-3.00"), Decimal("-3.00")]


@pytest.mark.django_db(transaction=True)
def test_a_partial_refund_suspends_the_line_only_when_asked(xui_emulator, paid, run_tasks):
    run_tasks()
    line = Line.objects.get(order=paid)
    assert line.status == Line.Status.ACTIVE
    kept = refund_request_create(order=paid, amount=Decimal("1.00"), reason="a", actor="ops")
    assert refund_request_run(request_id=kept.pk) == "done"
    assert not line.operations.filter(kind="suspend").exists()
    asked = refund_request_create(
        order=paid, amount=Decimal("1.00"), reason="abuse", actor="ops", suspend_line=True
    )
    assert refund_request_run(request_id=asked.pk) == "done"
    run_tasks()
    line.refresh_from_db()
    assert line.status == Line.Status.SUSPENDED
    [row] = [r for r in xui_emulator.lines() if str(r["id"]) == line.panel_line_id]
    assert str(row["enabled"]) == "0"  # on the panel, not only in our rows
