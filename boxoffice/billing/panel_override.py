"""The operator picks the panel for an order before its line exists (manual override of
routing): an unpaid order is pinned, so its line goes there when it is paid; a paid order that
waits in the review queue without a line (no panel could take it) gets its line reserved there
now. The line records "manual override by <operator>"."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.billing.models import Order
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.reservation import PANEL_OVERRIDE_ACTION, line_reserve_for_order

# Orders whose line is still to be decided: unpaid, or paid and waiting without a line.
_PINNABLE = (Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_PENDING, Order.Status.PAID)


def order_route_to_panel(*, order: Order, panel: Panel, actor: str) -> str:
    """Pin `order` to `panel`. Returns "pinned" (the line goes there when paid) or "reserved"
    (paid: the line is reserved there now and leaves the review queue). Raises ValueError with
    a sentence for the operator."""
    if order.kind != Order.Kind.NEW:
        raise ValueError(
            f"{order.reference} is a {order.get_kind_display().lower()}: it changes a line that "
            "has its panel already (move the line instead)"
        )
    if order.status not in _PINNABLE:
        raise ValueError(f"{order.reference} is {order.get_status_display().lower()}")
    if not panel.plan_mappings.filter(plan_id=order.plan_id).exists():
        raise ValueError(
            f"{panel.name} does not carry {order.plan.name}: map the plan onto it first"
        )
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        line = Line.objects.filter(order=locked).first()
        if line is not None:
            raise ValueError(
                f"{order.reference} has its line on {line.panel.name} already: move the line"
            )
        locked.panel_override = panel
        locked.save(update_fields=["panel_override", "updated_at"])
        audit_record(
            subject=locked, action=PANEL_OVERRIDE_ACTION, actor=actor, data={"panel": panel.name}
        )
        if locked.status != Order.Status.PAID:
            return "pinned"
        line_reserve_for_order(order=locked)
        if locked.needs_review:
            Order.objects.filter(pk=locked.pk).update(
                needs_review=False, review_reason="", updated_at=timezone.now()
            )
            audit_record(
                subject=locked,
                action="order.review_resolved",
                actor=actor,
                data={"reason": locked.review_reason, "by": "panel override"},
            )
    return "reserved"
