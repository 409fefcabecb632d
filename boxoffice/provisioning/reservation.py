"""Reservation: everything about a paid order's line is decided before any panel call (panel,
username, password, what the plan maps to there), in the transaction that marks the order paid,
and its creation is queued as a `PanelOperation(create)` in that same transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from boxoffice.audit.models import AuditEvent
from boxoffice.audit.services import audit_record
from boxoffice.catalog.models import PlanPanel
from boxoffice.lib.exists import rows_exist_with
from boxoffice.panels.services import panel_lines_held_add, panel_route
from boxoffice.provisioning.creation import line_first_expiry
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import operation_create, operation_runs_inline
from boxoffice.provisioning.usernames import password_generate, username_allocate, username_generate

Op = PanelOperation
# Names lost to concurrent reservations before one reservation gives up (and its caller records it).
MAX_RESERVATION_CLASHES = 200


def _lines_of_order(order_id: int):
    return Line.objects.filter(order_id=order_id)


def line_reserve_for_order(*, order) -> Line:
    """Decide everything about the order's line now, before any panel call, and queue its
    creation. Runs inside the caller's transaction (the one that marks the order paid)."""
    # A second confirmation of the same order: one line per order, always. The usual answer
    # (none yet) is one precompiled EXISTS.
    if rows_exist_with(_lines_of_order, (order.pk,)):
        existing = Line.objects.filter(order=order).first()
        if existing:
            return existing
    plan = order.plan
    route = panel_route(
        plan=plan,
        country=order.country,
        override=order.panel_override,
        override_by=_override_actor(order) if order.panel_override_id else "",
        device=order.device,
    )
    panel = route.panel
    mapping = PlanPanel.objects.filter(plan=plan, panel=panel).first() or PlanPanel(plan=plan)
    mapping.panel = panel  # the routed object, not a second read of it
    # The kind's plan fields as the line keeps them, defaults filled in.
    plan_mapping = mapping.for_line()
    strategy = plan.username_strategy
    if order.preferred_username and strategy in ("customer", "hybrid"):
        requested = order.preferred_username
    else:
        requested = username_generate(email=order.customer.email)
    password = order.preferred_password or password_generate()
    params = {"duration_days": plan.duration_days}
    if plan.duration_hours:
        params["duration_hours"] = plan.duration_hours
    # Expiry counts from the first attempt: when that is now (the caller runs the creation right
    # after commit), it is fixed here instead of by a separate write before the call.
    expires_at = line_first_expiry(params, plan) if operation_runs_inline(panel) else None
    clashed: set[str] = set()
    while True:
        username, adjusted = username_allocate(
            panel_id=panel.pk, requested=requested, also_taken=clashed
        )
        try:
            # A savepoint: a concurrent reservation may commit the same name between our read
            # and this insert (the unique constraint tells us); that is a retry with the next
            # free name, never an error for the paid order.
            with transaction.atomic():
                line = Line.objects.create(
                    customer=order.customer,
                    plan=plan,
                    order=order,
                    panel=panel,
                    username=username,
                    requested_username=requested,
                    username_adjusted=adjusted,
                    password=password,
                    connections=plan.connections,
                    plan_mapping=plan_mapping,
                    is_trial=plan.is_trial,
                    device=order.device,
                    mac_address=order.mac_address,
                    routing_reason=route.reason,
                    expires_at=expires_at,
                )
        except IntegrityError:
            if len(clashed) >= MAX_RESERVATION_CLASHES:
                raise
            clashed.add(username)
            continue
        break
    audit_record(
        subject=line,
        action="line.reserved",
        data={
            "order": order.reference,
            "panel": panel.name,
            "username": username,
            "adjusted": adjusted,
            "routing": route.reason,
        },
    )
    panel_lines_held_add(panel_id=panel.pk, delta=1)
    operation_create(line=line, kind=Op.Kind.CREATE, order=order, params=params)
    return line


# The audit action the back office writes when an operator pins an order to a panel.
PANEL_OVERRIDE_ACTION = "order.panel_override"


def _override_actor(order) -> str:
    """Who pinned the order to its panel (the audit trail is the record of who did what)."""
    return (
        AuditEvent.objects.filter(
            subject_type=order._meta.label_lower,
            subject_id=str(order.pk),
            action=PANEL_OVERRIDE_ACTION,
        )
        .order_by("-pk")
        .values_list("actor", flat=True)
        .first()
        or ""
    )
