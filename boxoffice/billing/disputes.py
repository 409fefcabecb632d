"""The end of a card dispute (`charge.dispute.closed`), after `charge.dispute.created` has
taken the money (ledger row DISPUTED, −amount), marked the order disputed and suspended its
line (reason "payment disputed").

- **lost**: the money stays taken. The order stays disputed, the line stays suspended; the
  ledger gets a zero row (DISPUTED, note "dispute lost") so the outcome is on record.
- **won**: the funds are reinstated. The ledger gets a +amount row (DISPUTED, note "dispute
  won"), the order is paid again (so it can be refunded later like any payment), and the line
  is resumed by itself only when nothing else has happened to it: it is still suspended for
  the dispute ("payment disputed") and not past its expiry. Anything else (an operator's or a
  non-payment suspension, an expired line) is left as it is and the order goes to the review
  queue, where the operator decides whether to resume it.

Both run in the event's transaction; each checks the ledger first (the event may come twice).
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.gateways import base as gw
from boxoffice.billing.gateways.base import PaymentUpdate
from boxoffice.billing.models import Order, Payment
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.services import line_resume

DISPUTE_REASON = "payment disputed"  # what charge.dispute.created suspends with


def order_lines(order: Order):
    """The lines an order's money pays for: the ones it created and, for a renewal, the line
    it renewed (a renewal order's money taken back takes the renewed period back)."""
    where = Q(order=order)
    if order.target_line_id:
        where |= Q(pk=order.target_line_id)
    return Line.objects.filter(where)


def dispute_closed_apply(*, locked: Order, update: PaymentUpdate, source_event, record) -> str:
    """`locked`: the order, locked in the caller's transaction; `record`: payment_record."""
    won = update.status == gw.DISPUTE_WON
    note = "dispute won" if won else "dispute lost"
    if Payment.objects.filter(order=locked, status=Payment.Status.DISPUTED, note=note).exists():
        return "ignored"
    disputed = (
        Payment.objects.filter(order=locked, status=Payment.Status.DISPUTED, amount__lt=0)
        .order_by("-pk")
        .first()
    )
    if disputed is None:
        return "ignored"  # closed before we heard it was opened: created comes first, retried
    amount = -disputed.amount if won else Decimal("0")
    record(
        order=locked,
        status=Payment.Status.DISPUTED,
        amount=amount,
        gateway_payment_id=update.gateway_payment_id,
        source_event=source_event,
        note=note,
    )
    if not won:
        audit_record(subject=locked, action="order.dispute_lost")
        return "dispute_lost"
    if locked.status == Order.Status.DISPUTED:  # not if refunded meanwhile
        locked.status = Order.Status.PAID
        locked.save(update_fields=["status", "updated_at"])
    audit_record(subject=locked, action="order.dispute_won")
    left = []
    for line in order_lines(locked):
        if (
            line.status == Line.Status.SUSPENDED
            and line.suspension_reason == DISPUTE_REASON
            and (line.expires_at is None or line.expires_at > timezone.now())
        ):
            line_resume(line=line, idempotency_key=f"dispute-won:{locked.pk}:{line.pk}")
            audit_record(subject=line, action="line.resumed_dispute_won")
        elif line.status == Line.Status.SUSPENDED:
            left.append(line)
    if left:
        from boxoffice.billing.services import order_flag_for_review  # noqa: PLC0415

        order_flag_for_review(
            order=locked,
            reason=(
                "dispute won; the line is suspended for another reason "
                f"({', '.join(ln.suspension_reason or 'by an operator' for ln in left)}): "
                "resume it from the line's page if that is right"
            ),
            action="order.dispute_won_review",
        )
    return "dispute_won"
