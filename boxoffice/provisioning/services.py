"""Lines and the operations that change them on panels.

The flow for one new line: `line_reserve_for_order` decides panel, username and password and writes
a `PanelOperation(create)` in the caller's transaction; a task runs `operation_execute`, which claims
the row, calls the panel adapter, and records success or schedules a retry. The worker's scheduler
(`provisioning.reconcile.operations_reconcile`) re-drives anything due or stuck and probes
panels that are down.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.catalog.models import PlanPanel
from boxoffice.lib.http import http_deadline
from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineNotFound,
    LineSpec,
    PanelError,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import (
    incident_open,
    incident_resolve,
    panel_choose,
    panel_record_failure,
    panel_record_success,
)
from boxoffice.provisioning.capabilities import operation_adapted_run
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.usernames import (
    next_suffix_name,
    password_generate,
    username_allocate,
    username_generate,
)

logger = logging.getLogger(__name__)
Op = PanelOperation
# Most suffixes tried in one attempt before giving up on a username (name1 … name20).
MAX_SUFFIX_TRIES = 20
# Names lost to concurrent reservations before one reservation gives up (and its caller records it).
MAX_RESERVATION_CLASHES = 200


# --- Reservation -----------------------------------------------------------------------------


def line_reserve_for_order(*, order) -> Line:
    """Decide everything about the order's line now, before any panel call, and queue its
    creation. Runs inside the caller's transaction (the one that marks the order paid)."""
    existing = Line.objects.filter(order=order).first()
    if existing:  # a second confirmation of the same order: one line per order, always
        return existing
    plan = order.plan
    panel = panel_choose(plan=plan, country=order.country, override=order.panel_override)
    mapping = PlanPanel.objects.filter(plan=plan, panel=panel).first()
    # The kind's plan fields as the line keeps them, defaults filled in.
    plan_mapping = (mapping or PlanPanel(plan=plan, panel=panel)).for_line()
    strategy = plan.username_strategy
    if order.preferred_username and strategy in ("customer", "hybrid"):
        requested = order.preferred_username
    else:
        requested = username_generate(email=order.customer.email)
    password = order.preferred_password or password_generate()
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
        },
    )
    operation_create(
        line=line, kind=Op.Kind.CREATE, order=order, params={"duration_days": plan.duration_days}
    )
    return line


# --- Operations: creation and enqueueing -----------------------------------------------------


def operation_create(
    *, line: Line, kind: str, params: dict | None = None, secret: str = "", order=None
) -> PanelOperation:
    op = PanelOperation.objects.create(
        line=line, panel=line.panel, order=order, kind=kind, params=params or {}, secret=secret
    )
    audit_record(subject=op, action="operation.queued", data={"kind": kind, "line": line.pk})
    operation_enqueue(operation=op)
    return op


def operation_enqueue(*, operation: PanelOperation, run_after: datetime | None = None) -> None:
    """Queue the task once the current transaction commits (the row must exist for the worker)."""
    from boxoffice.provisioning.tasks import run_panel_operation

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


def line_suspend(*, line: Line, reason: str = "") -> PanelOperation:
    return operation_create(line=line, kind=Op.Kind.SUSPEND, params={"reason": reason})


def line_resume(*, line: Line) -> PanelOperation:
    return operation_create(line=line, kind=Op.Kind.RESUME)


def line_delete(*, line: Line) -> PanelOperation:
    return operation_create(line=line, kind=Op.Kind.DELETE)


def line_move(*, line: Line, panel: Panel, actor: str = "operator") -> PanelOperation:
    """Reassign a line to another panel: the same credentials and expiry are created there,
    then the line is removed from the old panel. Calls go to the new panel first, so a dead old
    panel does not hold the customer hostage."""
    if panel.pk == line.panel_id:
        raise ValueError(f"{line.username} is already on {panel.name}")
    op = PanelOperation.objects.create(
        line=line,
        panel=panel,
        kind=Op.Kind.MOVE,
        params={"from_panel": line.panel_id, "from_panel_line_id": line.panel_line_id},
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


# --- Execution -------------------------------------------------------------------------------

_panel_slots: dict[int, threading.BoundedSemaphore] = {}
_panel_slots_lock = threading.Lock()


def _panel_slot(panel: Panel) -> threading.BoundedSemaphore:
    """Bound the calls in flight to one panel from this process (XUI rate-limits at ~20 req/s)."""
    with _panel_slots_lock:
        slot = _panel_slots.get(panel.pk)
        if slot is None:
            slot = _panel_slots[panel.pk] = threading.BoundedSemaphore(
                max(panel.max_concurrency, 1)
            )
        return slot


def operation_claim(*, operation_id: int) -> PanelOperation | None:
    """Take the operation if it is due (or its previous runner's lease ran out). One winner."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PROVISIONING["LEASE_SECONDS"])
    claimed = (
        PanelOperation.objects.filter(pk=operation_id)
        .filter(
            Q(status=Op.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=Op.Status.RUNNING, lease_expires_at__lt=now)
        )
        .update(
            status=Op.Status.RUNNING,
            lease_expires_at=lease,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
        )
    )
    if not claimed:
        return None
    return PanelOperation.objects.select_related("line", "line__order", "panel", "order").get(
        pk=operation_id
    )


def operation_execute(*, operation_id: int) -> str:
    """Run one attempt of an operation. Returns what happened, for logs and tests.

    Never call this inside a database transaction: the panel calls are network I/O, and each
    write here is its own short transaction (SQLite holds its one write lock for a whole one)."""
    op = operation_claim(operation_id=operation_id)
    if op is None:
        return "not_due"
    panel = op.panel
    if panel.is_down:
        # The circuit is open: do not hammer the panel. Park the operation (the attempt does
        # not count); the probe that sees the panel back drains the queue in order.
        PanelOperation.objects.filter(pk=op.pk, status=Op.Status.RUNNING).update(
            status=Op.Status.PENDING,
            attempts=F("attempts") - 1,
            lease_expires_at=None,
            next_attempt_at=panel.next_probe_at or timezone.now(),
        )
        return "parked"
    try:
        with _panel_slot(panel), http_deadline(operation_deadline_seconds()):
            result = _run(op, panel.adapter())
    except PanelError as exc:
        return _operation_failed(op, exc)
    except Exception as exc:
        # An adapter bug or an answer it could not parse (a ValueError from a malformed row):
        # a retry would meet the same answer, so stop for an operator instead of leaving the
        # operation `running` to be re-claimed every lease.
        return _operation_unexpected(
            op, exc, f"unexpected {type(exc).__name__} from the {panel.get_kind_display()} adapter"
        )
    try:
        _operation_succeeded(op, result)
    except Exception as exc:
        # The panel did it, but recording it failed (its transaction rolled back): the same.
        return _operation_unexpected(
            op, exc, f"the panel did it, but recording it failed: {type(exc).__name__}"
        )
    return "succeeded"


def _operation_unexpected(op: PanelOperation, exc: Exception, what: str) -> str:
    logger.exception("operation %s (%s): %s", op.pk, op.kind, what)
    return _operation_failed(op, PermanentPanelError(f"{what}: {exc}", code="unexpected_error"))


def operation_deadline_seconds() -> float:
    """Every panel call of one attempt ends within this: below the lease (with a margin for the
    database writes after it), so no second worker claims an operation that is still running."""
    policy = settings.PROVISIONING
    return max(min(policy["OPERATION_DEADLINE_SECONDS"], policy["LEASE_SECONDS"] * 0.75), 0.1)


def _run(op: PanelOperation, adapter) -> PanelLine | None:
    line = op.line
    if op.kind == Op.Kind.CREATE:
        return _run_create(op, line, adapter)
    if op.kind == Op.Kind.MOVE:
        # Create on the target exactly like a new line (adopting one a timed-out attempt made).
        on_target = copy.copy(line)
        on_target.panel_id, on_target.panel_line_id = op.panel_id, ""
        result = _run_create(op, on_target, adapter)
        line.username = on_target.username
        return result
    # A delete queued by a move names the old panel's line id; other operations act on the line.
    pid = op.params.get("panel_line_id") or line.panel_line_id
    if not pid:
        raise PermanentPanelError("the line was never created on the panel", code="no_panel_line")
    # What the kind declares it cannot do is carried out the way it can (capabilities.py).
    adapted, result = operation_adapted_run(op, adapter, pid)
    if adapted:
        return result
    if op.kind == Op.Kind.EXTEND:
        return adapter.extend(pid, datetime.fromisoformat(op.params["expires_at"]))
    if op.kind == Op.Kind.CHANGE_PASSWORD:
        return adapter.change_password(pid, op.secret)
    if op.kind == Op.Kind.SET_CONNECTIONS:
        return adapter.set_connections(pid, int(op.params["connections"]))
    if op.kind == Op.Kind.SUSPEND:
        return adapter.suspend(pid)
    if op.kind == Op.Kind.RESUME:
        return adapter.resume(pid)
    if op.kind == Op.Kind.DELETE:
        try:
            adapter.delete(pid)
        except LineNotFound:
            pass  # already gone (an earlier attempt acted, or an operator removed it): done
        return None
    raise PermanentPanelError(
        f"operation kind {op.kind!r} is not supported yet", code="unsupported"
    )


def _line_spec(op: PanelOperation, line: Line) -> LineSpec:
    duration = timedelta(days=int(op.params.get("duration_days") or line.plan.duration_days))
    # Expiry counts from when the line really starts, so waiting for a panel costs no paid days.
    expires_at = line.expires_at or (timezone.now() + duration).replace(microsecond=0)
    return LineSpec(
        username=line.username,
        password=line.password,
        max_connections=line.connections,
        expires_at=expires_at,
        mapping=dict(line.plan_mapping),
        notes=line.panel_notes,
        is_trial=line.is_trial,
        mac=line.mac_address,
    )


def _line_spec_with_expiry(op: PanelOperation, line: Line) -> LineSpec:
    """The spec to create, with the line's expiry fixed on its first attempt (a retry after a
    timeout then sends the same expiry the panel may already hold)."""
    spec = _line_spec(op, line)
    if line.expires_at is None:
        Line.objects.filter(pk=line.pk).update(expires_at=spec.expires_at)
        line.expires_at = spec.expires_at
    return spec


def _is_ours(found: PanelLine, line: Line) -> bool:
    return line.panel_notes in (found.notes or "")


def _run_create(op: PanelOperation, line: Line, adapter) -> PanelLine:
    """Create the line exactly once, whatever happened on earlier attempts.

    Panels can act and then time out, so before a retry we ask whether the line exists; a line
    carrying our order reference is adopted. A name taken by someone else moves us to the next
    suffix, persisted before the next call so a crash cannot lose track of the name in use.
    """
    if line.panel_line_id:
        return adapter.get_line(line.panel_line_id)
    if line.device == "mag":
        return _run_create_device(op, line, adapter)
    if op.attempts > 1:
        found = adapter.find_line(line.username)
        if found and _is_ours(found, line):
            return found
        if found:
            _line_take_next_name(line)
    for _ in range(MAX_SUFFIX_TRIES):
        spec = _line_spec_with_expiry(op, line)
        try:
            return adapter.create_line(spec)
        except UsernameTaken:
            found = adapter.find_line(line.username)
            if found and _is_ours(found, line):
                return found
            _line_take_next_name(line)
    raise PermanentPanelError(
        f"no free username after {MAX_SUFFIX_TRIES} tries starting from {line.requested_username!r}",
        code="username_exhausted",
    )


def _run_create_device(op: PanelOperation, line: Line, adapter) -> PanelLine:
    """A MAG/Formuler box: its MAC registered on the panel, exactly once. The MAC is unique on
    the panel, so after a timeout (or when the panel says STATUS_EXISTS_MAC) the device is looked
    up by MAC and adopted if its line carries our order reference; a MAC registered by someone
    else stops for an operator (it may be a typo at checkout, or a box sold on)."""
    if not line.mac_address:
        raise PermanentPanelError("a MAG/Formuler order without a MAC address", code="no_mac")
    if op.attempts > 1:
        found = adapter.find_device(line.mac_address)
        if found is not None:
            return _device_adopt(found, line)
    for _ in range(MAX_SUFFIX_TRIES):
        spec = _line_spec_with_expiry(op, line)
        try:
            return adapter.create_device(spec)
        except DeviceTaken:
            found = adapter.find_device(line.mac_address)
            if found is None:
                raise TransientPanelError(
                    f"the panel says MAC {line.mac_address} exists but it cannot be found",
                    code="mac_not_found",
                ) from None
            return _device_adopt(found, line)
        except UsernameTaken:
            _line_take_next_name(line)
    raise PermanentPanelError(
        f"no free username after {MAX_SUFFIX_TRIES} tries starting from {line.requested_username!r}",
        code="username_exhausted",
    )


def _device_adopt(found: PanelLine, line: Line) -> PanelLine:
    if _is_ours(found, line):
        if found.username != line.username:
            Line.objects.filter(pk=line.pk).update(username=found.username)
            line.username = found.username
        return found
    raise PermanentPanelError(
        f"MAC {line.mac_address} is already registered on the panel to another line "
        f"({found.username}); check the MAC with the customer or free it on the panel.",
        code="mac_taken",
    )


def _line_take_next_name(line: Line) -> None:
    base = line.requested_username or line.username
    candidate = next_suffix_name(base=base, current=line.username)
    while (
        Line.objects.filter(panel_id=line.panel_id, username=candidate).exclude(pk=line.pk).exists()
    ):
        candidate = next_suffix_name(base=base, current=candidate)
    while True:
        try:
            # A savepoint: another line may take the candidate between the check and the write.
            with transaction.atomic():
                Line.objects.filter(pk=line.pk).update(username=candidate, username_adjusted=True)
        except IntegrityError:
            candidate = next_suffix_name(base=base, current=candidate)
            continue
        break
    old = line.username
    line.username = candidate
    line.username_adjusted = True
    audit_record(subject=line, action="line.username_adjusted", data={"from": old, "to": candidate})


def _operation_succeeded(op: PanelOperation, result: PanelLine | None) -> None:
    now = timezone.now()
    line = op.line
    first_activation = False
    with transaction.atomic():
        PanelOperation.objects.filter(pk=op.pk).update(
            status=Op.Status.SUCCEEDED,
            finished_at=now,
            lease_expires_at=None,
            last_error="",
            last_error_code="",
        )
        fields: dict = {}
        if op.kind == Op.Kind.CREATE and result is not None:
            first_activation = line.status == Line.Status.RESERVED
            fields.update(
                panel_line_id=result.panel_line_id,
                status=Line.Status.ACTIVE,
                expires_at=result.expires_at,
                activated_at=line.activated_at or now,
            )
        elif op.kind == Op.Kind.EXTEND and result is not None:
            fields.update(
                expires_at=result.expires_at,
                status=Line.Status.ACTIVE if line.status == Line.Status.EXPIRED else line.status,
            )
        elif op.kind == Op.Kind.CHANGE_PASSWORD:
            fields.update(password=op.secret)
        elif op.kind == Op.Kind.SET_CONNECTIONS and result is not None:
            fields.update(connections=result.max_connections)
        elif op.kind == Op.Kind.SUSPEND:
            fields.update(status=Line.Status.SUSPENDED)
        elif op.kind == Op.Kind.RESUME:
            fields.update(status=Line.Status.ACTIVE)
        elif op.kind == Op.Kind.DELETE and not op.params.get("panel_line_id"):
            fields.update(status=Line.Status.CANCELLED)
        elif op.kind == Op.Kind.MOVE and result is not None:
            fields.update(
                panel_id=op.panel_id, panel_line_id=result.panel_line_id, username=line.username
            )
            old = Panel.objects.get(pk=op.params["from_panel"])
            if op.params.get("from_panel_line_id"):
                cleanup = PanelOperation.objects.create(
                    line=line,
                    panel=old,
                    kind=Op.Kind.DELETE,
                    params={"panel_line_id": op.params["from_panel_line_id"], "after_move": op.pk},
                )
                operation_enqueue(operation=cleanup)
        for key, value in fields.items():
            setattr(line, key, value)
        if fields:
            line.save(update_fields=[*fields, "updated_at"])
        audit_record(
            subject=op,
            action="operation.succeeded",
            data={"kind": op.kind, "attempts": op.attempts},
        )
        if op.kind == Op.Kind.CREATE:
            audit_record(
                subject=line, action="line.active", data={"panel_line_id": line.panel_line_id}
            )
        # What the customer is owed is recorded with the change that owes it (rendering is CPU
        # only); SMTP is called after commit, and the outbox finishes it if that never happens.
        _operation_customer_mail(op, line, first_activation=first_activation)
    panel_record_success(panel=op.panel)
    incidents_resolve_reviewed(panel=op.panel)


def _operation_customer_mail(op: PanelOperation, line: Line, *, first_activation: bool) -> None:
    from boxoffice.messaging import emails

    if first_activation:
        emails.credentials_email_send(line=line)
    elif op.kind == Op.Kind.MOVE:
        emails.line_moved_email_send(line=line, operation_id=op.pk)
    elif op.kind == Op.Kind.CHANGE_PASSWORD:
        emails.line_password_changed_email_send(line=line, operation_id=op.pk)
    elif op.kind == Op.Kind.SUSPEND:
        emails.line_suspended_email_send(
            line=line, operation_id=op.pk, reason=op.params.get("reason", "")
        )


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt: exponential, capped, with jitter against thundering herds."""
    policy = settings.PROVISIONING
    base = min(
        policy["RETRY_CAP_SECONDS"], policy["RETRY_BASE_SECONDS"] * (2 ** max(attempts - 1, 0))
    )
    jitter = policy["RETRY_JITTER"]
    return min(policy["RETRY_CAP_SECONDS"], base * random.uniform(1 - jitter, 1 + jitter))


def _operation_failed(op: PanelOperation, exc: PanelError) -> str:
    now = timezone.now()
    policy = settings.PROVISIONING
    error = str(exc)[:1000]
    logger.warning("operation %s (%s) attempt %s failed: %s", op.pk, op.kind, op.attempts, error)
    if exc.transient:
        panel_record_failure(panel=op.panel, error=error)
    too_many = op.attempts >= policy["MAX_ATTEMPTS"]
    too_old = now - op.created_at > timedelta(seconds=policy["MAX_AGE_SECONDS"])
    if not exc.transient or too_many or too_old:
        _operation_stop(
            op, error=error, code=exc.code or ("transient" if exc.transient else "permanent")
        )
        return "needs_review"
    next_at = now + timedelta(seconds=retry_delay(op.attempts))
    op.panel.refresh_from_db()
    if op.panel.is_down and op.panel.next_probe_at:
        next_at = max(next_at, op.panel.next_probe_at)
    PanelOperation.objects.filter(pk=op.pk, status=Op.Status.RUNNING).update(
        status=Op.Status.PENDING,
        next_attempt_at=next_at,
        lease_expires_at=None,
        last_error=error,
        last_error_code=exc.code,
    )
    if not op.panel.is_down:
        operation_enqueue(operation=op, run_after=next_at)
    return "retry"


def _operation_stop(op: PanelOperation, *, error: str, code: str) -> None:
    PanelOperation.objects.filter(pk=op.pk).update(
        status=Op.Status.NEEDS_REVIEW,
        lease_expires_at=None,
        finished_at=timezone.now(),
        last_error=error,
        last_error_code=code,
    )
    audit_record(subject=op, action="operation.needs_review", data={"error": error, "code": code})
    incident = incident_open(
        panel=op.panel,
        kind=Incident.Kind.OPERATIONS_FAILING,
        summary=f"{op.get_kind_display()} for line {op.line.username}: {error}",
    )
    Incident.objects.filter(pk=incident.pk).update(affected_operations=F("affected_operations") + 1)


def operations_run_now_for_event(*, event_pk: int) -> list[str]:
    """Run, in this thread, the creations that a payment event has just queued."""
    pks = PanelOperation.objects.filter(
        kind=Op.Kind.CREATE, status=Op.Status.PENDING, order__payments__source_event_id=event_pk
    ).values_list("pk", flat=True)
    return [operation_execute(operation_id=pk) for pk in list(pks)]


def incidents_resolve_reviewed(*, panel: Panel) -> int:
    """An "operations need review" incident closes once none of its panel's operations is left
    in review (retried with success, or dealt with by the operator)."""
    if PanelOperation.objects.filter(panel=panel, status=Op.Status.NEEDS_REVIEW).exists():
        return 0
    closed = 0
    for incident in Incident.objects.filter(
        panel=panel, kind=Incident.Kind.OPERATIONS_FAILING, resolved_at__isnull=True
    ):
        closed += incident_resolve(incident=incident)
    return closed
