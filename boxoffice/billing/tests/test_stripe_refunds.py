"""Refunds and disputes through Stripe, on its emulator over real HTTP: the back office refunds a
one-time payment (part, then the rest) and a subscription's renewal charge; a retry with the
same idempotency key refunds once; a dispute of a subscription charge finds its order and
suspends the line on the panel; a dispute closed won resumes a line suspended only for it,
lost leaves it suspended."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from boxoffice.billing.checkout import order_confirm_on_return
from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import VerifiedEvent
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.gateways.stripe.adapter import StripeConfig, StripeGateway
from boxoffice.billing.models import Order, Payment, RefundRequest
from boxoffice.billing.refunds import (
    refund_request_create,
    refund_request_run,
    refund_requests_redrive,
)
from boxoffice.billing.services import checkout_request
from boxoffice.billing.tests.test_subscriptions import T0, Sub
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.services import line_suspend

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(db):
    user = get_user_model().objects.create_user(
        "operator", "op@operator.test", "pw", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def stripe_site(settings, stripe_emulator, plan):
    """Stripe on its emulator, the plan sold as a subscription; tests deliver the events."""
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
    settings.PAYMENT_GATEWAYS = ["stripe", "manual"]
    stripe_emulator.configure(webhook_url=None)
    plan.auto_renew = True
    plan.save()
    return stripe_emulator


@pytest.fixture
def one_time(settings, stripe_emulator, make_order, run_tasks, xui_emulator):
    """An order paid once through Stripe Checkout, confirmed on the customer's return."""
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
    settings.PAYMENT_GATEWAYS = ["stripe", "manual"]
    stripe_emulator.configure(webhook_url=None)
    order = make_order(gateway="stripe")
    start = gateway_for("stripe").start_checkout(
        checkout_request(order, success_url="http://shop.test/s", cancel_url="http://shop.test/c")
    )
    Order.objects.filter(pk=order.pk).update(gateway_reference=start.gateway_reference)
    stripe_emulator.pay(start.gateway_reference)
    order.refresh_from_db()
    assert order_confirm_on_return(order=order) == "confirmed"
    run_tasks()
    order.refresh_from_db()
    return order


def refund_url(order) -> str:
    return reverse("backoffice:order_refund", args=[order.pk])


def charge_of(stripe, payment_intent: str) -> dict:
    intent = stripe.api_retrieve("payment_intent", payment_intent)
    return stripe.api_retrieve("charge", intent["latest_charge"])


def panel_enabled(xui, line: Line) -> bool:
    [row] = [r for r in xui.lines() if str(r["id"]) == line.panel_line_id]
    return str(row["enabled"]) == "1"


def test_a_one_time_payment_refunded_in_part_then_in_full_from_the_back_office(
    staff_client, one_time, stripe_emulator, xui_emulator, run_tasks
):
    payment = Payment.objects.get(order=one_time, status=Payment.Status.CONFIRMED)
    assert payment.gateway_payment_id.startswith("pi_")  # the PaymentIntent: what /v1/refunds takes
    page = staff_client.get(refund_url(one_time))
    assert page.status_code == 200 and 'value="9.99"' in page.content.decode()

    done = staff_client.post(
        refund_url(one_time), {"amount": "4.00", "reason": "two days off air"}, follow=True
    )
    assert "4.00 EUR refunded" in done.content.decode()
    one_time.refresh_from_db()
    assert one_time.status == Order.Status.PAID and not one_time.needs_review
    assert charge_of(stripe_emulator, payment.gateway_payment_id)["amount_refunded"] == 400
    run_tasks()
    line = Line.objects.get(order=one_time)
    assert line.status == Line.Status.ACTIVE and panel_enabled(xui_emulator, line)

    rest = staff_client.post(refund_url(one_time), {"amount": "5.99", "reason": "cancelled"})
    assert rest.status_code == 302
    one_time.refresh_from_db()
    assert one_time.status == Order.Status.REFUNDED
    refunds = stripe_emulator.refunds(payment.gateway_payment_id)
    assert sorted(r["amount"] for r in refunds) == [400, 599]
    charge = charge_of(stripe_emulator, payment.gateway_payment_id)
    assert (charge["amount_refunded"], charge["refunded"]) == (999, True)
    ledger = Payment.objects.filter(order=one_time, status=Payment.Status.REFUNDED)
    assert sorted(p.amount for p in ledger) == [Decimal("-5.99"), Decimal("-4.00")]
    run_tasks()
    line.refresh_from_db()
    assert line.status == Line.Status.SUSPENDED and not panel_enabled(xui_emulator, line)
    assert staff_client.get(refund_url(one_time)).status_code == 409


def test_a_retry_with_the_same_key_refunds_once_at_stripe(one_time, stripe_emulator, monkeypatch):
    request = refund_request_create(order=one_time, amount=Decimal("3.00"), reason="a", actor="o")
    adapter_class = type(gateway_for("stripe"))
    real = adapter_class.refund

    def lost(self, **kwargs):
        real(self, **kwargs)
        raise ConnectionResetError("the answer was lost")

    monkeypatch.setattr(adapter_class, "refund", lost)
    assert refund_request_run(request_id=request.pk) == "pending"
    monkeypatch.setattr(adapter_class, "refund", real)
    assert refund_requests_redrive(older_than_seconds=0) == 1
    request.refresh_from_db()
    assert request.status == RefundRequest.Status.DONE
    pi = Payment.objects.get(order=one_time, status=Payment.Status.CONFIRMED).gateway_payment_id
    assert [r["amount"] for r in stripe_emulator.refunds(pi)] == [300]  # once at Stripe
    ledger = Payment.objects.filter(order=one_time, status=Payment.Status.REFUNDED)
    assert [p.amount for p in ledger] == [Decimal("-3.00")]  # and once here


def test_stripes_refusal_is_the_operators_message(one_time, stripe_emulator):
    pi = Payment.objects.get(order=one_time, status=Payment.Status.CONFIRMED).gateway_payment_id
    stripe_emulator.refund(payment_intent=pi)  # refunded in the dashboard; no event heard yet
    request = refund_request_create(order=one_time, amount=None, reason="asked", actor="o")
    assert refund_request_run(request_id=request.pk) == "failed"
    request.refresh_from_db()
    assert "already been refunded" in request.error


def _renewed(stripe, make_order, run_tasks, xui, clock) -> tuple[Sub, Order, str]:
    life = Sub(stripe, make_order, run_tasks, xui, clock)
    life.pay()
    invoice = life.cycle("paid")
    renewal = Order.objects.get(kind=Order.Kind.RENEWAL, gateway_reference=invoice["id"])
    assert renewal.status == Order.Status.PAID
    return life, renewal, stripe.invoice_payment_intent(invoice["id"])


def test_a_renewal_charge_refunded_from_the_back_office_suspends_the_line(
    stripe_site, make_order, run_tasks, xui_emulator, staff_client
):
    with time_machine.travel(T0, tick=False) as clock:
        life, renewal, pi = _renewed(stripe_site, make_order, run_tasks, xui_emulator, clock)
        # The renewal's payment row names the invoice's PaymentIntent (refunds and disputes do).
        paid = Payment.objects.get(order=renewal, status=Payment.Status.CONFIRMED)
        assert paid.gateway_payment_id == pi
        staff_client.force_login(get_user_model().objects.get(username="operator"))  # a month on
        assert staff_client.get(refund_url(renewal)).status_code == 200
        done = staff_client.post(refund_url(renewal), {"amount": "9.99", "reason": "no service"})
        assert done.status_code == 302
        renewal.refresh_from_db()
        assert renewal.status == Order.Status.REFUNDED
        assert [r["amount"] for r in stripe_site.refunds(pi)] == [999]
        # The first invoice's charge is untouched.
        first_pi = Payment.objects.get(order=life.order, status="confirmed").gateway_payment_id
        assert first_pi != pi and stripe_site.refunds(first_pi) == []
        run_tasks()
        assert life.line.status == Line.Status.SUSPENDED
        assert life.line.suspension_reason == "payment refunded"
        assert not life.panel_enabled()
        # Stripe's own charge.refunded for it comes later: found, and nothing twice.
        [event] = life.deliver(types=("charge.refunded",))
        assert event["data"]["object"]["payment_intent"] == pi
        assert Payment.objects.filter(order=renewal, status="refunded").count() == 1


def test_a_dispute_of_a_renewal_charge_suspends_and_winning_it_resumes(
    stripe_site, make_order, run_tasks, xui_emulator
):
    with time_machine.travel(T0, tick=False) as clock:
        life, renewal, pi = _renewed(stripe_site, make_order, run_tasks, xui_emulator, clock)
        dispute = stripe_site.dispute(payment_intent=pi)
        life.deliver()
        renewal.refresh_from_db()
        assert renewal.status == Order.Status.DISPUTED
        run_tasks()
        assert life.line.status == Line.Status.SUSPENDED and not life.panel_enabled()

        stripe_site.dispute_close(dispute["id"], status="won")
        [event] = life.deliver()
        renewal.refresh_from_db()
        assert renewal.status == Order.Status.PAID and not renewal.needs_review
        ledger = Payment.objects.filter(order=renewal, status=Payment.Status.DISPUTED)
        assert sorted(p.amount for p in ledger) == [Decimal("-9.99"), Decimal("9.99")]
        run_tasks()
        assert life.line.status == Line.Status.ACTIVE and life.panel_enabled()
        # The same event again changes nothing.
        assert life.post(event).status_code == 200
        run_tasks()
        assert Payment.objects.filter(order=renewal, note="dispute won").count() == 1


def test_a_lost_dispute_keeps_the_line_suspended(stripe_site, make_order, run_tasks, xui_emulator):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        pi = Payment.objects.get(order=life.order, status="confirmed").gateway_payment_id
        dispute = stripe_site.dispute(payment_intent=pi)
        life.deliver()
        stripe_site.dispute_close(dispute["id"], status="lost")
        life.deliver()
        life.order.refresh_from_db()
        assert life.order.status == Order.Status.DISPUTED
        assert Payment.objects.filter(order=life.order, note="dispute lost", amount=0).exists()
        run_tasks()
        assert life.line.status == Line.Status.SUSPENDED and not life.panel_enabled()


def test_a_won_dispute_leaves_a_line_the_operator_suspended_to_the_operator(
    stripe_site, make_order, run_tasks, xui_emulator
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Sub(stripe_site, make_order, run_tasks, xui_emulator, clock)
        life.pay()
        pi = Payment.objects.get(order=life.order, status="confirmed").gateway_payment_id
        dispute = stripe_site.dispute(payment_intent=pi)
        life.deliver()
        run_tasks()
        line_suspend(line=life.line, reason="abuse")  # the operator, meanwhile
        run_tasks()
        stripe_site.dispute_close(dispute["id"], status="won")
        life.deliver()
        life.order.refresh_from_db()
        assert life.order.status == Order.Status.PAID
        assert life.order.needs_review and "resume" in life.order.review_reason
        assert life.line.status == Line.Status.SUSPENDED and not life.panel_enabled()
        assert not life.line.operations.filter(kind="resume").exists()


def test_it_reads_the_end_of_a_dispute():
    adapter = StripeGateway(StripeConfig(secret_key="sk_test_x", webhook_secret="whsec_x"))

    def parse(status):
        obj = {"id": "dp_1", "object": "dispute", "payment_intent": "pi_1", "amount": 999}
        obj.update(currency="eur", status=status)
        payload = {"id": "evt_1", "type": "charge.dispute.closed", "data": {"object": obj}}
        return adapter.parse_event(VerifiedEvent("evt_1", "charge.dispute.closed", payload))

    assert parse("won").status == gw.DISPUTE_WON
    assert (parse("lost").status, parse("lost").gateway_payment_id) == (gw.DISPUTE_LOST, "pi_1")
    assert parse("lost").amount == Decimal("9.99")
    assert parse("warning_closed") is None  # an inquiry: nothing was taken
    assert StripeGateway.refunds
