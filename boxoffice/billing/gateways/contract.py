"""The behaviour every payment gateway kind owes billing, as reusable pytest cases.

A kind's tests subclass `GatewayContract` (as `Test<Kind>GatewayContract`), set `kind`, and
provide one fixture, `gateway_driver`, returning a `GatewayDriver`: how a test makes that gateway
act (pay, leave pending, fail, expire, tell us again, tell us a forgery...). A driver for a kind
with notifications delivers them the way the real gateway does (its emulator, over real HTTP, to
the live webhook endpoint) and then runs the queued tasks, like a worker would; a driver for a
kind confirmed by an operator goes through the operator's service.

Every case starts a checkout through billing's own `checkout_begin` and asserts on the end state
through the real rows (order status, the Payment ledger, the line reserved and its create
operation queued), never on the adapter alone. A case a kind cannot do is skipped with a reason
derived from the capabilities its adapter class declares (`GatewayAdapter.capabilities()`).

Cases: start, confirmed, pending then confirmed, failed, expired, duplicate notification,
forged notification, out-of-order notifications, confirmed on the customer's return, partial
payment, refund reported by the gateway, refund from the back office; for recurring kinds, a
subscription's first payment and one renewal told twice.
"""

from __future__ import annotations

import abc
import uuid
from decimal import Decimal
from typing import ClassVar

import pytest
from django.urls import reverse

from boxoffice.billing.checkout import (
    CheckoutData,
    CheckoutResult,
    checkout_begin,
    order_confirm_on_return,
)
from boxoffice.billing.gateways.base import GatewayAdapter
from boxoffice.billing.gateways.registry import gateway_class
from boxoffice.billing.models import Order, Payment, Subscription, WebhookEvent
from boxoffice.billing.refunds import order_refund
from boxoffice.billing.services import checkout_request


class GatewayDriver(abc.ABC):
    """Makes one gateway act for a test. Each action ends once what it caused is processed
    (notifications stored and their tasks run). A kind implements what its capabilities
    promise; what it cannot do raises NotImplementedError and its cases are skipped."""

    # Where the customer's status pages live (the live server for hosted pages).
    site_url: str = "http://testserver"

    @abc.abstractmethod
    def pay(self, order: Order) -> None:
        """The whole price is paid (from a fresh checkout, or after `leave_pending`)."""

    def leave_pending(self, order: Order) -> None:
        """The payment is acknowledged but not settled yet (a bank debit, a transfer on its
        way, a crypto payment waiting for confirmations)."""
        raise NotImplementedError

    def fail(self, order: Order) -> None:
        raise NotImplementedError

    def expire(self, order: Order) -> None:
        raise NotImplementedError

    def deliver_again(self, order: Order) -> None:
        """What confirmed the order is told once more (a redelivered notification, an operator
        confirming twice)."""
        raise NotImplementedError

    @abc.abstractmethod
    def deliver_forged(self, order: Order) -> int:
        """Post a notification claiming the order is paid, not signed by the gateway; returns
        the HTTP status our endpoint answered."""

    def deliver_out_of_order(self, order: Order) -> None:
        """The confirmation arrives first, then a late "pending" for the same payment."""
        raise NotImplementedError

    def pay_unannounced(self, order: Order) -> None:
        """The customer pays, and the notification has not reached us yet."""
        raise NotImplementedError

    def pay_partially(self, order: Order, amount: Decimal) -> None:
        raise NotImplementedError

    def refund_at_gateway(self, order: Order) -> None:
        """The whole payment is refunded on the gateway's side, which tells us."""
        raise NotImplementedError

    # Recurring kinds (`recurring`): the checkout of an auto-renewing plan is a subscription.
    def subscribe(self, order: Order) -> None:
        """The buyer agrees to the subscription and its first period is charged."""
        raise NotImplementedError

    def renew(self, order: Order) -> None:
        """The gateway charges the next period by itself, and tells us; then tells us again."""
        raise NotImplementedError


class GatewayContract:
    kind: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _mail_in_memory(self, settings):
        # Mail is recorded in the outbox rows; nothing here may reach a real SMTP port.
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    # Helpers ------------------------------------------------------------------------------

    @property
    def adapter_class(self) -> type[GatewayAdapter]:
        return gateway_class(self.kind)

    def require(self, capability: str, case: str) -> None:
        if not getattr(self.adapter_class, capability):
            pytest.skip(f"{self.kind} declares {capability}=False: {case}")

    def start(self, driver: GatewayDriver, plan) -> CheckoutResult:
        data = CheckoutData(
            email=f"buyer-{uuid.uuid4().hex[:8]}@example.test",
            name="Contract Buyer",
            preferred_username="",
            preferred_password="",
            device=Order.Device.APP,
            mac_address="",
            country="DE",
            gateway=self.kind,
        )
        return checkout_begin(
            plan=plan,
            data=data,
            status_url_for=lambda o: (
                driver.site_url + reverse("storefront:order_status", args=[o.status_token])
            ),
        )

    def payments(self, order: Order, status: str):
        return Payment.objects.filter(order=order, status=status)

    def assert_paid_and_provisioned(self, order: Order) -> None:
        order.refresh_from_db()
        assert order.status == Order.Status.PAID, order.status
        assert not order.needs_review, order.review_reason
        [payment] = self.payments(order, Payment.Status.CONFIRMED)
        assert payment.gateway == self.kind
        assert (payment.amount, payment.currency) == (order.amount, order.currency)
        [line] = order.lines.all()
        assert line.operations.filter(kind="create").count() == 1

    def assert_unpaid(self, order: Order, status: str) -> None:
        order.refresh_from_db()
        assert order.status == status, order.status
        assert not self.payments(order, Payment.Status.CONFIRMED).exists()
        assert not order.lines.exists()

    # Cases --------------------------------------------------------------------------------

    def test_start(self, gateway_driver, plan):
        result = self.start(gateway_driver, plan)
        order = result.order
        order.refresh_from_db()
        assert order.gateway == self.kind
        instructions = self.adapter_class().instructions(checkout_request(order))
        if self.adapter_class.hosted_page:
            # Off to the gateway's own page, with the gateway's checkout remembered.
            assert order.gateway_reference
            assert not result.redirect_url.startswith(gateway_driver.site_url)
            self.assert_unpaid(order, Order.Status.AWAITING_PAYMENT)
        if instructions:
            # Waiting for the customer to follow them: pending, and the instructions mailed.
            assert order.reference in instructions
            assert str(order.amount) in instructions
            self.assert_unpaid(order, Order.Status.PAYMENT_PENDING)
            assert order.messages.filter(kind="bank_transfer_instructions").count() == 1
        assert self.adapter_class.hosted_page or instructions, "neither a page nor instructions"
        assert not Payment.objects.filter(order=order).exists()

    def test_confirmed(self, gateway_driver, plan):
        order = self.start(gateway_driver, plan).order
        gateway_driver.pay(order)
        self.assert_paid_and_provisioned(order)

    def test_pending_then_confirmed(self, gateway_driver, plan):
        order = self.start(gateway_driver, plan).order
        gateway_driver.leave_pending(order)
        self.assert_unpaid(order, Order.Status.PAYMENT_PENDING)
        gateway_driver.pay(order)
        self.assert_paid_and_provisioned(order)

    def test_failed(self, gateway_driver, plan):
        self.require("notifications", "only an operator moves its payments, nothing fails")
        order = self.start(gateway_driver, plan).order
        gateway_driver.fail(order)
        self.assert_unpaid(order, Order.Status.FAILED)
        assert self.payments(order, Payment.Status.FAILED).count() == 1

    def test_expired(self, gateway_driver, plan):
        self.require("notifications", "only an operator moves its payments, nothing expires")
        order = self.start(gateway_driver, plan).order
        gateway_driver.expire(order)
        self.assert_unpaid(order, Order.Status.EXPIRED)
        assert self.payments(order, Payment.Status.EXPIRED).count() == 1

    def test_duplicate_is_processed_once(self, gateway_driver, plan):
        order = self.start(gateway_driver, plan).order
        gateway_driver.pay(order)
        events = WebhookEvent.objects.filter(gateway=self.kind).count()
        gateway_driver.deliver_again(order)
        self.assert_paid_and_provisioned(order)
        # A redelivery is recognised by its event id: stored once.
        assert WebhookEvent.objects.filter(gateway=self.kind).count() == events

    def test_forged_notification_is_rejected_and_changes_nothing(self, gateway_driver, plan):
        result = self.start(gateway_driver, plan)
        order = result.order
        order.refresh_from_db()
        before = order.status
        status = gateway_driver.deliver_forged(order)
        assert status == 400
        assert not WebhookEvent.objects.filter(gateway=self.kind).exists()
        self.assert_unpaid(order, before)

    def test_out_of_order_events_end_paid(self, gateway_driver, plan):
        self.require("notifications", "no notifications, so none arrives out of order")
        order = self.start(gateway_driver, plan).order
        gateway_driver.deliver_out_of_order(order)
        # The late "pending" does not undo "paid", nor add a pending row after the payment.
        self.assert_paid_and_provisioned(order)
        assert not self.payments(order, Payment.Status.PENDING).exists()

    def test_confirmed_on_return(self, gateway_driver, plan):
        self.require("captures_on_return", "the status page does not ask the gateway")
        order = self.start(gateway_driver, plan).order
        gateway_driver.pay_unannounced(order)
        self.assert_unpaid(order, Order.Status.AWAITING_PAYMENT)
        assert order_confirm_on_return(order=order) == "confirmed"
        self.assert_paid_and_provisioned(order)
        # The notification, when it lands, changes nothing.
        gateway_driver.deliver_again(order)
        self.assert_paid_and_provisioned(order)

    def test_partial_payment_goes_to_review(self, gateway_driver, plan):
        self.require("partial_payments", "the gateway reports no underpayments")
        order = self.start(gateway_driver, plan).order
        part = (order.amount / 2).quantize(Decimal("0.01"))
        gateway_driver.pay_partially(order, part)
        self.assert_unpaid(order, Order.Status.PAYMENT_PENDING)
        assert order.needs_review
        [payment] = self.payments(order, Payment.Status.PENDING).filter(note="partial payment")
        assert payment.amount == part

    def test_refund_reported_by_the_gateway(self, gateway_driver, plan):
        self.require("reports_refunds", "the gateway reports no refunds")
        order = self.start(gateway_driver, plan).order
        gateway_driver.pay(order)
        gateway_driver.refund_at_gateway(order)
        order.refresh_from_db()
        assert order.status == Order.Status.REFUNDED
        [refund] = self.payments(order, Payment.Status.REFUNDED)
        assert refund.amount == -order.amount

    def test_refund_from_the_back_office(self, gateway_driver, plan):
        self.require("refunds", "it cannot refund from the back office")
        order = self.start(gateway_driver, plan).order
        gateway_driver.pay(order)
        assert order_refund(order=order, actor="contract") == "refunded"
        order.refresh_from_db()
        assert order.status == Order.Status.REFUNDED
        [refund] = self.payments(order, Payment.Status.REFUNDED)
        assert refund.amount == -order.amount

    def test_recurring_first_payment_then_a_renewal_told_twice_extends_once(
        self, gateway_driver, plan, xui_emulator
    ):
        # A panel that answers: a renewal extends a line the panel has.
        self.require("recurring", "the gateway charges no subscription by itself")
        plan.auto_renew = True
        plan.save()
        order = self.start(gateway_driver, plan).order
        try:
            gateway_driver.subscribe(order)
        except NotImplementedError:
            pytest.skip(f"the {self.kind} driver cannot subscribe yet")
        self.assert_paid_and_provisioned(order)
        [sub] = Subscription.objects.filter(order=order)
        [line] = order.lines.all()
        assert line.auto_renew and sub.renews
        gateway_driver.renew(order)
        [renewal] = Order.objects.filter(subscription=sub, kind=Order.Kind.RENEWAL)
        assert renewal.status == Order.Status.PAID and not renewal.needs_review
        assert line.operations.filter(kind="extend").count() == 1
        assert self.payments(renewal, Payment.Status.CONFIRMED).count() == 1
