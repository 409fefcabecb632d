"""Refunds from the back office, full or partial, with a reason.

The refund is a durable claim before the gateway is asked: `refund_request_create` writes a
`RefundRequest` (one open per order, in a transaction that locks the order), then
`refund_request_run` calls the gateway outside any transaction with the request's own
idempotency key and applies the answer through the path a refund notification takes
(`payment_update_apply`: an append-only ledger row, a credit note, and for a full refund the
line suspended). A refused refund is recorded with the gateway's words; an answer lost to a
crash or a timeout leaves the request open and `refund_requests_redrive` asks again with the
same key (the gateway answers with the refund it made), so nothing is refunded twice.
A partial refund leaves the line alone unless the operator ticks "suspend the line".
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.disputes import order_lines
from boxoffice.billing.gateways.base import PaymentError, UnableToTakePayment
from boxoffice.billing.models import Order, Payment, RefundRequest
from boxoffice.billing.services import (
    _refunded_so_far,
    order_gateway,
    payment_update_apply,
)
from boxoffice.lib.exists import rows_exist
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.services import line_suspend

logger = logging.getLogger(__name__)
R = RefundRequest.Status


class RefundNotPossible(Exception):
    """This order cannot be refunded from here, or not this amount; the message says why."""


def _charged_payment(order: Order) -> Payment | None:
    return (
        Payment.objects.filter(order=order, status=Payment.Status.CONFIRMED)
        .exclude(gateway_payment_id="")
        .order_by("-created_at", "-pk")
        .first()
    )


def refundable_amount(order: Order) -> Decimal:
    payment = _charged_payment(order)
    if payment is None:
        return Decimal("0")
    return max(payment.amount - _refunded_so_far(order), Decimal("0"))


def refund_refusal(order: Order) -> str:
    """Why the back office cannot refund this order now, or ""."""
    adapter = order_gateway(order)
    if adapter is None or not adapter.refunds:
        label = adapter.label if adapter else "its payment method"
        return f"{order.reference} was paid by {label}, which cannot refund from here."
    if order.status != Order.Status.PAID:
        return f"{order.reference} is {order.get_status_display().lower()}: nothing to refund."
    if _charged_payment(order) is None:
        return f"{order.reference}: no gateway payment to refund."
    if refundable_amount(order) <= 0:
        return f"{order.reference} has been refunded in full."
    if order.refund_requests.filter(status=R.REQUESTED).exists():
        return f"A refund of {order.reference} is on its way."
    return ""


def refund_request_create(
    *, order: Order, amount: Decimal | None, reason: str, actor: str, suspend_line: bool = False
) -> RefundRequest:
    """The operator's refund as a row (no I/O). `amount` None: everything left. Raises
    RefundNotPossible."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundNotPossible("Say why you refund: the customer's record keeps it.")
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        refusal = refund_refusal(locked)
        if refusal:
            raise RefundNotPossible(refusal)
        left = refundable_amount(locked)
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise RefundNotPossible(
                f"Refund between 0.01 and {left} {locked.currency} (what is left of the payment)."
            )
        if amount != amount.quantize(Decimal("0.01")):
            raise RefundNotPossible("Refund an amount in cents, e.g. 4.50.")
        try:
            with transaction.atomic():
                request = RefundRequest.objects.create(
                    order=locked,
                    amount=amount,
                    currency=locked.currency,
                    reason=reason[:255],
                    suspend_line=suspend_line,
                    actor=actor,
                    idempotency_key=f"refund-{uuid.uuid4().hex}",
                )
        except IntegrityError:
            raise RefundNotPossible(f"A refund of {locked.reference} is on its way.") from None
        audit_record(
            subject=locked,
            action="order.refund_requested",
            actor=actor,
            data={"amount": str(amount), "reason": reason[:255], "request": request.pk},
        )
    return request


def refund_request_run(*, request_id: int) -> str:
    """Ask the gateway for one open refund and record its answer. Network I/O: never inside a
    transaction. Returns done, failed, pending (no answer: asked again later) or not_open."""
    request = RefundRequest.objects.select_related("order").get(pk=request_id)
    if request.status != R.REQUESTED:
        return "not_open"
    order = request.order
    adapter = order_gateway(order)
    payment = _charged_payment(order)
    RefundRequest.objects.filter(pk=request.pk).update(attempts=request.attempts + 1)
    if adapter is None or payment is None:
        return _refund_failed(request, "the order has no gateway payment any more")
    try:
        update = adapter.refund(
            gateway_payment_id=payment.gateway_payment_id,
            amount=request.amount,
            currency=request.currency,
            idempotency_key=request.idempotency_key,
        )
    except (UnableToTakePayment, PaymentError) as exc:
        return _refund_failed(request, str(exc) or exc.__class__.__name__)
    except Exception:  # an answer we could not read: the refund may have happened, ask again
        logger.exception("refund request %s: the gateway's answer was lost", request.pk)
        return "pending"
    result = payment_update_apply(order=order, update=update)
    with transaction.atomic():
        done = RefundRequest.objects.filter(pk=request.pk, status=R.REQUESTED).update(
            status=R.DONE, finished_at=timezone.now(), error=""
        )
        if done:
            last = (
                Payment.objects.filter(order=order, status=Payment.Status.REFUNDED)
                .order_by("-pk")
                .first()
            )
            if last is not None:
                Payment.objects.filter(pk=last.pk).update(
                    note=f"{last.note + ': ' if last.note else ''}{request.reason}"[:255]
                )
            if request.suspend_line:
                for line in order_lines(order).filter(status=Line.Status.ACTIVE):
                    line_suspend(line=line, reason="payment partly refunded")
            audit_record(
                subject=order,
                action="order.refund_done",
                actor=request.actor,
                data={"amount": str(request.amount), "result": result},
            )
    return "done"


def _refund_failed(request: RefundRequest, error: str) -> str:
    RefundRequest.objects.filter(pk=request.pk, status=R.REQUESTED).update(
        status=R.FAILED, finished_at=timezone.now(), error=error[:2000]
    )
    audit_record(
        subject=request.order,
        action="order.refund_failed",
        actor=request.actor,
        data={"amount": str(request.amount), "error": error[:500]},
    )
    return "failed"


def _refunds_requested():
    return RefundRequest.objects.filter(status=R.REQUESTED)


def refund_requests_redrive(*, older_than_seconds: float = 60) -> int:
    """Ask again about refunds whose answer was lost (same idempotency key); the scheduler runs
    this. Gives up after 20 attempts: failed, for a person to look at the gateway."""
    if not rows_exist(_refunds_requested):
        return 0  # the idle case: one precompiled EXISTS (lib/exists.py)
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    count = 0
    for request in RefundRequest.objects.filter(status=R.REQUESTED, created_at__lte=cutoff):
        if request.attempts >= 20:
            _refund_failed(request, "no answer from the gateway after 20 attempts: check it")
            continue
        refund_request_run(request_id=request.pk)
        count += 1
    return count


def order_refund(*, order: Order, actor: str, reason: str = "refund requested") -> str:
    """Refund everything left of an order's payment: a request, then the gateway. Returns the
    order's status afterwards; raises RefundNotPossible."""
    request = refund_request_create(order=order, amount=None, reason=reason, actor=actor)
    refund_request_run(request_id=request.pk)
    order.refresh_from_db()
    return order.status
