"""Automatic renewal through a gateway's subscriptions (Stripe Billing).

Every subscription event only points at a subscription and maybe one of its invoices; both are
re-fetched from the gateway (outside any transaction, `subscription_event_fetch`) and what the
gateway has now is applied (`subscription_event_apply`, in the event's transaction):

- the first invoice paid (`FIRST`, from `checkout.session.completed` or `invoice.paid`, in either
  order: upsert by subscription id): the new-subscription order is paid and its line reserved,
  with the expiry Stripe's first period ends at;
- a renewal invoice paid (`CYCLE`): one renewal order per invoice id (unique), paid in one
  transaction, which queues exactly one extend (`line_renew_for_order`, key `renewal:order:<pk>`);
- a renewal invoice failed: a failed payment in the ledger, the customer told at once (once per
  invoice) with a link to update the card; the panel's expiry moves to the end of the plan's
  grace days (the line keeps playing), the line's own expiry stays what was paid, so the
  one-time lifecycle's grace and suspension count from it; a retry paid later extends the line
  to the paid period's end and resumes it;
- a plan change (`CHANGE`) never adds a period; other invoices (`manual`) are ignored.

The expiry rule: a paid invoice moves the line's expiry to the end of the period it pays for
(Stripe's, anchored at the first payment; a late retry does not move the anchor), never earlier
than the current expiry. The price's interval is the plan's duration in days, so that is the
current expiry plus one period: the panel holds exactly the periods paid, no day gained or lost.

A customer who cancels (`subscription_cancel_at_period_end`) keeps the line to the end of what
was paid; from then the line is one renewed by hand: reminders before the expiry, then grace and
suspension like any unpaid line (they may still renew by hand during the grace period).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.emails import subscription_payment_failed_email_send
from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import InvoiceState, PaymentUpdate, SubscriptionState
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order, Payment, Subscription, WebhookEvent
from boxoffice.billing.services import (
    order_create,
    order_flag_for_review,
    order_mark_paid,
    payment_record,
    payment_update_apply,
)
from boxoffice.messaging.emails import format_expiry, site_link
from boxoffice.provisioning.lifecycle import line_grace_extend
from boxoffice.provisioning.models import Line

logger = logging.getLogger(__name__)

CARD_LINK_SALT = "boxoffice.subscription-card-link"
CARD_LINK_DAYS = 7


@dataclass(frozen=True)
class Fetched:
    """What the gateway says now about the objects an event names."""

    subscription: SubscriptionState
    invoice: InvoiceState | None
    fetched_at: datetime


def subscription_event_fetch(*, gateway: str, update: PaymentUpdate) -> Fetched:
    """Re-fetch the subscription (and the invoice) an event names. Network I/O: call outside
    any transaction. Raises PaymentError (the event is retried with backoff)."""
    adapter = gateway_for(gateway)
    fetched_at = timezone.now()  # before asking: what the gateway answers is at least this new
    invoice = (
        adapter.invoice_fetch(update.gateway_invoice_id) if update.gateway_invoice_id else None
    )
    sub_id = update.gateway_subscription_id or (invoice.gateway_subscription_id if invoice else "")
    if not sub_id:
        raise gw.PaymentError("the event names no subscription")
    return Fetched(
        subscription=adapter.subscription_fetch(sub_id), invoice=invoice, fetched_at=fetched_at
    )


def subscription_event_apply(
    *, gateway: str, update: PaymentUpdate, fetched: Fetched, source_event: WebhookEvent | None
) -> str:
    """Apply what the gateway has now (runs in the event's transaction, or the customer's back
    on the status page: `source_event` None)."""
    state, invoice = fetched.subscription, fetched.invoice
    sub = _subscription_upsert(
        gateway=gateway,
        state=state,
        fetched_at=fetched.fetched_at,
        references=(
            state.order_reference,
            update.order_reference,
            invoice.order_reference if invoice else "",
        ),
    )
    if sub is None:
        logger.warning(
            "%s subscription %s names no known order", gateway, state.gateway_subscription_id
        )
        return "no_order"
    if invoice is None or invoice.gateway_subscription_id not in ("", sub.gateway_subscription_id):
        _line_mode_sync(sub)
        return "subscription_updated"
    invoice = _sale_reason(sub, invoice)
    if invoice.reason == gw.FIRST:
        result = _first_invoice(sub=sub, invoice=invoice, source_event=source_event)
    elif invoice.reason == gw.CYCLE:
        if invoice.paid:
            result = _cycle_paid(sub=sub, invoice=invoice, source_event=source_event)
        elif invoice.charge_failed:
            result = _cycle_failed(sub=sub, invoice=invoice, source_event=source_event)
        else:
            result = "ignored"  # not charged yet, or void / uncollectible: nothing to extend
    else:
        # A plan change's proration never adds a whole period; a manual invoice is not ours.
        result = "ignored"
    _line_mode_sync(sub)
    return result


# --- the subscription row ----------------------------------------------------------------------


def _subscription_upsert(
    *, gateway: str, state: SubscriptionState, fetched_at: datetime, references: tuple[str, ...]
) -> Subscription | None:
    sub_id = state.gateway_subscription_id
    sub = Subscription.objects.select_for_update().filter(gateway_subscription_id=sub_id).first()
    if sub is None:
        order = next(
            (
                o
                for o in (
                    Order.objects.filter(reference=r, kind=Order.Kind.NEW, gateway=gateway).first()
                    for r in references
                    if r
                )
                if o is not None
            ),
            None,
        )
        if order is None:
            return None
        try:
            with transaction.atomic():
                Subscription.objects.create(
                    gateway=gateway,
                    gateway_subscription_id=sub_id,
                    customer=order.customer,
                    plan=order.plan,
                    order=order,
                )
        except IntegrityError:
            pass  # created meanwhile by the other event of the pair: the same row
        sub = Subscription.objects.select_for_update().get(gateway_subscription_id=sub_id)
        audit_record(subject=sub, action="subscription.created", data={"order": order.reference})
    if sub.fetched_at is None or fetched_at >= sub.fetched_at:
        sub.status = state.status
        sub.gateway_customer_id = state.gateway_customer_id or sub.gateway_customer_id
        sub.current_period_end = state.current_period_end
        sub.cancel_at_period_end = state.cancel_at_period_end
        sub.fetched_at = fetched_at
    if sub.line_id is None:
        sub.line = Line.objects.filter(order=sub.order).first()
    sub.save()
    return sub


def _line_mode_sync(sub: Subscription) -> None:
    """The line is auto-renewing exactly while the gateway will charge it again."""
    if sub.line_id is None:
        return
    changed = Line.objects.filter(pk=sub.line_id).exclude(auto_renew=sub.renews)
    if changed.update(auto_renew=sub.renews, updated_at=timezone.now()) and sub.line:
        audit_record(
            subject=sub.line,
            action="line.renewal_mode",
            data={"auto_renew": sub.renews, "subscription": sub.gateway_subscription_id},
        )


# --- invoices ----------------------------------------------------------------------------------


def _sale_reason(sub: Subscription, invoice: InvoiceState) -> InvoiceState:
    """A `SALE` (PayPal) as FIRST or CYCLE: the first payment is the one that pays (or paid) the
    subscription's first order; any other sale is a renewal."""
    if invoice.reason != gw.SALE:
        return invoice
    first_paid_by = set(
        Payment.objects.filter(order=sub.order, status=Payment.Status.CONFIRMED).values_list(
            "gateway_payment_id", flat=True
        )
    )
    is_first = not first_paid_by or invoice.gateway_invoice_id in first_paid_by
    return replace(invoice, reason=gw.FIRST if is_first else gw.CYCLE)


def _first_invoice(*, sub: Subscription, invoice: InvoiceState, source_event) -> str:
    if not invoice.paid:
        return "ignored"  # Checkout charges the first invoice itself; nothing to provision
    order = sub.order
    result = payment_update_apply(
        order=order,
        update=PaymentUpdate(
            status=gw.CONFIRMED,
            order_reference=order.reference,
            gateway_payment_id=_paid_by(invoice),
            amount=invoice.amount,
            currency=invoice.currency,
        ),
        source_event=source_event,
    )
    line = Line.objects.filter(order=order).first()
    if line is not None:
        if not line.panel_line_id and line.expires_at is None and invoice.period_end:
            # Created on the panel with Stripe's first period end (creation.py takes a set
            # expiry as it is), so later periods add up exactly.
            Line.objects.filter(pk=line.pk).update(expires_at=invoice.period_end)
        sub.line = line
    sub.last_invoice_id = invoice.gateway_invoice_id
    sub.last_paid_at = sub.last_paid_at or timezone.now()
    sub.save()
    return result


def _renewal_order(*, sub: Subscription, invoice: InvoiceState) -> Order:
    """The renewal order of one invoice, made once (the subscription row is locked)."""
    order = Order.objects.filter(
        subscription=sub, gateway_reference=invoice.gateway_invoice_id
    ).first()
    if order is not None:
        return order
    first = sub.order
    order = order_create(
        customer=sub.customer,
        plan=sub.plan,
        gateway=sub.gateway,
        kind=Order.Kind.RENEWAL,
        target_line=sub.line,
        name=first.name,
        device=first.device,
        mac_address=first.mac_address,
        country=first.country,
    )
    # What the subscription charges (its price is fixed at the gateway), keyed by the invoice.
    order.subscription = sub
    order.gateway_reference = invoice.gateway_invoice_id
    if invoice.amount is not None:
        order.amount = invoice.amount
    order.currency = invoice.currency or order.currency
    order.save(update_fields=["subscription", "gateway_reference", "amount", "currency"])
    return order


def _cycle_paid(*, sub: Subscription, invoice: InvoiceState, source_event) -> str:
    if sub.line is None:
        order = _renewal_order(sub=sub, invoice=invoice)
        order_flag_for_review(order=order, reason="subscription renewed, but it has no line")
        return "needs_review"
    order = _renewal_order(sub=sub, invoice=invoice)
    done = order_mark_paid(
        order=order,
        gateway_payment_id=_paid_by(invoice),
        source_event=source_event,
        note="subscription renewal",
        renewal_expires_at=invoice.period_end,
    )
    sub.last_invoice_id = invoice.gateway_invoice_id
    if done:
        sub.last_paid_at = timezone.now()
        sub.failures = 0
    sub.save()
    return "renewed" if done else "ignored"


def _cycle_failed(*, sub: Subscription, invoice: InvoiceState, source_event) -> str:
    order = _renewal_order(sub=sub, invoice=invoice)
    if order.status == Order.Status.PAID:
        return "ignored"  # a late copy of a failure the retry has already made good
    note = f"charge attempt {invoice.attempts} failed"
    if Payment.objects.filter(
        order=order,
        status=Payment.Status.FAILED,
        gateway_payment_id=invoice.gateway_invoice_id,
        note=note,
    ).exists():
        return "ignored"
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FAILED, updated_at=timezone.now())
    payment_record(
        order=order,
        status=Payment.Status.FAILED,
        gateway_payment_id=invoice.gateway_invoice_id,
        source_event=source_event,
        note=note,
    )
    sub.failures += 1
    sub.last_failure_at = timezone.now()
    sub.last_invoice_id = invoice.gateway_invoice_id
    sub.save()
    audit_record(
        subject=sub,
        action="subscription.payment_failed",
        data={"invoice": invoice.gateway_invoice_id},
    )
    line = sub.line
    if line is not None:
        # The line keeps playing through the plan's grace days (on the panel only); then the
        # lifecycle suspends it for non-payment, counted from what was paid.
        line_grace_extend(line=line, key=f"grace:invoice:{invoice.gateway_invoice_id}")
    subscription_payment_failed_email_send(
        order=order,
        dedupe_key=f"subscription_payment_failed:invoice:{invoice.gateway_invoice_id}",
        card_url=card_link_url(sub),
        expires=format_expiry(line.expires_at) if line and line.expires_at else "",
    )
    return "payment_failed"


def _paid_by(invoice: InvoiceState) -> str:
    """What the confirmed Payment row is keyed by: the gateway's payment that paid the invoice
    (Stripe's PaymentIntent), which its charge's refunds and disputes name (charge.refunded,
    charge.dispute.*) and the back office refunds; the invoice id only when the gateway did
    not say (the renewal order keeps the invoice id as its gateway_reference either way)."""
    return invoice.gateway_payment_id or invoice.gateway_invoice_id


# --- the card link and the customer's own actions ---------------------------------------------


def card_link_token(sub: Subscription) -> str:
    return signing.dumps({"subscription": sub.pk}, salt=CARD_LINK_SALT)


def card_link_url(sub: Subscription) -> str:
    from django.urls import reverse  # noqa: PLC0415 - URLconf imports views that import this

    return site_link(reverse("billing:subscription_card", kwargs={"token": card_link_token(sub)}))


def card_link_subscription(token: str) -> Subscription | None:
    """The subscription a card link names, or None (forged, expired, gone)."""
    try:
        data = signing.loads(token, salt=CARD_LINK_SALT, max_age=timedelta(days=CARD_LINK_DAYS))
    except signing.BadSignature:
        return None
    pk = data.get("subscription") if isinstance(data, dict) else None
    if not isinstance(pk, int) or isinstance(pk, bool):
        return None
    return Subscription.objects.filter(pk=pk).first()


def subscription_card_update_url(*, sub: Subscription, return_url: str) -> str:
    """A fresh billing-portal session at the gateway for replacing the card (network I/O; the
    address is a bearer credential: handed to the customer's browser, never stored or logged).
    Raises UnableToTakePayment."""
    audit_record(subject=sub, action="subscription.card_update_opened", actor="customer")
    return gateway_for(sub.gateway).payment_method_update_url(
        gateway_customer_id=sub.gateway_customer_id,
        gateway_subscription_id=sub.gateway_subscription_id,
        return_url=return_url,
    )


def subscription_payment_method_help(sub: Subscription) -> str:
    """What the customer is told before the card link sends them to the gateway ("" when it is
    a one-time page for replacing the card)."""
    try:
        return str(gateway_for(sub.gateway).payment_method_help)  # in the request's language
    except ValueError:
        return ""


def subscription_for_line(line: Line) -> Subscription | None:
    return line.subscriptions.order_by("-created_at").first()


def subscription_cancel_at_period_end(
    *, sub: Subscription, cancel: bool = True, reason: str = "", actor: str = "customer"
) -> Subscription:
    """Stop (or resume) the automatic renewal after the period already paid. The intent is
    written first, the gateway called outside any transaction, then its answer mirrored.
    Raises UnableToTakePayment when the gateway cannot be reached (the row then still says
    what was asked, and the audit trail who asked)."""
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=sub.pk)
        locked.cancel_reason = reason.strip()[:500] if cancel else ""
        locked.cancel_requested_at = timezone.now() if cancel else None
        locked.save(update_fields=["cancel_reason", "cancel_requested_at", "updated_at"])
        audit_record(
            subject=locked,
            action="subscription.cancel_requested" if cancel else "subscription.resume_requested",
            actor=actor,
            data={"reason": locked.cancel_reason},
        )
    asked_at = timezone.now()
    state = gateway_for(sub.gateway).subscription_cancel_at_period_end(
        sub.gateway_subscription_id, cancel=cancel, reason=reason
    )
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=sub.pk)
        if locked.fetched_at is None or asked_at >= locked.fetched_at:
            locked.status = state.status
            locked.cancel_at_period_end = state.cancel_at_period_end
            locked.current_period_end = state.current_period_end
            locked.fetched_at = asked_at
            locked.save()
        _line_mode_sync(locked)
    return locked
