"""A paid upgrade or add-on changes its line on the panel; a downgrade waits on the line.

- Upgrade (`Order.Kind.UPGRADE`, `target_line`, the new plan, figures frozen in `Order.quote`
  by billing/plan_changes.py): in the payment's transaction, one `PanelOperation(change_plan)`
  keyed `upgrade:order:<pk>`: the new plan's connections (plus the add-on extras it keeps) and
  its mapping (bouquets/outputs or package), the expiry unchanged, the same login. The line's
  plan, connections and mapping change when the panel has confirmed (handlers.py), then a mail.
- Add-on (`Order.Kind.ADDON`): one `set_connections` keyed `addon:order:<pk>`, connections =
  the line's + the extras now bought.
- The quote was priced for the remaining time until one expiry: if the line's expiry moved
  before the payment (a renewal or an operator's extension, also one still queued), or its plan
  or extras changed, the payment goes to the review queue (PlanChangeNotApplicable): a person
  asks for the difference or refunds. A payment that is only slow is honoured as quoted.
- Downgrade: `Line.next_plan`; the next renewal is of that plan and its extend changes the line
  (lifecycle.line_renew_for_order). Cancellable until that renewal is paid.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.catalog.models import Plan
from boxoffice.provisioning.lifecycle import OPEN_STATUSES
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import operation_create

Op = PanelOperation
# Open operations during which a line's plan, connections or expiry are on their way to change.
BUSY_KINDS = _BUSY = (
    Op.Kind.EXTEND,
    Op.Kind.CHANGE_PLAN,
    Op.Kind.SET_CONNECTIONS,
    Op.Kind.MOVE,
    Op.Kind.DELETE,
)


class PlanChangeNotApplicable(Exception):
    """A paid upgrade or add-on no longer fits its line; the message says why (for review)."""


def line_effective_expiry(line: Line) -> datetime | None:
    """The expiry the line will have once its queued extends are done."""
    expiry = line.expires_at
    for params in line.operations.filter(kind=Op.Kind.EXTEND, status__in=OPEN_STATUSES).values_list(
        "params", flat=True
    ):
        try:
            queued = datetime.fromisoformat(params["expires_at"])
        except (KeyError, TypeError, ValueError):
            continue
        expiry = queued if expiry is None else max(expiry, queued)
    return expiry


def line_plan_change_refusal(line: Line, *, operation: str, busy: bool | None = None) -> str:
    """Why this line cannot be upgraded or get add-ons now (a sentence for the customer), or
    "". `operation`: the adapter operation it takes ("change_plan", "set_connections");
    `busy`: known already (one read for a list of lines: BUSY_KINDS), else asked here."""
    if line.is_trial:
        return "a trial line is not upgraded: switch it to a paid plan instead"
    if line.status in (Line.Status.SUSPENDED, Line.Status.EXPIRED):
        return "the line is not running: renew it first"
    if line.status != Line.Status.ACTIVE or not line.panel_line_id:
        return f"the line is {line.get_status_display().lower()}"
    if line.expires_at is None:
        return "the line never expires, so there is no remaining time to price"
    if line.expires_at <= timezone.now():
        return "the line has expired: renew it first"
    kind = line.panel.kind_class
    if kind is None or not kind.capabilities.can(operation):
        return "its server cannot change plans from here; write to us and we will help"
    if busy is None:
        busy = line.operations.filter(kind__in=_BUSY, status__in=OPEN_STATUSES).exists()
    if busy:
        return "a change to this line is on its way; try again in a minute"
    return ""


def _locked_line_for(order, *, operation: str) -> Line:
    line = Line.objects.select_for_update().filter(pk=order.target_line_id).first()
    if line is None or line.customer_id != order.customer_id:
        raise PlanChangeNotApplicable("the line is gone or belongs to another customer")
    problem = line_plan_change_refusal(line, operation=operation)
    if problem:
        raise PlanChangeNotApplicable(problem)
    quote = order.quote or {}
    expiry = line_effective_expiry(line)
    if expiry is None or quote.get("expires_at") != expiry.isoformat():
        raise PlanChangeNotApplicable(
            f"priced for the time until {quote.get('expires_at')}, but the line now runs until "
            f"{expiry.isoformat() if expiry else 'never'}"
        )
    if quote.get("from_plan") != line.plan_id or quote.get("extra_from") != line.extra_connections:
        raise PlanChangeNotApplicable("the line's plan or extra connections changed since")
    return line


def line_change_plan_for_order(*, order) -> PanelOperation:
    """A paid upgrade: one `change_plan` operation per order, in the caller's transaction.
    Raises PlanChangeNotApplicable."""
    key = f"upgrade:order:{order.pk}"
    existing = Op.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    line = _locked_line_for(order, operation="change_plan")
    plan: Plan = order.plan
    mapping = plan.mapping_on(line.panel_id)
    if mapping is None:
        raise PlanChangeNotApplicable(f"{plan.name} is not sold on the line's server")
    extras = int(order.quote.get("extra_to", 0))
    op = operation_create(
        line=line,
        kind=Op.Kind.CHANGE_PLAN,
        order=order,
        params={
            "plan": plan.pk,
            "connections": plan.connections + extras,
            "extra_connections": extras,
            "mapping": mapping,
        },
        idempotency_key=key,
    )
    audit_record(
        subject=line,
        action="line.upgrade_queued",
        data={"order": order.reference, "from": line.plan_id, "to": plan.pk},
    )
    return op


def line_addon_for_order(*, order) -> PanelOperation:
    """A paid add-on: one `set_connections` operation per order (connections = the plan's +
    the extras), in the caller's transaction. Raises PlanChangeNotApplicable."""
    key = f"addon:order:{order.pk}"
    existing = Op.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    line = _locked_line_for(order, operation="set_connections")
    extras = int(order.quote.get("extra_to", 0))
    # On top of what the line has (an operator may have given it more than its plan's).
    added = extras - int(order.quote.get("extra_from", 0))
    op = operation_create(
        line=line,
        kind=Op.Kind.SET_CONNECTIONS,
        order=order,
        params={"connections": line.connections + added, "extra_connections": extras},
        idempotency_key=key,
    )
    audit_record(
        subject=line,
        action="line.addon_queued",
        data={"order": order.reference, "extra_connections": extras},
    )
    return op


def line_downgrade_schedule(*, line: Line, plan: Plan, actor: str = "customer") -> None:
    """From the next renewal on, the line is of `plan` (the renewal's price and period are its,
    and its extend changes the line on the panel)."""
    if plan.pk == line.plan_id:
        raise ValueError("the line is already on this plan")
    Line.objects.filter(pk=line.pk).update(next_plan=plan, updated_at=timezone.now())
    line.next_plan = plan
    audit_record(
        subject=line,
        action="line.downgrade_scheduled",
        actor=actor,
        data={"from": line.plan_id, "to": plan.pk},
    )


def line_downgrade_cancel(*, line: Line, actor: str = "customer") -> bool:
    if line.next_plan_id is None:
        return False
    previous = line.next_plan_id
    done = Line.objects.filter(pk=line.pk, next_plan_id=previous).update(
        next_plan=None, updated_at=timezone.now()
    )
    line.next_plan = None
    if done:
        audit_record(
            subject=line, action="line.downgrade_cancelled", actor=actor, data={"to": previous}
        )
    return bool(done)
