"""Orders and payments. A confirmed payment marks the order paid and reserves its line in the same
transaction, so a crash can never leave a paid order without queued provisioning."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.models import Order, Payment
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer

logger = logging.getLogger(__name__)

# States from which a confirmation still provisions; later states (refunded…) do not go back.
_PAYABLE = (Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING, Order.Status.FAILED, Order.Status.EXPIRED)


def customer_get_or_create(*, email: str, name: str = "", country: str = "") -> Customer:
    email = email.strip().lower()
    customer, created = Customer.objects.get_or_create(email=email, defaults={"name": name, "country": country})
    if not created and name and not customer.name:
        customer.name = name
        customer.save(update_fields=["name"])
    return customer


def order_create(
    *,
    customer: Customer,
    plan: Plan,
    gateway: str = "",
    preferred_username: str = "",
    preferred_password: str = "",
    device: str = Order.Device.APP,
    mac_address: str = "",
    country: str = "",
    kind: str = Order.Kind.NEW,
    target_line=None,
) -> Order:
    # The price is frozen on the order: a later catalogue change does not alter what was sold.
    order = Order.objects.create(
        customer=customer,
        plan=plan,
        kind=kind,
        amount=plan.price,
        currency=plan.currency,
        gateway=gateway,
        preferred_username=preferred_username,
        preferred_password=preferred_password,
        device=device,
        mac_address=mac_address,
        country=(country or customer.country or "").upper(),
        target_line=target_line,
    )
    audit_record(subject=order, action="order.created", data={"plan": plan.slug, "amount": str(order.amount)})
    return order


def payment_record(
    *,
    order: Order,
    status: str,
    amount: Decimal | None = None,
    gateway: str | None = None,
    gateway_payment_id: str = "",
    source_event=None,
    note: str = "",
) -> Payment:
    return Payment.objects.create(
        order=order,
        gateway=gateway or order.gateway or "manual",
        status=status,
        amount=order.amount if amount is None else amount,
        currency=order.currency,
        gateway_payment_id=gateway_payment_id,
        source_event=source_event,
        note=note,
    )


def order_mark_paid(
    *, order: Order, gateway_payment_id: str = "", source_event=None, actor: str = "system", note: str = ""
) -> bool:
    """Confirm payment: order paid, line reserved, creation queued. Idempotent: True only the
    first time (a duplicate or late confirmation changes nothing)."""
    from boxoffice.panels.services import NoPanelAvailable
    from boxoffice.provisioning.services import line_reserve_for_order

    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in _PAYABLE:
            return False
        now = timezone.now()
        locked.status = Order.Status.PAID
        locked.paid_at = now
        locked.needs_review = False
        locked.review_reason = ""
        locked.save(update_fields=["status", "paid_at", "needs_review", "review_reason", "updated_at"])
        payment_record(
            order=locked, status=Payment.Status.CONFIRMED, gateway_payment_id=gateway_payment_id,
            source_event=source_event, note=note,
        )
        audit_record(subject=locked, action="order.paid", actor=actor, data={"payment": gateway_payment_id})
        try:
            with transaction.atomic():
                line_reserve_for_order(order=locked)
        except NoPanelAvailable as exc:
            # Paid but nowhere to put the line: keep the money, tell the operator.
            locked.needs_review = True
            locked.review_reason = str(exc)[:255]
            locked.save(update_fields=["needs_review", "review_reason", "updated_at"])
            audit_record(subject=locked, action="order.needs_review", data={"reason": str(exc)})
            logger.error("order %s paid but not provisioned: %s", locked.reference, exc)
    order.refresh_from_db()
    return True


def orders_flag_stale_pending() -> int:
    """Orders whose payment stayed pending past their gateway's timeout go to the review queue."""
    from datetime import timedelta

    from django.conf import settings

    now = timezone.now()
    flagged = 0
    timeouts = settings.PAYMENT_PENDING_TIMEOUT_HOURS
    for gateway, hours in timeouts.items():
        stale = Order.objects.filter(
            gateway=gateway,
            status=Order.Status.PAYMENT_PENDING,
            needs_review=False,
            pending_since__lt=now - timedelta(hours=hours),
        )
        for order in stale:
            reason = f"payment pending for more than {hours} h ({gateway})"
            if Order.objects.filter(pk=order.pk, needs_review=False).update(needs_review=True, review_reason=reason):
                audit_record(subject=order, action="order.needs_review", data={"reason": reason})
                flagged += 1
    return flagged
