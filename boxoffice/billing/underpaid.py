"""Underpaid orders (a crypto invoice paid in part): what the operator decides in the review
queue. Nothing is provisioned for an underpayment until a person has decided:

- accept it: the order is paid with the amount received recorded, and provisioned;
- ask for the rest: a balance order for the difference (`Order.Kind.BALANCE`, `balance_of` =
  the underpaid order) and a mail with its pay link, where the customer picks any enabled
  gateway. Its payment pays the underpaid order and provisions it once
  (`services._order_balance_settle`).

Both are idempotent under double clicks (the order row is locked and its state checked)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.emails import balance_due_email_send
from boxoffice.billing.models import Order, Payment
from boxoffice.billing.services import order_mark_paid, order_partial_received

# Where an underpaid order waits for the operator.
_UNDERPAID_STATES = (Order.Status.PAYMENT_PENDING,)


class UnderpaymentNotActionable(Exception):
    """This order is not an underpayment waiting for a decision; the message says why."""


@dataclass(frozen=True)
class Underpayment:
    due: Decimal
    received: Decimal
    currency: str
    payment: Payment
    balance_order: Order | None  # asked for the rest already

    @property
    def remaining(self) -> Decimal:
        return max(self.due - self.received, Decimal("0"))


def order_underpayment(order: Order) -> Underpayment | None:
    """The underpayment `order` waits with, or None (paid, not underpaid, closed)."""
    if order.status not in _UNDERPAID_STATES or order.kind == Order.Kind.BALANCE:
        return None
    partial = order_partial_received(order)
    if partial is None:
        return None
    balance = (
        order.balance_orders.exclude(status=Order.Status.CANCELLED).order_by("-created_at").first()
    )
    return Underpayment(
        due=order.amount,
        received=partial.amount,
        currency=partial.currency,
        payment=partial,
        balance_order=balance,
    )


def orders_underpayments(orders) -> dict[int, Underpayment]:
    """{order pk: its underpayment} for the orders of a review-queue page."""
    found = {}
    for order in orders:
        underpayment = order_underpayment(order)
        if underpayment is not None:
            found[order.pk] = underpayment
    return found


def order_accept_underpaid(*, order: Order, actor: str) -> bool:
    """The operator accepts what arrived as payment: the order is paid with the received amount
    recorded (the ledger says what came), the line reserved and created. True the first time."""
    underpayment = order_underpayment(order)
    if underpayment is None:
        raise UnderpaymentNotActionable(f"{order.reference} is not an underpayment to decide.")
    done = order_mark_paid(
        order=order,
        actor=actor,
        amount=underpayment.received,
        gateway_payment_id=underpayment.payment.gateway_payment_id,
        note=(
            f"underpayment accepted by {actor}: {underpayment.received} of "
            f"{underpayment.due} {underpayment.currency}"
        )[:255],
        from_states=_UNDERPAID_STATES,
    )
    if done:
        audit_record(
            subject=order,
            action="order.underpayment_accepted",
            actor=actor,
            data={"received": str(underpayment.received), "due": str(underpayment.due)},
        )
        balance = underpayment.balance_order
        if balance is not None:
            # The rest was asked for and is no longer wanted: a balance order whose payment has
            # not begun is cancelled (its mail, if still queued, is dropped as stale); one being
            # paid is left to its gateway, and its payment goes to review (nothing to provision).
            cancelled = Order.objects.filter(
                pk=balance.pk, gateway="", status=Order.Status.AWAITING_PAYMENT
            ).update(status=Order.Status.CANCELLED, updated_at=timezone.now())
            if cancelled:
                audit_record(
                    subject=balance,
                    action="order.cancelled",
                    actor=actor,
                    data={"reason": f"{order.reference} accepted as paid"},
                )
    return done


def order_ask_for_rest(*, order: Order, actor: str) -> Order:
    """A balance order for what is missing, and the mail with its pay link (a durable Message
    in the same transaction). A second click finds the first balance order."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        underpayment = order_underpayment(locked)
        if underpayment is None:
            raise UnderpaymentNotActionable(f"{order.reference} is not an underpayment to decide.")
        if underpayment.balance_order is not None:
            return underpayment.balance_order
        if underpayment.remaining <= 0:
            raise UnderpaymentNotActionable(f"{order.reference}: nothing is missing.")
        balance = Order.objects.create(
            customer=locked.customer,
            name=locked.name,
            plan=locked.plan,
            kind=Order.Kind.BALANCE,
            balance_of=locked,
            amount=underpayment.remaining,
            currency=locked.currency,
            device=locked.device,
            mac_address=locked.mac_address,
            country=locked.country,
        )
        # Decided: out of the queue (the pending timeout brings it back if nobody pays).
        Order.objects.filter(pk=locked.pk).update(
            needs_review=False, review_reason="", pending_since=timezone.now()
        )
        audit_record(
            subject=locked,
            action="order.rest_requested",
            actor=actor,
            data={"balance": balance.reference, "amount": str(balance.amount)},
        )
        balance_due_email_send(
            balance=balance,
            original=locked,
            received=f"{underpayment.received} {underpayment.currency}",
            due=f"{underpayment.due} {underpayment.currency}",
        )
    return balance
