"""The operation engine: claim one due `PanelOperation` (a conditional UPDATE, one winner), run
it against the panel outside any transaction, and record what happened: success (through the
operation kind's handler, `provisioning/handlers.py`), a retry with backoff and jitter, or a stop
for the operator's review with one alert per incident.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.lib.backoff import backoff_delay
from boxoffice.lib.exists import rows_exist
from boxoffice.lib.http import http_deadline
from boxoffice.panels.adapters.base import (
    InsufficientCredits,
    PanelError,
    PanelLine,
    PermanentPanelError,
)
from boxoffice.panels.credits import panel_credits_refresh_soon
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import (
    incident_open,
    incident_resolve,
    panel_call_deadline_seconds,
    panel_call_slot,
    panel_record_failure,
    panel_record_success,
)
from boxoffice.panels.slots import PanelBusy
from boxoffice.provisioning.capabilities import operation_adapted_run
from boxoffice.provisioning.handlers import HANDLERS, panel_line_id_of
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import operation_enqueue

logger = logging.getLogger(__name__)
Op = PanelOperation
# The operations that spend a reseller's credits (a line bought, a renewal, a line re-bought
# on another panel).
_SALES = frozenset({Op.Kind.CREATE, Op.Kind.EXTEND, Op.Kind.MOVE})

# The bound of calls in flight to one panel (XUI rate-limits at ~20 req/s) is panels' own, shared
# with every other caller of a panel (the welcome sequence's activity checks) and every process;
# waiting for a slot spends the call's deadline (entered first).
_panel_slot = panel_call_slot


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
    return _operation_attempt(op)


def operation_run(*, operation: PanelOperation) -> str:
    """Run an operation the caller collected with `operations_run_inline`: one written claimed
    by the caller (`services._claimed_by_caller`) runs at once from the objects in memory (no
    claim, no reload); any other is claimed first, like a task's."""
    op = operation
    if op.status == Op.Status.RUNNING and op.attempts == 1 and op.lease_expires_at:
        # The lease counts from when the row was written. Should little of it be left (a slow
        # after-commit step before this), renew it, conditionally: if the scheduler has already
        # given the operation to another runner, this one does not run it too.
        lease = timedelta(seconds=settings.PROVISIONING["LEASE_SECONDS"])
        if op.lease_expires_at - timezone.now() < lease / 2:
            renewed = timezone.now() + lease
            if not PanelOperation.objects.filter(
                pk=op.pk, status=Op.Status.RUNNING, attempts=1, lease_expires_at=op.lease_expires_at
            ).update(lease_expires_at=renewed):
                op.lease_expires_at = None
                return "not_due"
            op.lease_expires_at = renewed
        try:
            return _operation_attempt(op)
        finally:
            op.lease_expires_at = None  # run once: the same object passed again is claimed first
    return operation_execute(operation_id=op.pk)


def _operation_attempt(op: PanelOperation) -> str:
    """One attempt of an operation this thread holds the claim of."""
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
        if op.kind == Op.Kind.CREATE and op.attempts == 1 and not op.line.panel_line_id:
            # No attempt was made after all: the expiry fixed for it (at reservation, when the
            # panel was up) is fixed again by the real first attempt, so waiting costs no days.
            Line.objects.filter(pk=op.line_id, panel_line_id="").update(expires_at=None)
        return "parked"
    try:
        with http_deadline(panel_call_deadline_seconds()), _panel_slot(panel):
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


def _run(op: PanelOperation, adapter) -> PanelLine | None:
    handler = HANDLERS.get(op.kind)
    if handler is None:
        raise PermanentPanelError(
            f"operation kind {op.kind!r} is not supported yet", code="unsupported"
        )
    if handler.acts_on_existing_line:
        # What the kind declares it cannot do is carried out the way it can (capabilities.py).
        adapted, result = operation_adapted_run(op, adapter, panel_line_id_of(op, op.line))
        if adapted:
            return result
    return handler.run(op, op.line, adapter)


def _operation_succeeded(op: PanelOperation, result: PanelLine | None) -> None:
    now = timezone.now()
    line = op.line
    handler = HANDLERS[op.kind]
    previous_status = line.status
    with transaction.atomic():
        PanelOperation.objects.filter(pk=op.pk).update(
            status=Op.Status.SUCCEEDED,
            finished_at=now,
            lease_expires_at=None,
            last_error="",
            last_error_code="",
        )
        fields = handler.record(op, line, result)
        for key, value in fields.items():
            setattr(line, key, value)
        if fields:
            line.save(update_fields=[*fields, "updated_at"])
        audit_record(
            subject=op,
            action="operation.succeeded",
            data={"kind": op.kind, "attempts": op.attempts},
        )
        # What the customer is owed is recorded with the change that owes it (rendering is CPU
        # only); SMTP is called after commit, and the outbox finishes it if that never happens.
        if handler.mail is not None:
            handler.mail(op, line, previous_status)
    panel_record_success(panel=op.panel)
    incidents_resolve_reviewed(panel=op.panel)
    if op.kind in _SALES:
        # A reseller panel's balance after the sale, read off this path (a task).
        panel_credits_refresh_soon(panel=op.panel)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt (PROVISIONING's backoff policy)."""
    return backoff_delay(attempts, settings.PROVISIONING)


def _operation_failed(op: PanelOperation, exc: PanelError) -> str:
    now = timezone.now()
    policy = settings.PROVISIONING
    error = str(exc)[:1000]
    logger.warning("operation %s (%s) attempt %s failed: %s", op.pk, op.kind, op.attempts, error)
    if exc.transient and not isinstance(exc, PanelBusy):  # busy: the slots, not the panel
        panel_record_failure(panel=op.panel, error=error)
    if isinstance(exc, InsufficientCredits):
        # The panel refused the sale for lack of credits: the operation waits in review (the
        # message says to top up, then retry) and the balance is read so routing skips the panel.
        panel_credits_refresh_soon(panel=op.panel)
    too_many = op.attempts >= policy["MAX_ATTEMPTS"]
    too_old = now - op.created_at > timedelta(seconds=policy["MAX_AGE_SECONDS"])
    if not exc.transient or too_many or too_old:
        operation_stop(
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


def operation_stop(op: PanelOperation, *, error: str, code: str) -> None:
    """Stop the operation for an operator: in the review queue, counted on one incident."""
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


def _operations_failing_open():
    return Incident.objects.filter(kind=Incident.Kind.OPERATIONS_FAILING, resolved_at__isnull=True)


def incidents_resolve_reviewed(*, panel: Panel) -> int:
    """An "operations need review" incident closes once none of its panel's operations is left
    in review (retried with success, or dealt with by the operator). Called after every
    success: the usual answer (no such incident open anywhere) is one precompiled EXISTS."""
    if not rows_exist(_operations_failing_open):
        return 0
    open_incidents = list(
        Incident.objects.filter(
            panel=panel, kind=Incident.Kind.OPERATIONS_FAILING, resolved_at__isnull=True
        )
    )
    if not open_incidents:
        return 0
    if PanelOperation.objects.filter(panel=panel, status=Op.Status.NEEDS_REVIEW).exists():
        return 0
    return sum(incident_resolve(incident=incident) for incident in open_incidents)
