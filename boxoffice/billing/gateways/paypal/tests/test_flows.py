"""PayPal through the product, over real HTTP to the emulator: a reminder's pay link paid with
PayPal (captured on the customer's return, the webhooks then change nothing), a wrong amount
sent to review, a dispute, and the webhook endpoint answering nonsense with 400, never 500."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from boxoffice.billing.checkout import order_cancel_by_customer, order_checkout_restart
from boxoffice.billing.gateways.paypal.client import PayPalClient
from boxoffice.billing.gateways.paypal.tests.test_contract import PayPalDriver
from boxoffice.billing.models import Order, Payment, WebhookEvent
from boxoffice.billing.refunds import order_refund, refund_request_create, refund_request_run
from boxoffice.provisioning.lifecycle import renewal_pay_token
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def driver(live_server, paypal_settings, paypal_emulator, run_tasks):
    paypal_settings.SITE_URL = live_server.url
    driver = PayPalDriver(paypal_emulator, live_server.url, run_tasks)
    paypal_emulator.configure(webhook_url=driver.webhook_url)
    return driver


def test_a_reminder_s_pay_link_is_paid_with_paypal_and_extends_the_line_once(
    client, driver, paypal_emulator, plan, customer
):
    line = Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username="alicetv",
        password="alicetv-Secret-pw",
        status=Line.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=3),
        panel_line_id="17",
    )
    response = client.post(f"/renew/{renewal_pay_token(line)}/", {"gateway": "paypal"})
    assert response.status_code == 303
    order = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert response["Location"].startswith(f"{paypal_emulator.base_url}/checkoutnow?token=")
    page = httpx.get(response["Location"])
    assert "Approve and pay 9.99 EUR" in page.text
    # The buyer approves; the webhook is late: the return captures.
    paypal_emulator.configure(webhook_url=None)
    back = httpx.post(
        f"{paypal_emulator.base_url}/checkoutnow/{order.gateway_reference}/approve"
    ).headers["location"]
    assert "returned=1" in back and f"token={order.gateway_reference}" in back
    url = urlsplit(back)
    status_page = client.get(f"{url.path}?{url.query}")
    assert status_page.status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    paypal_emulator.configure(webhook_url=driver.webhook_url)
    driver.deliver_again(order)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert Payment.objects.filter(order=order, status=Payment.Status.CONFIRMED).count() == 1
    assert PanelOperation.objects.filter(line=line, kind="extend").count() == 1


def _started(driver, plan):
    from boxoffice.billing.gateways.paypal.tests.test_contract import TestPayPalGatewayContract

    return TestPayPalGatewayContract().start(driver, plan).order


def test_a_capture_of_another_amount_goes_to_review(driver, paypal_emulator, plan):
    order = _started(driver, plan)
    # PayPal captured something else than the order's price (however that came about).
    paypal_emulator._orders[order.gateway_reference]["purchase_units"][0]["amount"]["value"] = (
        "1.00"
    )
    driver.pay(order)
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.needs_review and "paid 1.00 EUR, expected 9.99 EUR" in order.review_reason
    assert not order.lines.exists()


def test_a_dispute_marks_the_order_disputed(driver, paypal_emulator, plan):
    order = _started(driver, plan)
    driver.pay(order)
    paypal_emulator.emit(order.gateway_reference, "CUSTOMER.DISPUTE.CREATED")
    driver.settle()
    order.refresh_from_db()
    assert order.status == Order.Status.DISPUTED
    assert Payment.objects.filter(order=order, status=Payment.Status.DISPUTED).count() == 1


def test_a_partial_refund_at_paypal_is_recorded_for_review_and_the_rest_refunds_the_order(
    driver, paypal_emulator, plan
):
    order = _started(driver, plan)
    driver.pay(order)
    paypal_emulator.emit(order.gateway_reference, "PAYMENT.CAPTURE.REFUNDED", amount="2.00")
    driver.settle()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.needs_review
    [part] = Payment.objects.filter(order=order, status=Payment.Status.REFUNDED)
    assert part.amount == Decimal("-2.00")
    # The back office refunds the rest through PayPal; its notification then changes nothing.
    assert order_refund(order=order, actor="ops") == "refunded"
    driver.settle()
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    refunds = Payment.objects.filter(order=order, status=Payment.Status.REFUNDED)
    assert sorted(p.amount for p in refunds) == [Decimal("-7.99"), Decimal("-2.00")]
    assert paypal_emulator.capture(part.gateway_payment_id)["status"] == "REFUNDED"


@pytest.mark.parametrize("then", ["cancels", "pays again"])
def test_an_approval_that_lands_after_the_customer_moved_on_charges_nothing(
    driver, paypal_emulator, plan, then
):
    order = _started(driver, plan)
    old = order.gateway_reference
    paypal_emulator.configure(webhook_url=None)  # the approval's webhook is late
    paypal_emulator.approve(old)
    paypal_emulator.wait_for_deliveries()
    if then == "cancels":
        assert order_cancel_by_customer(order=order) == "cancelled"
    else:
        order_checkout_restart(order=order, status_url=driver.site_url + "/o/", replacing=old)
        order.refresh_from_db()
        assert order.gateway_reference != old
    paypal_emulator.configure(webhook_url=driver.webhook_url)
    [approved] = [e for e in paypal_emulator.events() if e["resource"].get("id") == old]
    paypal_emulator.resend(approved["id"])
    driver.settle()
    assert paypal_emulator.order(old)["status"] == "APPROVED"  # never captured
    assert "payments" not in paypal_emulator.order(old)["purchase_units"][0]
    order.refresh_from_db()
    assert not Payment.objects.filter(order=order).exists()
    assert order.status == (
        Order.Status.CANCELLED if then == "cancels" else Order.Status.AWAITING_PAYMENT
    )
    assert WebhookEvent.objects.get(event_id=approved["id"]).status == "ignored"


def test_no_call_to_paypal_is_made_inside_a_database_transaction(
    driver, paypal_emulator, plan, monkeypatch
):
    calls: list[tuple[str, bool]] = []
    send = PayPalClient._send

    def watched(self, method, path, **kwargs):
        calls.append((path, connection.in_atomic_block))
        return send(self, method, path, **kwargs)

    monkeypatch.setattr(PayPalClient, "_send", watched)
    order = _started(driver, plan)  # create
    driver.pay(order)  # verify, capture on the approval, read back the completed capture
    request = refund_request_create(order=order, amount=Decimal("1.00"), reason="r", actor="ops")
    assert refund_request_run(request_id=request.pk) == "done"
    driver.settle()
    paths = {path.split("/")[-1] for path, _ in calls}
    assert {"orders", "capture", "verify-webhook-signature", "refund"} <= paths
    assert [call for call in calls if call[1]] == []
