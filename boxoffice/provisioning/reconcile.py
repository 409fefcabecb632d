"""The worker scheduler's work on lines and operations: re-drive what is due or stuck, stop what
waited too long, probe panels and drain their queues, keep incidents true, mark expired lines,
send delay notices, and the workers' own heartbeats. Each function is one pass; the runtime loop
(runtime/worker.py) calls them."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.lib.exists import rows_exist, rows_exist_at
from boxoffice.lib.http import http_deadline
from boxoffice.lib.tasks import tasks_waiting_for
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import (
    incident_resolve,
    panel_call_deadline_seconds,
    panel_probe,
    panel_probe_claim,
    panel_record_failure,
    panels_lines_held_recount,
)
from boxoffice.provisioning.emails import provisioning_delayed_email_send
from boxoffice.provisioning.engine import operation_stop
from boxoffice.provisioning.models import (
    OPEN_STATUSES,
    Line,
    PanelOperation,
    ReassignmentJob,
    WorkerHeartbeat,
)
from boxoffice.provisioning.reassignment import reassignment_jobs_redrive
from boxoffice.provisioning.tasks import probe_panel, run_panel_operation

Op = PanelOperation

logger = logging.getLogger(__name__)


# --- The scheduler's work --------------------------------------------------------------------

# A due operation is re-driven by the scheduler only after this grace, so it does not race the
# task that the retry already queued.
REDRIVE_GRACE_SECONDS = 5.0
# The panels' occupied counters are recounted from the lines this often (repairs drift from
# lines written outside the services that keep them, e.g. by hand in a database shell).
PANEL_RECOUNT_SECONDS = 3600.0


def _open_operations():
    # Open, except those in review whose delay notice went out (nothing left to do for them).
    return PanelOperation.objects.filter(status__literal_in=OPEN_STATUSES).exclude(
        status=Op.Status.NEEDS_REVIEW, delay_notified_at__isnull=False
    )


def _open_incidents():
    return Incident.objects.filter(resolved_at__isnull=True)


def _running_reassignments():
    return ReassignmentJob.objects.filter(status=ReassignmentJob.Status.RUNNING)


def _panels_due(now, check_every: timedelta):
    """Enabled panels whose probe is due: down ones at their next probe, the others at their
    regular health check."""
    return Panel.objects.filter(enabled=True).filter(
        Q(health=Panel.Health.DOWN, next_probe_at__isnull=True)
        | Q(health=Panel.Health.DOWN, next_probe_at__lte=now)
        | (
            ~Q(health=Panel.Health.DOWN)
            & (Q(last_probe_at__isnull=True) | Q(last_probe_at__lte=now - check_every))
        )
    )


def _lines_past_expiry(now):
    return Line.objects.filter(status=Line.Status.ACTIVE, expires_at__lt=now)


def operations_reconcile() -> dict[str, int]:
    """Re-drive what is due or stuck, stop what waited too long, probe panels that are down.
    The looks at operations, incidents and reassignments run only when one is open (a cheap
    EXISTS, `lib/exists.py`): an idle pass costs a few round trips, not a dozen queries."""
    now = timezone.now()
    counts = {"probed": 0, "redriven": 0, "expired": 0}
    # Probes are network calls to panels that may hang or drip: they run as tasks on the worker
    # threads (each claimed here first, so one probe per panel per interval), never on this
    # scheduler thread and never inside a transaction. A probe that sees a down panel answer
    # again drains its queue (panel_probe_and_drain).
    # Panels that are up (or never seen) get a regular health check too, so the back office shows
    # the truth and a dead panel is noticed before an order needs it.
    check_every = timedelta(seconds=settings.PROVISIONING["HEALTH_CHECK_SECONDS"])
    if rows_exist_at(_panels_due, now, check_every):
        for panel_id in _panels_due(now, check_every).values_list("pk", flat=True):
            if panel_probe_claim(panel_id=panel_id):
                counts["probed"] += 1
                transaction.on_commit(lambda panel_id=panel_id: _enqueue_probe(panel_id))
    counts["incidents_closed"] = incidents_reconcile() if rows_exist(_open_incidents) else 0
    counts["expired_lines"] = lines_mark_expired()
    counts["reassignments"] = (
        reassignment_jobs_redrive() if rows_exist(_running_reassignments) else 0
    )
    counts["lines_recounted"] = lines_held_recount_when_due()
    if not rows_exist(_open_operations):
        counts["delay_notices"] = 0
        return counts
    max_age = timedelta(seconds=settings.PROVISIONING["MAX_AGE_SECONDS"])
    # Pending too long, or re-claimed lease after lease without ever recording an outcome (a
    # worker that dies mid-call every time): both stop for an operator.
    for op in (
        PanelOperation.objects.filter(status__literal_in=OPEN_STATUSES)
        .filter(
            Q(status=Op.Status.PENDING, created_at__lt=now - max_age)
            | Q(
                status=Op.Status.RUNNING,
                lease_expires_at__lt=now,
                attempts__gte=settings.PROVISIONING["MAX_ATTEMPTS"],
            )
        )
        .select_related("panel", "line")
    ):
        counts["expired"] += 1
        operation_stop(
            op, error=op.last_error or "waited longer than the time limit", code="too_old"
        )
    counts["delay_notices"] = orders_notify_delays()
    grace = now - timedelta(seconds=REDRIVE_GRACE_SECONDS)
    stuck = (
        PanelOperation.objects.filter(status__literal_in=OPEN_STATUSES)
        .filter(
            Q(
                status=Op.Status.PENDING,
                next_attempt_at__lte=grace,
                panel__health__in=["up", "unknown"],
            )
            | Q(status=Op.Status.RUNNING, lease_expires_at__lt=now)
        )
        .values_list("pk", flat=True)[:500]
    )
    stuck = list(stuck)
    # Only what has no task queued or running already: a worker behind on a burst must not
    # find its queue filled with copies (each would claim nothing and cost a pickup).
    waiting = tasks_waiting_for(run_panel_operation, stuck)
    for pk in stuck:
        if pk in waiting:
            continue
        counts["redriven"] += 1
        transaction.on_commit(lambda pk=pk: _enqueue_id(pk))
    return counts


_recount_due = 0.0


def lines_held_recount_when_due() -> int:
    """Repair the panels' occupied counters from the lines (a scan, so once per
    PANEL_RECOUNT_SECONDS per process, never per order). Returns the panels corrected."""
    global _recount_due
    if time.monotonic() < _recount_due:
        return 0
    _recount_due = time.monotonic() + PANEL_RECOUNT_SECONDS
    return panels_lines_held_recount()


def lines_mark_expired() -> int:
    """Active lines past their expiry are expired here too (the panel stops them by itself)."""
    now = timezone.now()
    marked = 0
    if not rows_exist_at(_lines_past_expiry, now):  # the usual answer, one precompiled EXISTS
        return 0
    for line in _lines_past_expiry(now).order_by("expires_at")[:500]:
        if Line.objects.filter(pk=line.pk, status=Line.Status.ACTIVE).update(
            status=Line.Status.EXPIRED
        ):
            audit_record(
                subject=line,
                action="line.expired",
                data={"expires_at": line.expires_at.isoformat()},
            )
            marked += 1
    return marked


def orders_notify_delays() -> int:
    """Customers whose line is late get one message saying it is on its way."""
    cutoff = timezone.now() - timedelta(seconds=settings.PROVISIONING["DELAY_NOTICE_SECONDS"])
    late = PanelOperation.objects.filter(
        kind=Op.Kind.CREATE,
        status__literal_in=OPEN_STATUSES,
        delay_notified_at__isnull=True,
        order__isnull=False,
        order__paid_at__lt=cutoff,
    ).values_list("pk", flat=True)[:200]
    sent = 0
    for pk in late:
        # The mark and the message row commit together: the notice is owed once it is marked.
        with transaction.atomic():
            if PanelOperation.objects.filter(pk=pk, delay_notified_at__isnull=True).update(
                delay_notified_at=timezone.now()
            ):
                op = PanelOperation.objects.select_related("order__customer", "order__plan").get(
                    pk=pk
                )
                provisioning_delayed_email_send(order=op.order)
                sent += 1
    return sent


def _enqueue_probe(panel_id: int) -> None:
    probe_panel.enqueue(panel_id)


def panel_probe_and_drain(*, panel_id: int) -> str:
    """One health probe (a task, off the scheduler thread); a panel back up releases its queue.
    No transaction around it: the probe is network I/O."""
    panel = Panel.objects.filter(pk=panel_id).first()
    if panel is None:
        return "gone"
    was_down = panel.is_down
    try:
        with http_deadline(panel_call_deadline_seconds()):
            ok = panel_probe(panel=panel)
    except Exception as exc:  # an adapter bug must not kill probing: count it as a failed probe
        logger.exception("probe of panel %s failed unexpectedly", panel.name)
        panel_record_failure(panel=panel, error=f"probe failed: {type(exc).__name__}: {exc}")
        return "error"
    # A panel that was down and answers now has had its queue released (`panel_back_up`).
    if ok and was_down:
        return "up, its queue released"
    return "up" if ok else "down"


def operations_in_incident(*, incident: Incident):
    """The operations an incident touched: on its panel, existing while it lasted and not
    finished before it began. During an outage these are the ones waiting (pending)."""
    end = incident.recovered_at or incident.resolved_at or timezone.now()
    return PanelOperation.objects.filter(panel_id=incident.panel_id, created_at__lte=end).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=incident.opened_at)
    )


def _incident_affected_count(incident: Incident) -> int:
    """`operations_in_incident(...).count()` as two ranges of the (panel, finished_at) index,
    unfinished and finished since it began (an OR of the two reads every operation the panel
    ever had, each pass while it is down)."""
    end = incident.recovered_at or incident.resolved_at or timezone.now()
    ops = PanelOperation.objects.filter(panel_id=incident.panel_id, created_at__lte=end)
    return (
        ops.filter(finished_at__isnull=True).count()
        + ops.filter(finished_at__gte=incident.opened_at).count()
    )


def incidents_reconcile() -> int:
    """Close panel-down incidents whose panel stayed up for the hold-down (one "back up" alert)
    and review incidents with nothing left in review; keep the affected count current."""
    now = timezone.now()
    hold_down = timedelta(seconds=settings.PROVISIONING["INCIDENT_HOLD_DOWN_SECONDS"])
    closed = 0
    for incident in Incident.objects.filter(resolved_at__isnull=True).select_related("panel"):
        if incident.kind == Incident.Kind.OPERATIONS_FAILING:
            if not PanelOperation.objects.filter(
                panel_id=incident.panel_id, status=Op.Status.NEEDS_REVIEW
            ).exists():
                closed += incident_resolve(incident=incident)
            continue
        affected = _incident_affected_count(incident)
        recovered = incident.recovered_at
        if recovered and recovered <= now - hold_down and not incident.panel.is_down:
            closed += incident_resolve(incident=incident, affected_operations=affected)
        elif affected != incident.affected_operations:
            Incident.objects.filter(pk=incident.pk).update(affected_operations=affected)
    return closed


def _enqueue_id(pk: int) -> None:
    run_panel_operation.enqueue(pk)


def operations_drain(*, panel: Panel, **_signal) -> int:
    """The panel is back: release its waiting operations, oldest first. Connected to
    `panels.signals.panel_back_up` (`ProvisioningConfig.ready`)."""
    now = timezone.now()
    waiting = list(
        PanelOperation.objects.filter(panel=panel, status=Op.Status.PENDING)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )
    PanelOperation.objects.filter(pk__in=waiting).update(next_attempt_at=now)
    queued = tasks_waiting_for(run_panel_operation, waiting)
    for pk in waiting:
        if pk not in queued:
            transaction.on_commit(lambda pk=pk: _enqueue_id(pk))
    return len(waiting)


# --- Worker heartbeats -----------------------------------------------------------------------


def worker_heartbeat_beat(
    *, worker_id: str, host: str, pid: int, threads_alive: int, threads_total: int
) -> WorkerHeartbeat:
    """The scheduler's "still here": one row per worker process, refreshed every few seconds."""
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "host": host,
            "pid": pid,
            "threads_alive": threads_alive,
            "threads_total": threads_total,
            "last_beat_at": timezone.now(),
            "stopped_at": None,
        },
    )
    return beat


def worker_heartbeat_stop(*, worker_id: str) -> None:
    """A clean shutdown says so, so the back office does not report the worker as lost."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())


def worker_heartbeats_purge() -> int:
    """Rows of workers gone for a week are history, not news."""
    cutoff = timezone.now() - timedelta(days=7)
    return WorkerHeartbeat.objects.filter(last_beat_at__lt=cutoff).delete()[0]
