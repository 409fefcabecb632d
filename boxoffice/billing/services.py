"""Orders and payments. A confirmed payment marks the order paid and reserves its line in the same
transaction, so a crash can never leave a paid order without queued provisioning."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.disputes import dispute_closed_apply, order_lines
from boxoffice.billing.emails import (
    payment_pending_email_send,
)
from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    GatewayAdapter,
    PaymentUpdate,
)
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.invoicing import credit_note_issue, invoice_issue, price_with_tax
from boxoffice.billing.models import Order, Payment
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.lib.exists import rows_exist_at
from boxoffice.messaging.services import operator_alert_send
from boxoffice.panels.services import NoPanelAvailable
from boxoffice.provisioning.conversion import LineNotConvertible, line_convert_trial_for_order
from boxoffice.provisioning.lifecycle import (
    LineNotRenewable,
    line_renew_for_order,
)
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.plan_changes import (
    PlanChangeNotApplicable,
    line_addon_for_order,
    line_change_plan_for_order,
)
from boxoffice.provisioning.reservation import line_reserve_for_order
from boxoffice.provisioning.services import line_suspend

logger = logging.getLogger(__name__)

# States from which a confirmation still provisions; later states (refunded…) do not go back.
_PAYABLE = (
    Order.Status.AWAITING_PAYMENT,
    Order.Status.PAYMENT_PENDING,
    Order.Status.FAILED,
    Order.Status.EXPIRED,
)


# --- What billing hands a gateway (adapters never see a model) -------------------------------


def checkout_recurring_days(order: Order, adapter: GatewayAdapter | None) -> int:
    """The period a new order of an auto-renewing plan is charged every, at a gateway that
    charges by itself (`recurring`); 0: one payment (renewed by hand, like any other)."""
    plan = order.plan
    if adapter is None or not adapter.recurring or not plan.auto_renew or plan.is_trial:
        return 0
    return plan.duration_days if order.kind == Order.Kind.NEW else 0


def checkout_request(
    order: Order, *, success_url: str = "", cancel_url: str = "", replacing: str = ""
) -> CheckoutRequest:
    """The typed value a gateway takes the order's payment from. `replacing`: the checkout a
    fresh one follows (the customer pays again), so the gateway can key it apart."""
    return CheckoutRequest(
        recurring_days=checkout_recurring_days(order, order_gateway(order)),
        order_reference=order.reference,
        amount=order.amount,
        currency=order.currency,
        description=f"{settings.SITE_NAME} — {order.plan.name}",
        customer_email=order.customer.email,
        success_url=success_url,
        cancel_url=cancel_url,
        previous_gateway_reference=replacing,
    )


def checkout_ref(order: Order) -> CheckoutRef:
    return CheckoutRef(order_reference=order.reference, gateway_reference=order.gateway_reference)


def order_gateway(order: Order) -> GatewayAdapter | None:
    """The adapter of the order's gateway, or None (no gateway, or one this installation no
    longer has)."""
    try:
        return gateway_for(order.gateway)
    except ValueError:
        return None


def order_payment_instructions(order: Order) -> str:
    """What the customer must do to pay this order (bank details), or "" when its gateway
    takes the payment on its own page."""
    adapter = order_gateway(order)
    return adapter.instructions(checkout_request(order)) if adapter else ""


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
    name: str = "",
    amount: Decimal | None = None,
    quote: dict | None = None,
    currency: str = "",
    language: str = "",
) -> Order:
    # The price is frozen on the order: a later catalogue change does not alter what was sold.
    # `amount`: an upgrade's, an add-on's or a renewal with extras (their `quote` says how).
    # Where prices exclude tax, the customer's country's tax is added here (invoicing.py).
    country = (country or customer.country or "").upper()
    # `currency`: the customer's, where the plan has a price in it (else the plan's own).
    if amount is None:
        amount, currency = plan.price_in(currency)
    currency = (currency or plan.currency).upper()
    order = Order.objects.create(
        customer=customer,
        name=name,
        plan=plan,
        kind=kind,
        amount=price_with_tax(amount, country),
        quote=quote or {},
        currency=currency,
        gateway=gateway,
        preferred_username=preferred_username,
        preferred_password=preferred_password,
        device=device,
        mac_address=mac_address,
        country=country,
        target_line=target_line,
        # An order about an existing line (renewal, upgrade) speaks its customer's language.
        language=language or customer.locale,
    )
    audit_record(
        subject=order, action="order.created", data={"plan": plan.slug, "amount": str(order.amount)}
    )
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
    *,
    order: Order,
    gateway_payment_id: str = "",
    source_event=None,
    actor: str = "system",
    note: str = "",
    amount: Decimal | None = None,
    received_on=None,
    bank_reference: str = "",
    from_states: tuple[str, ...] = _PAYABLE,
    renewal_expires_at=None,
    order_locked: bool = False,
) -> bool:
    """Confirm payment: order paid, line reserved, creation queued. Idempotent: True only the
    first time (a duplicate or late confirmation changes nothing), and only from `from_states`.
    `renewal_expires_at`: the end of the period a subscription's renewal paid for (its line's
    new expiry, billing/subscriptions.py); without it a renewal adds the plan's duration.
    `order_locked`: `order` was read under its row lock in the caller's open transaction, with its
    plan, customer and account (a webhook being applied); it is confirmed as it is."""
    if order_locked and not transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_mark_paid(order_locked=True) outside the locking transaction")
    # Inside the caller's locking transaction no savepoint: whatever fails here fails the whole
    # transaction (the webhook's is retried), and nothing between catches it to carry on.
    with transaction.atomic(savepoint=not order_locked):
        # The plan and customer (with the customer's account, for the credentials mail) come
        # along: the reservation and the mail need them. Only the order's row is locked.
        locked = (
            order
            if order_locked
            else Order.objects.select_for_update(of=("self",))
            .select_related("plan", "customer", "customer__user")
            .get(pk=order.pk)
        )
        if locked.status not in from_states:
            return False
        now = timezone.now()
        locked.status = Order.Status.PAID
        locked.paid_at = now
        locked.needs_review = False
        locked.review_reason = ""
        locked.save(
            update_fields=["status", "paid_at", "needs_review", "review_reason", "updated_at"]
        )
        payment = payment_record(
            order=locked,
            status=Payment.Status.CONFIRMED,
            amount=amount,
            gateway_payment_id=gateway_payment_id,
            source_event=source_event,
            note=note,
        )
        if received_on is not None or bank_reference:
            payment.received_on = received_on
            payment.bank_reference = bank_reference
            payment.save(update_fields=["received_on", "bank_reference"])
        invoice_issue(order=locked, payment=payment, new_payment=True)
        audit_record(
            subject=locked,
            action="order.paid",
            actor=actor,
            data={
                "payment": gateway_payment_id or bank_reference,
                "amount": str(payment.amount),
            },
        )
        _order_reserve_line(order=locked, renewal_expires_at=renewal_expires_at)
    if locked is not order:
        order.refresh_from_db()
    return True


def _order_reserve_line(*, order: Order, renewal_expires_at=None) -> None:
    """Reserve the paid order's line in the caller's transaction; a paid order nowhere to go is
    in the review queue with one alert, never an exception that loses the payment."""
    if order.kind == Order.Kind.BALANCE:
        _order_balance_settle(order=order)
        return
    if order.kind == Order.Kind.RENEWAL and order.target_line_id:
        # A renewal extends its line (one operation per order); a line that cannot be extended
        # any more (terminated meanwhile) leaves the money recorded and a person to decide.
        try:
            with transaction.atomic():
                line_renew_for_order(order=order, expires_at=renewal_expires_at)
        except LineNotRenewable as exc:
            order_flag_for_review(order=order, reason=f"paid renewal: {exc}")
        return
    if order.kind in (Order.Kind.UPGRADE, Order.Kind.ADDON) and order.target_line_id:
        # The same line changes on its panel (plan_changes.py); a quote the line no longer
        # fits (renewed meanwhile) leaves the money recorded and a person to decide.
        try:
            with transaction.atomic():
                if order.kind == Order.Kind.UPGRADE:
                    line_change_plan_for_order(order=order)
                else:
                    line_addon_for_order(order=order)
        except PlanChangeNotApplicable as exc:
            order_flag_for_review(order=order, reason=f"paid {order.get_kind_display()}: {exc}")
        return
    try:
        with transaction.atomic():
            if order.kind == Order.Kind.CONVERSION:
                # The trial line becomes the paid one: same line, same login (conversion.py).
                line_convert_trial_for_order(order=order)
            else:
                line_reserve_for_order(order=order)
    except LineNotConvertible as exc:
        order_flag_for_review(order=order, reason=f"paid, but {exc}", action="order.needs_review")
        logger.error("conversion order %s paid but not applied: %s", order.reference, exc)
    except NoPanelAvailable as exc:
        # Paid but nowhere to put the line: keep the money, tell the operator.
        order_flag_for_review(order=order, reason=str(exc), action="order.needs_review")
        logger.error("order %s paid but not provisioned: %s", order.reference, exc)


def order_partial_received(order: Order) -> Payment | None:
    """The latest underpayment the gateway reported for `order` (its amount: all received so
    far, as gateways report it), or None."""
    return (
        Payment.objects.filter(order=order, status=Payment.Status.PENDING, note="partial payment")
        .order_by("-created_at", "-pk")
        .first()
    )


def _order_balance_settle(*, order: Order) -> None:
    """A balance order is paid (the caller's transaction): the underpaid order it completes is
    paid with what it had received, and provisioned once; the balance order has no line."""
    if order.balance_of_id is None:
        order_flag_for_review(order=order, reason="balance order without the order it completes")
        return
    original = Order.objects.select_for_update().get(pk=order.balance_of_id)
    partial = order_partial_received(original)
    if partial is None or not order_mark_paid(
        order=original,
        amount=partial.amount,
        gateway_payment_id=partial.gateway_payment_id,
        note=f"the rest paid with {order.reference}",
        from_states=(Order.Status.PAYMENT_PENDING,),
    ):
        order_flag_for_review(
            order=order,
            reason=f"balance paid, but {original.reference} is "
            f"{original.get_status_display().lower()}: nothing was provisioned for it",
        )
        return
    audit_record(subject=original, action="order.balance_paid", data={"by": order.reference})


# What an operator may confirm by hand: a bank transfer that has not been settled otherwise.
TRANSFER_CONFIRMABLE = (Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING)


class TransferNotConfirmable(Exception):
    """This order cannot be confirmed as a received bank transfer; the message says why."""


def order_transfer_refusal(order: Order) -> str:
    """Why `order` cannot be confirmed as a received bank transfer, or "" if it can."""
    adapter = order_gateway(order)
    if adapter is None or not adapter.confirmed_by_operator:
        return (
            f"{order.reference} is paid by {order.gateway or 'no gateway'}, not by bank "
            "transfer: only its gateway can confirm it."
        )
    if order.status not in TRANSFER_CONFIRMABLE:
        return f"{order.reference} is {order.get_status_display().lower()}: nothing to confirm."
    return ""


def order_confirm_bank_transfer(
    *,
    order: Order,
    amount: Decimal,
    received_on,
    bank_reference: str,
    reason: str = "",
    actor: str,
) -> None:
    """An operator saw the transfer on the bank statement: record what arrived, when and under
    which bank reference, and provision. A different amount needs the operator's reason."""
    refusal = order_transfer_refusal(order)
    if refusal:
        raise TransferNotConfirmable(refusal)
    if amount != order.amount and not reason.strip():
        raise TransferNotConfirmable(
            f"{amount} {order.currency} received, {order.amount} {order.currency} expected: "
            "say why you confirm a different amount."
        )
    note = f"bank transfer confirmed by {actor}"
    if reason.strip():
        note = f"{note}: {reason.strip()}"
    if not order_mark_paid(
        order=order,
        actor=actor,
        note=note[:255],
        amount=amount,
        received_on=received_on,
        bank_reference=bank_reference,
        from_states=TRANSFER_CONFIRMABLE,
    ):
        order.refresh_from_db()
        raise TransferNotConfirmable(order_transfer_refusal(order) or "already confirmed")


def order_flag_for_review(
    *, order: Order, reason: str, action: str = "order.needs_review", data: dict | None = None
) -> bool:
    """Put an order in the review queue and alert the operator once for it (the alert goes out
    after the commit: no SMTP inside a transaction). True if it was not in review already."""
    now = timezone.now()
    with transaction.atomic():
        flagged = Order.objects.filter(pk=order.pk, needs_review=False).update(
            needs_review=True, review_reason=reason[:255], updated_at=now
        )
        order.needs_review, order.review_reason = True, reason[:255]
        audit_record(subject=order, action=action, data={"reason": reason, **(data or {})})
        if flagged:
            # One alert per time the order enters the queue (the conditional UPDATE above wins
            # once); after a dismissal a new problem alerts again.
            # The alert rows are written with the flag; the outbox sends them after commit.
            key = f"order-review:{order.pk}:{now.timestamp():.6f}"
            _order_review_alert(dedupe_key=key, reference=order.reference, reason=reason)
    return bool(flagged)


def _order_review_alert(*, dedupe_key: str, reference: str, reason: str) -> None:
    operator_alert_send(
        subject=f"[{settings.SITE_NAME}] Order {reference} needs a decision",
        body=(
            f"Order {reference} is in the review queue: {reason}\n\n"
            "The customer's money is recorded; nothing more happens to this order until you "
            "decide. You get this alert once per order.\n\n"
            f"Review queue: {settings.SITE_URL}/backoffice/review/\n"
        ),
        dedupe_key=dedupe_key,
    )


# The scheduler's look at paid orders without a line covers the orders paid this long ago at
# most; the hourly housekeeping looks at all of them (`within_seconds=None`).
PAID_LOOKBACK_SECONDS = 3600.0


def _paid_without_line(now, older_than_seconds: float, within_seconds: float | None):
    paid = Order.objects.filter(
        status=Order.Status.PAID, paid_at__lt=now - timedelta(seconds=older_than_seconds)
    )
    if within_seconds is not None:
        paid = paid.filter(paid_at__gte=now - timedelta(seconds=within_seconds))
    # A balance order has no line of its own: its payment paid the order it completes.
    return paid.filter(needs_review=False, target_line__isnull=True, lines__isnull=True).exclude(
        kind=Order.Kind.BALANCE
    )


def orders_provision_paid(
    *, older_than_seconds: float = 30, within_seconds: float | None = PAID_LOOKBACK_SECONDS
) -> int:
    """The reconciler's look at orders by their state: paid, no line, not in review (a lost
    event or a crash between two commits) get their line reserved now.

    Every paid order has its line once provisioned, so "paid without a line" cannot be read
    from an index; the per-second pass looks only at the last hour's payments (an index range),
    and the hourly housekeeping at all of them (a scan, once an hour)."""

    now = timezone.now()
    key = (older_than_seconds, within_seconds)
    if not rows_exist_at(_paid_without_line, now, *key):  # the usual answer, precompiled
        return 0
    pks = list(_paid_without_line(now, *key).order_by().values_list("pk", flat=True)[:200])
    done = 0
    for pk in pks:
        try:
            with transaction.atomic():
                locked = Order.objects.select_for_update().get(pk=pk)
                if (
                    locked.status != Order.Status.PAID
                    or locked.needs_review
                    or locked.lines.exists()
                ):
                    continue
                audit_record(subject=locked, action="order.reconciled")
                _order_reserve_line(order=locked)
                done += 1
        except Exception as exc:  # one bad order must not stop the others: it goes to review
            logger.exception("reserving the line of paid order %s failed", pk)
            order_flag_for_review(
                order=Order.objects.get(pk=pk),
                reason=f"paid but its line could not be reserved: {type(exc).__name__}: {exc}",
            )
    return done


def orders_flag_stale_pending() -> int:
    """Orders whose payment stayed pending past their gateway's timeout go to the review queue."""

    now = timezone.now()
    flagged = 0
    timeouts = settings.PAYMENT_PENDING_TIMEOUT_HOURS
    if not timeouts:
        return 0
    # One look for every gateway, through the partial index of pending orders.
    past_timeout = Q()
    for gateway, hours in timeouts.items():
        past_timeout |= Q(gateway=gateway, pending_since__lt=now - timedelta(hours=hours))
    stale = (
        Order.objects.filter(status__literal_in=[Order.Status.PAYMENT_PENDING])
        .filter(past_timeout, needs_review=False)
        .order_by("pending_since")
    )
    for order in stale:
        hours = timeouts[order.gateway]
        # Through the one way into the queue, so the operator is alerted as for any other.
        if order_flag_for_review(
            order=order, reason=f"payment pending for more than {hours} h ({order.gateway})"
        ):
            flagged += 1
    return flagged


# What a failed, expired, refunded or disputed payment makes of the order and its ledger.
_UPDATE_STATES = {
    gw.FAILED: (Order.Status.FAILED, Payment.Status.FAILED),
    gw.EXPIRED: (Order.Status.EXPIRED, Payment.Status.EXPIRED),
    gw.REFUNDED: (Order.Status.REFUNDED, Payment.Status.REFUNDED),
    gw.DISPUTED: (Order.Status.DISPUTED, Payment.Status.DISPUTED),
}


def payment_update_apply(
    *, order: Order, update: PaymentUpdate, source_event=None, order_locked: bool = False
) -> str:
    """Move an order's payment state. Events arrive twice and out of order: each branch checks
    the order's current state, never the arrival order. `order_locked`: the caller holds the order's
    row lock in its transaction and read it with its plan, customer and account."""

    if update.status == gw.PARTIAL:
        return _payment_partial(order=order, update=update, source_event=source_event)
    if update.status == gw.CONFIRMED:
        # A confirmation that does not say what was paid proves nothing about the price.
        if (
            update.amount is None
            or not update.currency
            or update.amount != order.amount
            or update.currency.upper() != order.currency.upper()
        ):
            if order.status == Order.Status.PAID:
                return "ignored"
            paid = (
                f"{update.amount} {update.currency}".strip()
                if update.amount is not None
                else "an unstated amount"
            )
            order_flag_for_review(
                order=order,
                reason=f"paid {paid}, expected {order.amount} {order.currency}",
                action="order.amount_mismatch",
                data={"paid": str(update.amount), "currency": update.currency},
            )
            return "amount_mismatch"
        done = order_mark_paid(
            order=order,
            gateway_payment_id=update.gateway_payment_id,
            source_event=source_event,
            order_locked=order_locked,
        )
        return "confirmed" if done else "ignored"

    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        now = timezone.now()
        if update.status == gw.PENDING:
            if locked.status != Order.Status.AWAITING_PAYMENT:
                return "ignored"
            locked.status = Order.Status.PAYMENT_PENDING
            locked.pending_since = now
            locked.save(update_fields=["status", "pending_since", "updated_at"])
            payment_record(
                order=locked,
                status=Payment.Status.PENDING,
                gateway_payment_id=update.gateway_payment_id,
                source_event=source_event,
            )
            audit_record(subject=locked, action="order.payment_pending")
            # Recorded with the state that owes it; the outbox checks again before sending and
            # drops it if the order was paid meanwhile.

            # By a worker: this can run in a customer's page request (confirm on return).
            payment_pending_email_send(order=locked, in_worker=True)
            return "pending"
        if update.status in (gw.FAILED, gw.EXPIRED):
            if locked.status not in (Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING):
                return "ignored"
            if (
                update.gateway_reference
                and locked.gateway_reference
                and update.gateway_reference != locked.gateway_reference
            ):
                # The end of a checkout this order has replaced (the customer paid again from
                # the status page): the order lives on in its new checkout.
                return "ignored"
            order_status, payment_status = _UPDATE_STATES[update.status]
            locked.status = order_status
            locked.save(update_fields=["status", "updated_at"])
            payment_record(
                order=locked,
                status=payment_status,
                gateway_payment_id=update.gateway_payment_id,
                source_event=source_event,
            )
            audit_record(subject=locked, action=f"order.{locked.status}")
            return update.status
        if update.status in (gw.DISPUTE_WON, gw.DISPUTE_LOST):
            return dispute_closed_apply(
                locked=locked, update=update, source_event=source_event, record=payment_record
            )
        if update.status == gw.REFUNDED and _is_partial_refund(locked, update):
            # Part of the money went back: the line stays as it is and a person decides. The
            # gateway reports the total refunded so far; the ledger records what is new.
            so_far = _refunded_so_far(locked)
            refunded = update.amount if update.amount is not None else so_far
            if update.amount is not None and refunded <= so_far:
                return "ignored"
            refund = payment_record(
                order=locked,
                status=Payment.Status.REFUNDED,
                amount=-(refunded - so_far),
                gateway_payment_id=update.gateway_payment_id,
                source_event=source_event,
                note="partial refund",
            )
            credit_note_issue(order=locked, refund=refund)
            if locked.refund_requests.exclude(status="failed").exists():
                # The operator refunded part from the back office: already a person's decision.
                audit_record(subject=locked, action="order.partially_refunded")
            else:
                order_flag_for_review(
                    order=locked,
                    reason=(
                        f"partial refund: {update.amount} {update.currency} of "
                        f"{locked.amount} {locked.currency}"
                    ),
                    action="order.partially_refunded",
                )
            return "partial_refund"
        if update.status in (gw.REFUNDED, gw.DISPUTED):
            target, payment_status = _UPDATE_STATES[update.status]
            if locked.status == target:
                return "ignored"
            locked.status = target
            locked.save(update_fields=["status", "updated_at"])
            amount = update.amount if update.amount is not None else locked.amount
            if update.status == gw.REFUNDED:  # the total so far: what earlier rows lack
                amount -= _refunded_so_far(locked)
            movement = payment_record(
                order=locked,
                status=payment_status,
                amount=-amount,
                gateway_payment_id=update.gateway_payment_id,
                source_event=source_event,
            )
            if update.status == gw.REFUNDED:
                credit_note_issue(order=locked, refund=movement)
            audit_record(subject=locked, action=f"order.{target}")
            # Money taken back: the service stops. The line stays on the panel, suspended, so the
            # operator can resume it if the dispute is won.
            # A renewal's too: its line is the one it renewed (the period it paid for is taken
            # back with the money; the line's expiry stays, the suspension stops the service).
            for line in order_lines(locked).filter(status=Line.Status.ACTIVE):
                line_suspend(line=line, reason=f"payment {target}")
            return update.status
    return "ignored"


def _payment_partial(*, order: Order, update: PaymentUpdate, source_event=None) -> str:
    """Less than the price arrived (a gateway with `partial_payments` says so): the ledger
    records what came, the order waits as pending and a person decides (ask for the rest,
    refund, or confirm by hand). Nothing is provisioned."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in (Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING):
            return "ignored"
        amount = update.amount if update.amount is not None else Decimal("0")
        if Payment.objects.filter(
            order=locked, status=Payment.Status.PENDING, note="partial payment", amount=amount
        ).exists():
            return "ignored"  # the same underpayment told again
        if locked.status == Order.Status.AWAITING_PAYMENT:
            locked.status = Order.Status.PAYMENT_PENDING
            locked.pending_since = timezone.now()
            locked.save(update_fields=["status", "pending_since", "updated_at"])
        payment_record(
            order=locked,
            status=Payment.Status.PENDING,
            amount=amount,
            gateway_payment_id=update.gateway_payment_id,
            source_event=source_event,
            note="partial payment",
        )
        order_flag_for_review(
            order=locked,
            reason=(
                f"partial payment: {update.amount} {update.currency} of "
                f"{locked.amount} {locked.currency}"
            ),
            action="order.partially_paid",
            data={"paid": str(update.amount), "currency": update.currency},
        )
    return "partial_payment"


def _refunded_so_far(order: Order) -> Decimal:
    """What the ledger already records as refunded (refund rows are negative)."""
    total = Payment.objects.filter(order=order, status=Payment.Status.REFUNDED).aggregate(
        total=Sum("amount")
    )["total"]
    return -(total or Decimal("0"))


def _is_partial_refund(order: Order, update: PaymentUpdate) -> bool:
    """Less than the order's price went back (an unknown amount or currency counts as partial:
    only a refund known to be whole stops the service without a person)."""
    if update.amount is None or not update.currency:
        return True
    if update.currency.upper() != order.currency.upper():
        return True
    return update.amount < order.amount


def order_review_dismiss(*, order: Order, actor: str) -> None:
    Order.objects.filter(pk=order.pk).update(needs_review=False)
    audit_record(
        subject=order,
        action="order.review_dismissed",
        actor=actor,
        data={"reason": order.review_reason},
    )
