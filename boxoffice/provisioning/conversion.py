"""Converting a trial line to a paid plan: the paid order of a conversion names the trial line
(`Order.target_line`); in the payment's transaction the same line gets a
`PanelOperation(end_trial)` that lifts the panel's trial flag and gives it the paid plan's
expiry and connections, keeping its username and password."""

from __future__ import annotations

from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import operation_create

Op = PanelOperation


class LineNotConvertible(Exception):
    """The order's line cannot be converted (not a trial, not the buyer's, not on a panel)."""


def line_convertible(line: Line | None, *, customer) -> str:
    """Why this line cannot be converted by this customer, or "" when it can."""
    if line is None:
        return "the line to convert is gone"
    if line.customer_id != customer.pk:
        return "the line belongs to another customer"
    if not line.is_trial:
        return "the line is not a trial"
    if not line.panel_line_id or line.status not in (Line.Status.ACTIVE, Line.Status.EXPIRED):
        return f"the trial line is {line.get_status_display().lower()}"
    return ""


def line_convert_trial_for_order(*, order) -> PanelOperation:
    """Queue the conversion of the order's trial line; runs in the caller's transaction (the
    one that marks the order paid). Idempotent: one operation per order."""
    existing = Op.objects.filter(order=order, kind=Op.Kind.END_TRIAL).first()
    if existing is not None:
        return existing
    line = Line.objects.select_for_update().filter(pk=order.target_line_id).first()
    problem = line_convertible(line, customer=order.customer)
    if problem or line is None:
        raise LineNotConvertible(problem or "the trial line is gone")
    if Op.objects.filter(
        line=line, kind=Op.Kind.END_TRIAL, status__in=[Op.Status.PENDING, Op.Status.RUNNING]
    ).exists():
        raise LineNotConvertible("the trial line is already being converted")
    plan = order.plan
    # The paid period starts now (the trial's remaining hours are not added).
    expires_at = (timezone.now() + plan.duration).replace(microsecond=0)
    audit_record(
        subject=line,
        action="line.trial_conversion_queued",
        data={"order": order.reference, "plan": plan.slug},
    )
    return operation_create(
        line=line,
        kind=Op.Kind.END_TRIAL,
        order=order,
        params={
            "expires_at": expires_at.isoformat(),
            "connections": plan.connections,
            "plan": plan.pk,
        },
    )
