"""Lines and the operations that change them on panels: what callers ask for.

Every change to a line on its panel is a `PanelOperation` row, written in the caller's
transaction and run by the engine (`provisioning/engine.py`) in a task after commit; the line's
own fields change only when the panel has done it. Reservation of a new line is in
`provisioning/reservation.py`, what each operation kind does in `provisioning/handlers.py`, the
scheduler's passes in `provisioning/reconcile.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.tasks import run_panel_operation
from boxoffice.provisioning.usernames import password_generate

Op = PanelOperation


def operation_create(
    *,
    line: Line,
    kind: str,
    params: dict | None = None,
    secret: str = "",
    order=None,
    idempotency_key: str | None = None,
) -> PanelOperation:
    extra = {"idempotency_key": idempotency_key} if idempotency_key else {}
    extra.update(_claimed_by_caller(line.panel))
    op = PanelOperation.objects.create(
        line=line,
        panel=line.panel,
        order=order,
        kind=kind,
        params=params or {},
        secret=secret,
        **extra,
    )
    audit_record(subject=op, action="operation.queued", data={"kind": kind, "line": line.pk})
    operation_enqueue(operation=op)
    return op


def operation_runs_inline(panel: Panel) -> bool:
    """Whether an operation queued now for `panel` is run by the caller right after commit
    (inside `operations_run_inline`, the panel not down): its first attempt starts now."""
    return _run_inline.get() is not None and not panel.is_down


def _claimed_by_caller(panel: Panel) -> dict:
    """Inside `operations_run_inline`, an operation for a panel that is not down is written
    already claimed by the caller (running, leased, its first attempt counted): the caller runs
    it right after commit, so a separate claim (an UPDATE and a reload) would only cost a write
    transaction. Should the caller die first, the lease runs out and the scheduler re-drives it
    as a second attempt (which first looks for what the first one may have made)."""
    if not operation_runs_inline(panel):
        return {}
    now = timezone.now()
    return {
        "status": Op.Status.RUNNING,
        "attempts": 1,
        "started_at": now,
        "lease_expires_at": now + timedelta(seconds=settings.PROVISIONING["LEASE_SECONDS"]),
    }


# Set by `operations_run_inline`: the operations queued inside it, for the caller to run.
_run_inline: ContextVar[list[PanelOperation] | None] = ContextVar(
    "operations_run_inline", default=None
)


@contextmanager
def operations_run_inline() -> Iterator[list[PanelOperation]]:
    """Operations queued (and committed) inside this block get no task of their own: they are
    collected in the list yielded, and the caller runs them itself after the block
    (`engine.operation_run`; the webhook task carries a paid order on to its line). One
    execution per operation instead of two racing for the claim; those for a panel that is up
    are written claimed by the caller (`_claimed_by_caller`). If the caller dies first, the row
    is still due (or its lease runs out) and the scheduler's re-drive queues it."""
    token = _run_inline.set([])
    try:
        yield _run_inline.get()  # type: ignore[misc]
    finally:
        _run_inline.reset(token)


def operation_enqueue(*, operation: PanelOperation, run_after: datetime | None = None) -> None:
    """Queue the task once the current transaction commits (the row must exist for the worker)."""
    inline = _run_inline.get()
    if inline is not None and (run_after is None or run_after <= timezone.now()):
        transaction.on_commit(lambda: inline.append(operation))
        return

    def enqueue() -> None:
        task = run_panel_operation
        if run_after is not None and run_after > timezone.now():
            task = task.using(run_after=run_after)
        task.enqueue(operation.pk)

    transaction.on_commit(enqueue)


def line_extend(*, line: Line, expires_at: datetime, order=None) -> PanelOperation:
    return operation_create(
        line=line, kind=Op.Kind.EXTEND, order=order, params={"expires_at": expires_at.isoformat()}
    )


def line_change_password(*, line: Line, password: str) -> PanelOperation:
    return operation_create(line=line, kind=Op.Kind.CHANGE_PASSWORD, secret=password)


def line_set_connections(*, line: Line, connections: int, order=None) -> PanelOperation:
    return operation_create(
        line=line, kind=Op.Kind.SET_CONNECTIONS, order=order, params={"connections": connections}
    )


def line_suspend(
    *, line: Line, reason: str = "", idempotency_key: str | None = None
) -> PanelOperation:
    return operation_create(
        line=line,
        kind=Op.Kind.SUSPEND,
        params={"reason": reason},
        idempotency_key=idempotency_key,
    )


def line_resume(*, line: Line, idempotency_key: str | None = None) -> PanelOperation:
    return operation_create(line=line, kind=Op.Kind.RESUME, idempotency_key=idempotency_key)


def line_delete(
    *, line: Line, reason: str = "", idempotency_key: str | None = None
) -> PanelOperation:
    params = {"reason": reason} if reason else {}
    return operation_create(
        line=line, kind=Op.Kind.DELETE, params=params, idempotency_key=idempotency_key
    )


def line_move(
    *,
    line: Line,
    panel: Panel,
    actor: str = "operator",
    reason: str = "",
    idempotency_key: str | None = None,
) -> PanelOperation:
    """Reassign a line to another panel: the same credentials and expiry are created there (the
    same username where it is free there), read back, then the line is removed from the old
    panel and the customer mailed the new details. Calls go to the new panel first, so a dead
    old panel does not hold the customer hostage. `reason` is recorded on the line."""
    if panel.pk == line.panel_id:
        raise ValueError(f"{line.username} is already on {panel.name}")
    extra = {"idempotency_key": idempotency_key} if idempotency_key else {}
    op = PanelOperation.objects.create(
        line=line,
        panel=panel,
        kind=Op.Kind.MOVE,
        params={
            "from_panel": line.panel_id,
            "from_panel_line_id": line.panel_line_id,
            "reason": (reason or f"moved from {line.panel.name} by {actor}")[:300],
        },
        **extra,
    )
    audit_record(
        subject=op, action="operation.queued", actor=actor, data={"kind": "move", "to": panel.name}
    )
    operation_enqueue(operation=op)
    return op


# What an operator may ask for on a line's back-office page, and the line states it needs.
OPERATOR_ACTIONS = {
    "extend_period": "Extend by one plan period",
    "extend_to": "Extend to a date",
    "suspend": "Suspend",
    "resume": "Resume",
    "set_connections": "Change connections",
    "reset_password": "Reset password",
    "move": "Move to another panel",
    "terminate": "Terminate",
}
# What an operator may ask for on a line's back-office page, and the line states it needs.
OPERATOR_ACTIONS = {
    "extend_period": "Extend by one plan period",
    "extend_to": "Extend to a date",
    "suspend": "Suspend",
    "resume": "Resume",
    "set_connections": "Change connections",
    "reset_password": "Reset password",
    "move": "Move to another panel",
    "terminate": "Terminate",
}
_ACTION_NEEDS_STATUS = {
    "extend_period": (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED),
    "extend_to": (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED),
    "suspend": (Line.Status.ACTIVE, Line.Status.EXPIRED),
    "resume": (Line.Status.SUSPENDED,),
    "set_connections": (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED),
    "reset_password": (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED),
    "move": (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED),
    "terminate": (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED),
}


def line_operator_request(
    *,
    line: Line,
    action: str,
    actor: str,
    expires_at: datetime | None = None,
    connections: int | None = None,
    panel: Panel | None = None,
) -> PanelOperation:
    """A back-office edit of a line, queued as a panel operation: the line's own fields change
    only when the panel has done it, so what we show never runs ahead of the panel.
    Raises ValueError with a sentence for the operator when the request cannot be honoured."""
    if action not in OPERATOR_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if line.status not in _ACTION_NEEDS_STATUS[action] or not line.panel_line_id:
        raise ValueError(
            f"{OPERATOR_ACTIONS[action]} is not possible while the line is "
            f"{line.get_status_display().lower()}"
        )
    if action == "extend_period":
        start = max(line.expires_at or timezone.now(), timezone.now())
        op = line_extend(
            line=line,
            expires_at=(start + timedelta(days=line.plan.duration_days)).replace(microsecond=0),
        )
    elif action == "extend_to":
        if expires_at is None or expires_at <= timezone.now():
            raise ValueError("choose a new expiry in the future")
        op = line_extend(line=line, expires_at=expires_at)
    elif action == "suspend":
        # The reason reaches the customer's mail; who pressed the button is in the audit trail.
        op = line_suspend(line=line, reason="")
    elif action == "resume":
        op = line_resume(line=line)
    elif action == "set_connections":
        if not connections or connections < 1:
            raise ValueError("connections must be at least 1")
        op = line_set_connections(line=line, connections=connections)
    elif action == "reset_password":
        op = line_change_password(line=line, password=password_generate())
    elif action == "move":
        if panel is None:
            raise ValueError("choose the target panel")
        op = line_move(line=line, panel=panel, actor=actor)
    else:
        op = line_delete(line=line)
    audit_record(
        subject=line,
        action="line.operator_request",
        actor=actor,
        data={"action": action, "operation": op.pk},
    )
    return op


def operation_retry_now(*, operation: PanelOperation, actor: str = "operator") -> bool:
    """An operator sends a stopped (needs_review) or waiting operation back to the queue."""
    updated = PanelOperation.objects.filter(
        pk=operation.pk, status__in=[Op.Status.NEEDS_REVIEW, Op.Status.PENDING]
    ).update(
        status=Op.Status.PENDING,
        next_attempt_at=timezone.now(),
        attempts=0,
        created_at=timezone.now(),
    )
    if updated:
        audit_record(subject=operation, action="operation.retried", actor=actor)
        operation_enqueue(operation=operation)
    return bool(updated)
