"""Webhook intake and processing: a verified notification is stored once (unique per gateway
and event id), answered at once, and applied in a task with the event row locked; processing
that raises is retried with backoff and, past the limit, put in review with one alert."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import PaymentUpdate, VerifiedEvent
from boxoffice.billing.gateways.registry import gateway_for
from boxoffice.billing.models import Order, Payment, WebhookEvent
from boxoffice.billing.services import (
    order_flag_for_review,
    payment_update_apply,
)
from boxoffice.billing.subscriptions import (
    Fetched,
    subscription_event_apply,
    subscription_event_fetch,
)
from boxoffice.billing.tasks import process_webhook_event
from boxoffice.lib.backoff import backoff_delay
from boxoffice.lib.exists import rows_exist, rows_exist_with
from boxoffice.lib.tasks import tasks_waiting_for
from boxoffice.messaging.services import operator_alert_send

logger = logging.getLogger(__name__)


# --- Webhooks --------------------------------------------------------------------------------


def webhook_event_store(*, gateway: str, event: VerifiedEvent) -> tuple[WebhookEvent, bool]:
    """Store a verified notification once; queue its processing. (event, created)."""
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                gateway=gateway,
                event_id=event.event_id,
                event_type=event.event_type,
                payload=event.payload,
            )
            # The task row commits with the event (one write transaction for the gateway's
            # request, not two); the worker is woken once it is visible (runtime/wakeup.py).
            process_webhook_event.enqueue(stored.pk)
    except IntegrityError:
        return WebhookEvent.objects.get(gateway=gateway, event_id=event.event_id), False
    return stored, True


def webhook_event_process(*, event_pk: int) -> str:
    """Apply a stored notification to its order, once. The event row is locked and its status
    checked inside the transaction that applies it, so a task delivered twice does nothing the
    second time; every state change also checks the order's current state.

    Whatever raises while applying it rolls the whole change back and leaves the event to be
    retried with backoff (the scheduler re-drives due events); past the attempt limit it waits
    in the review queue and the operator hears about it once."""
    try:
        # What the event means, asked of the gateway where it must be, before the transaction
        # (no network I/O while rows are locked): the event's object read anew (BTCPay,
        # NOWPayments), what it means now (PayPal captures an approval), and the subscription
        # and invoice a subscription event names (Stripe Billing). The event row is checked
        # again under the lock.
        received = WebhookEvent.objects.filter(
            pk=event_pk, status=WebhookEvent.Status.RECEIVED
        ).first()
        if received is None:
            return "already_processed"
        adapter = gateway_for(received.gateway)
        event = adapter.event_refetch(
            VerifiedEvent(received.event_id, received.event_type, received.payload)
        )
        update = adapter.event_update(
            event, checkout_open=lambda ref: _checkout_open(received.gateway, ref)
        )
        fetched = _webhook_event_prefetch(received, update)
        with transaction.atomic():
            stored = (
                WebhookEvent.objects.select_for_update()
                .filter(pk=event_pk, status=WebhookEvent.Status.RECEIVED)
                .first()
            )
            if stored is None:
                return "already_processed"
            result = _webhook_event_apply(stored, update, fetched)
            stored.status = (
                WebhookEvent.Status.IGNORED
                if result in ("ignored", "no_order", "unhandled")
                else WebhookEvent.Status.PROCESSED
            )
            stored.processed_at = timezone.now()
            stored.next_attempt_at = None
            stored.error = {
                "no_order": "no order matches this event",
                "ignored": "no change for the order's state",
            }.get(result, "")
            stored.save(update_fields=["status", "processed_at", "error", "next_attempt_at"])
            return result
    except Exception as exc:
        logger.exception("processing webhook event %s failed", event_pk)
        return _webhook_event_failed(event_pk=event_pk, exc=exc)


def _checkout_open(gateway: str, gateway_reference: str) -> bool:
    """Whether `gateway_reference` is the current checkout of an order still waiting for its
    money (not paid, cancelled, expired, nor replaced by a newer checkout)."""
    return bool(gateway_reference) and (
        Order.objects.filter(
            gateway=gateway,
            gateway_reference=gateway_reference,
            status__in=(Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING),
        ).exists()
    )


def _webhook_event_failed(*, event_pk: int, exc: Exception) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with transaction.atomic():
        stored = (
            WebhookEvent.objects.select_for_update()
            .filter(pk=event_pk, status=WebhookEvent.Status.RECEIVED)
            .first()
        )
        if stored is None:
            return "already_processed"
        stored.attempts += 1
        stored.error = error
        if stored.attempts < settings.PROVISIONING["MAX_ATTEMPTS"]:
            stored.next_attempt_at = timezone.now() + timedelta(
                seconds=backoff_delay(stored.attempts, settings.PROVISIONING)
            )
            stored.save(update_fields=["attempts", "error", "next_attempt_at"])
            return "retry"
        stored.status = WebhookEvent.Status.NEEDS_REVIEW
        stored.next_attempt_at = None
        stored.save(update_fields=["attempts", "error", "next_attempt_at", "status"])
        audit_record(subject=stored, action="webhook.needs_review", data={"error": error})
        order = _webhook_event_order(stored)
    reason = f"{stored.gateway} event {stored.event_id} could not be applied: {error}"
    if order is not None:
        order_flag_for_review(order=order, reason=reason, action="order.webhook_failed")
    else:
        operator_alert_send(
            subject=f"[{settings.SITE_NAME}] A payment notification needs a decision",
            body=f"{reason}\n\nWebhook events: {settings.SITE_URL}/admin/billing/webhookevent/"
            "?status__exact=needs_review\n",
            dedupe_key=f"webhook-review:{stored.pk}",
        )
    return "needs_review"


def webhook_event_retry_now(*, event: WebhookEvent, actor: str) -> bool:
    """An operator sends a notification that stopped back to processing, with fresh attempts
    (every handler checks the order's current state, so a replay is safe)."""

    with transaction.atomic():
        updated = WebhookEvent.objects.filter(
            pk=event.pk, status__in=[WebhookEvent.Status.NEEDS_REVIEW, WebhookEvent.Status.FAILED]
        ).update(status=WebhookEvent.Status.RECEIVED, attempts=0, next_attempt_at=timezone.now())
        if updated:
            audit_record(subject=event, action="webhook.retried", actor=actor)
            transaction.on_commit(lambda: process_webhook_event.enqueue(event.pk))
    return bool(updated)


def _webhook_event_order(stored: WebhookEvent) -> Order | None:
    """The order an event names, or None (also when the event cannot even be parsed)."""
    try:
        update = gateway_for(stored.gateway).parse_event(
            VerifiedEvent(stored.event_id, stored.event_type, stored.payload)
        )
        return _order_for_update(stored.gateway, update) if update else None
    except Exception:
        return None


def _webhook_event_prefetch(stored: WebhookEvent, update: PaymentUpdate | None) -> Fetched | None:
    if update is None or update.status != gw.SUBSCRIPTION:
        return None
    return subscription_event_fetch(gateway=stored.gateway, update=update)


def _webhook_event_apply(
    stored: WebhookEvent, update: PaymentUpdate | None, fetched: Fetched | None = None
) -> str:
    if update is None:
        return "unhandled"
    if update.status == gw.SUBSCRIPTION:
        if fetched is None:  # the event turned up between the prefetch and the lock: next time
            raise gw.PaymentError("subscription event not fetched yet")
        return subscription_event_apply(
            gateway=stored.gateway, update=update, fetched=fetched, source_event=stored
        )
    order = _order_for_update(stored.gateway, update, lock=True)
    if order is None:
        logger.warning("%s event %s names no known order", stored.gateway, stored.event_id)
        return "no_order"
    conflict = _update_names_another_order(stored.gateway, order, update)
    if conflict:
        order_flag_for_review(
            order=order,
            reason=f"{stored.gateway} event {stored.event_id}: {conflict}",
            action="order.reference_mismatch",
        )
        return "reference_mismatch"
    return payment_update_apply(order=order, update=update, source_event=stored, order_locked=True)


# The usual answer of both (no other order) is one precompiled EXISTS each (lib/exists.py).
def _other_orders_of_checkout(gateway: str, gateway_reference: str, order_id: int):
    return Order.objects.filter(gateway=gateway, gateway_reference=gateway_reference).exclude(
        pk=order_id
    )


def _other_orders_payments(gateway: str, gateway_payment_id: str, order_id: int):
    return Payment.objects.filter(gateway=gateway, gateway_payment_id=gateway_payment_id).exclude(
        order_id=order_id
    )


def _update_names_another_order(gateway: str, order: Order, update: PaymentUpdate) -> str:
    """Why the gateway's own ids in an event do not belong to the order it names, or "".

    An order reference is only text the event carries; the gateway's session and payment ids
    are what it charged. An event may confirm only the order those ids belong to."""
    if order.gateway and order.gateway != gateway:
        return f"names order {order.reference}, which is paid by {order.gateway}"
    ref = update.gateway_reference
    if ref:
        if order.gateway_reference and order.gateway_reference != ref:
            return f"session {ref} is not order {order.reference}'s ({order.gateway_reference})"
        # Any other order will do, so no ordering: ordered by creation (the model's default),
        # SQLite walked every order's creation index instead of this one's checkout id.
        other = (
            _other_orders_of_checkout(gateway, ref, order.pk)
            .order_by()
            .values_list("reference", flat=True)[:1]
            if rows_exist_with(_other_orders_of_checkout, (gateway, ref, order.pk))
            else []
        )
        if other:
            return f"session {ref} belongs to order {other[0]}, not {order.reference}"
    pid = update.gateway_payment_id
    if pid:
        paid = (
            _other_orders_payments(gateway, pid, order.pk)
            .order_by()
            .values_list("order__reference", flat=True)[:1]
            if rows_exist_with(_other_orders_payments, (gateway, pid, order.pk))
            else []
        )
        if paid:
            return f"payment {pid} belongs to order {paid[0]}, not {order.reference}"
    return ""


def _events_to_process():
    return WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED)


def webhook_events_redrive(*, older_than_seconds: float = 30) -> int:
    """Queue processing again for stored events whose task was lost (e.g. a crash) and for
    events whose retry is due. Each is claimed for a grace period first, so passes of the
    scheduler do not queue it over and over while a worker is busy. With no event to process
    at all (the idle case) the pass is one precompiled EXISTS (`lib/exists.py`)."""

    if not rows_exist(_events_to_process):
        return 0
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    # The status as the partial index `webhookevent_received` names it (lib/lookups.py).
    due = WebhookEvent.objects.filter(status__literal_in=[WebhookEvent.Status.RECEIVED]).filter(
        Q(next_attempt_at__isnull=True, received_at__lt=cutoff) | Q(next_attempt_at__lte=now)
    )
    redriven = 0
    pks = list(due.order_by().values_list("pk", flat=True)[:200])
    # An event still waiting in the queue behind a burst is not lost: no second task for it,
    # and it is not a candidate again for a while (one UPDATE), so the next passes look past
    # the backlog for an event that is really lost instead of re-reading the same oldest ones.
    waiting = tasks_waiting_for(process_webhook_event, pks)
    if waiting:
        WebhookEvent.objects.filter(pk__in=waiting, status=WebhookEvent.Status.RECEIVED).update(
            next_attempt_at=now + timedelta(seconds=older_than_seconds)
        )
    for pk in pks:
        if pk in waiting:
            continue
        claimed = (
            WebhookEvent.objects.filter(pk=pk, status=WebhookEvent.Status.RECEIVED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .update(next_attempt_at=now + timedelta(seconds=older_than_seconds))
        )
        if claimed:
            process_webhook_event.enqueue(pk)
            redriven += 1
    return redriven


def _order_for_update(gateway: str, update: PaymentUpdate, *, lock: bool = False) -> Order | None:
    """The order an event names. With `lock` (inside the transaction that applies the event),
    its row is locked and read with what confirming it needs (plan, customer and account), so
    the confirmation works on this object instead of reading and locking the order again."""
    orders = Order.objects.all()
    if lock:
        orders = orders.select_for_update(of=("self",)).select_related(
            "plan", "customer", "customer__user"
        )
    if update.order_reference:
        # The reference is unique: no ordering for a single row.
        order = orders.filter(reference=update.order_reference).order_by().first()
        if order:
            return order
    if update.gateway_reference:
        order = orders.filter(gateway=gateway, gateway_reference=update.gateway_reference).first()
        if order:
            return order
    if update.gateway_payment_id:
        order_id = (
            Payment.objects.filter(gateway=gateway, gateway_payment_id=update.gateway_payment_id)
            .order_by("created_at", "pk")
            .values_list("order_id", flat=True)
            .first()
        )
        if order_id is not None:
            return orders.get(pk=order_id)
    return None
