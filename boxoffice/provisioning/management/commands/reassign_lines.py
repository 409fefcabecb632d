"""`boxoffice reassign-lines --from PANEL [--to PANEL]`: move every line off a panel being
retired, as the durable job the back office starts (Provisioning > Reassignment jobs)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from boxoffice.panels.models import Panel
from boxoffice.provisioning.engine import operation_execute
from boxoffice.provisioning.models import PanelOperation, ReassignmentJob
from boxoffice.provisioning.reassignment import (
    STEP_INTERVAL_SECONDS,
    reassignment_job_create,
    reassignment_job_step,
)


class Command(BaseCommand):
    help = "Move every line off one panel (retiring it): a durable, resumable job."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from_panel", help="name of the panel to empty")
        parser.add_argument("--to", dest="to_panel", help="target panel (default: routing)")
        parser.add_argument("--max-in-flight", type=int, default=20)
        parser.add_argument(
            "--keep-selling", action="store_true", help="leave the panel enabled for new lines"
        )
        parser.add_argument("--resume", type=int, metavar="JOB", help="continue job JOB")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="step the job here (and run its moves) until it is done, with progress",
        )

    def handle(self, *args, **opts):
        if opts["resume"]:
            job = ReassignmentJob.objects.filter(pk=opts["resume"]).first()
            if job is None:
                raise CommandError(f"no reassignment job #{opts['resume']}")
        else:
            if not opts["from_panel"]:
                raise CommandError("name the panel to empty with --from (or --resume JOB)")
            source = self._panel(opts["from_panel"])
            target = self._panel(opts["to_panel"]) if opts["to_panel"] else None
            try:
                job = reassignment_job_create(
                    from_panel=source,
                    to_panel=target,
                    actor="boxoffice reassign-lines",
                    max_in_flight=opts["max_in_flight"],
                    stop_selling=not opts["keep_selling"],
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"job #{job.pk}: {job.total} lines to move off {source.name}")
        if opts["wait"]:
            self._wait(job)
        else:
            self.stdout.write(
                f"job #{job.pk} runs in the worker; its progress is in the back office "
                "(Provisioning > Reassignment jobs)"
            )

    def _panel(self, name: str) -> Panel:
        panel = Panel.objects.filter(name=name).first()
        if panel is None:
            raise CommandError(f"no panel named {name!r}")
        return panel

    def _wait(self, job: ReassignmentJob) -> None:
        while True:
            outcome = reassignment_job_step(job_id=job.pk)
            # Run the job's due moves here too (each claimed with a lease: a worker running
            # them at the same time is harmless).
            due = PanelOperation.objects.filter(
                idempotency_key__startswith=job.key_prefix, status=PanelOperation.Status.PENDING
            ).values_list("pk", flat=True)
            for pk in list(due):
                operation_execute(operation_id=pk)
            job.refresh_from_db()
            self.stdout.write(self._bar(job), ending="\r")
            self.stdout.flush()
            if outcome == "done" or job.status != ReassignmentJob.Status.RUNNING:
                break
            time.sleep(0 if outcome.startswith("queued") else STEP_INTERVAL_SECONDS / 4)
        self.stdout.write("")
        self.stdout.write(
            f"job #{job.pk} {job.get_status_display().lower()}: {job.moved} moved, "
            f"{job.failed} failed, {job.skipped} skipped of {job.total}"
        )
        if job.last_error:
            self.stdout.write(job.last_error)

    @staticmethod
    def _bar(job: ReassignmentJob, width: int = 30) -> str:
        done = job.moved + job.failed + job.skipped
        filled = int(width * done / job.total) if job.total else width
        return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{job.total}"
