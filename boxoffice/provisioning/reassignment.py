"""Bulk reassignment: every line off one panel (a panel retired), as a durable job.

A step (a task, re-driven by the scheduler, or `boxoffice reassign-lines --wait`) takes the job
with a lease (one stepper at a time), tops its moves up to `max_in_flight`, and writes each
line's `PanelOperation(move)` (keyed `reassign:<job>:<line>`) with the job's cursor in one
transaction: a crash between any two writes resumes at the cursor, and a key already written is
never written twice. The moves run through the engine like any operation (per-panel
concurrency, retries, review), so the job only bounds how many are queued at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.models import Panel
from boxoffice.panels.services import CannotSellNow, panel_route
from boxoffice.provisioning.models import Line, PanelOperation, ReassignmentJob
from boxoffice.provisioning.services import line_move
from boxoffice.provisioning.tasks import run_reassignment_step

logger = logging.getLogger(__name__)
Op = PanelOperation
Job = ReassignmentJob

# Lines a job moves: those the panel holds for a customer (a reserved line is still being
# created there; it is left, counted in the job's closing note, for a second run).
MOVABLE = (Line.Status.ACTIVE, Line.Status.SUSPENDED, Line.Status.EXPIRED)
STEP_INTERVAL_SECONDS = 2.0
STEP_LEASE_SECONDS = 60.0
_IN_FLIGHT = (Op.Status.PENDING, Op.Status.RUNNING)
_FAILED = (Op.Status.NEEDS_REVIEW, Op.Status.CANCELLED)


def reassignment_job_create(
    *,
    from_panel: Panel,
    to_panel: Panel | None = None,
    actor: str = "operator",
    max_in_flight: int = 20,
    stop_selling: bool = True,
) -> ReassignmentJob:
    """Start moving every line off `from_panel` (to `to_panel`, or where routing sends each
    line). `stop_selling` disables the panel first, so routing sells nothing new there.
    Raises ValueError with a sentence for the operator."""
    if to_panel is not None and to_panel.pk == from_panel.pk:
        raise ValueError("the target panel is the panel being emptied")
    if max_in_flight < 1:
        raise ValueError("at least one move must be allowed in flight")
    running = Job.objects.filter(from_panel=from_panel, status=Job.Status.RUNNING).first()
    if running is not None:
        raise ValueError(f"job #{running.pk} is already moving the lines off {from_panel.name}")
    with transaction.atomic():
        if stop_selling and Panel.objects.filter(pk=from_panel.pk, enabled=True).update(
            enabled=False
        ):
            audit_record(subject=from_panel, action="panel.disabled", actor=actor)
        job = Job.objects.create(
            from_panel=from_panel,
            to_panel=to_panel,
            created_by=actor,
            max_in_flight=max_in_flight,
            total=Line.objects.filter(panel=from_panel, status__in=MOVABLE).count(),
        )
        audit_record(
            subject=job,
            action="reassignment.started",
            actor=actor,
            data={"from": from_panel.name, "to": to_panel.name if to_panel else "routing"},
        )
        _step_enqueue(job.pk)
    return job


def _step_enqueue(job_id: int, run_after=None) -> None:
    def enqueue() -> None:
        task = run_reassignment_step
        if run_after is not None:
            task = task.using(run_after=run_after)
        task.enqueue(job_id)

    transaction.on_commit(enqueue)


def reassignment_job_step(*, job_id: int) -> str:
    """One step of a job: progress counted, moves topped up, the job finished when every line
    has been queued and no move is in flight. Returns what happened."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=now + timedelta(seconds=STEP_LEASE_SECONDS))
    )
    if not claimed:
        return "busy"
    job = Job.objects.select_related("from_panel", "to_panel").get(pk=job_id)
    try:
        in_flight = _ops_of(job).filter(status__in=_IN_FLIGHT).count()
        room = job.max_in_flight - in_flight
        queued = 0
        if room > 0:
            batch = list(
                _lines_left(job).select_related("plan", "order", "customer", "panel")[:room]
            )
            for line in batch:
                queued += _line_queue(job, line)
        job.refresh_from_db()
        progress = _progress(job)
        done = (
            not _lines_left(job).exists()
            and progress["in_flight"] == 0
            and queued == 0
            and job.status == Job.Status.RUNNING
        )
        fields = {
            "moved": progress["moved"],
            "failed": progress["failed"],
            "next_step_at": now + timedelta(seconds=STEP_INTERVAL_SECONDS),
        }
        if done:
            left = Line.objects.filter(panel=job.from_panel).exclude(status=Line.Status.CANCELLED)
            remaining = left.count()
            fields |= {"status": Job.Status.DONE, "finished_at": timezone.now()}
            if remaining:
                fields["last_error"] = (
                    f"{remaining} lines are still on {job.from_panel.name} (being created when "
                    "the job passed them, or not moved: see the review queue); run again."
                )[:2000]
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**fields)
    finally:
        Job.objects.filter(pk=job_id).update(lease_expires_at=None)
    if done:
        job.refresh_from_db()
        audit_record(
            subject=job,
            action="reassignment.done",
            data={"moved": job.moved, "failed": job.failed, "skipped": job.skipped},
        )
        return "done"
    with transaction.atomic():
        _step_enqueue(job.pk, run_after=fields["next_step_at"])
    return f"queued {queued}"


def _ops_of(job: ReassignmentJob):
    return PanelOperation.objects.filter(idempotency_key__startswith=job.key_prefix)


def _lines_left(job: ReassignmentJob):
    return Line.objects.filter(
        panel_id=job.from_panel_id, status__in=MOVABLE, pk__gt=job.cursor
    ).order_by("pk")


def _progress(job: ReassignmentJob) -> dict[str, int]:
    counts = dict(_ops_of(job).values_list("status").annotate(n=Count("pk")))
    return {
        "in_flight": sum(counts.get(s, 0) for s in _IN_FLIGHT),
        "moved": counts.get(Op.Status.SUCCEEDED, 0),
        "failed": sum(counts.get(s, 0) for s in _FAILED),
    }


def _line_queue(job: ReassignmentJob, line: Line) -> int:
    """Queue one line's move and advance the cursor past it, in one transaction. 1 if queued."""
    key = f"{job.key_prefix}{line.pk}"
    with transaction.atomic():
        if PanelOperation.objects.filter(idempotency_key=key).exists():
            # Written before a crash that lost the cursor: only the cursor moves on.
            Job.objects.filter(pk=job.pk).update(cursor=line.pk)
            return 0
        if job.to_panel_id is not None:
            target = job.to_panel
            reason = f"reassigned off {job.from_panel.name} by {job.created_by} (job #{job.pk})"
        else:
            country = (line.order.country if line.order_id else "") or line.customer.country
            try:
                route = panel_route(
                    plan=line.plan,
                    country=country,
                    device=line.device,
                    exclude=(job.from_panel_id,),
                )
            except CannotSellNow as exc:
                Job.objects.filter(pk=job.pk).update(
                    cursor=line.pk,
                    skipped=F("skipped") + 1,
                    last_error=f"{line.username}: {exc}"[:2000],
                )
                return 0
            target = route.panel
            reason = f"reassigned off {job.from_panel.name} (job #{job.pk}): {route.reason}"
        line_move(line=line, panel=target, actor=job.created_by, reason=reason, idempotency_key=key)
        Job.objects.filter(pk=job.pk).update(cursor=line.pk, queued=F("queued") + 1)
    return 1


def reassignment_job_cancel(*, job: ReassignmentJob, actor: str) -> bool:
    """Stop queueing moves (those queued already finish)."""
    done = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    )
    if done:
        audit_record(subject=job, action="reassignment.cancelled", actor=actor)
    return bool(done)


def reassignment_jobs_redrive() -> int:
    """The scheduler's safety net: a running job whose next step is due and nobody holds (its
    task lost, its stepper killed) gets a step queued."""
    now = timezone.now()
    due = Job.objects.filter(status=Job.Status.RUNNING, next_step_at__lte=now).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    n = 0
    for pk in due.values_list("pk", flat=True):
        # Pushed forward first, so the next scheduler pass does not queue it again.
        if Job.objects.filter(pk=pk, next_step_at__lte=now).update(
            next_step_at=now + timedelta(seconds=STEP_INTERVAL_SECONDS)
        ):
            _step_enqueue(pk)
            n += 1
    return n
