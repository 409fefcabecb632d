"""`boxoffice worker`: task executor threads plus the scheduler, in one process.

Threads run django-tasks-db's worker loop with a short poll, so new work starts within tens of
milliseconds; several threads keep many panel calls in flight (bounded per panel). The scheduler
re-drives due and lease-expired operations and probes panels that are down, so a killed worker
loses nothing: the rows are the truth, the task queue only a fast path. The same scheduler sends the
mail the fast path did not finish (the outbox, `messaging.services.messages_deliver_due`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import (
    DatabaseError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
)
from django.db.models import Q
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.management.commands import db_worker
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import is_locked_database_exception

from boxoffice.billing.refunds import refund_requests_redrive
from boxoffice.billing.services import orders_flag_stale_pending, orders_provision_paid
from boxoffice.billing.webhooks import webhook_events_redrive
from boxoffice.customers.services import sign_in_links_purge
from boxoffice.lib.exists import rows_exist, rows_exist_at
from boxoffice.lib.ratelimit import rate_counters_purge
from boxoffice.lib.tasks import tasks_finished_purge
from boxoffice.messaging.services import messages_deliver_due
from boxoffice.panels.panel_catalog import panels_catalog_refresh_due
from boxoffice.provisioning.drift import line_sweeps_schedule
from boxoffice.provisioning.lifecycle import lines_lifecycle_run
from boxoffice.provisioning.onboarding import onboarding_run
from boxoffice.provisioning.reconcile import (
    operations_reconcile,
    worker_heartbeat_beat,
    worker_heartbeat_stop,
    worker_heartbeats_purge,
)
from boxoffice.runtime.wakeup import local_wakeup, wakeup_listen

logger = logging.getLogger("boxoffice.worker")

# After a database error a task thread waits this long (doubling, capped) before trying again.
DB_ERROR_BACKOFF_SECONDS = (0.05, 5.0)


class _QueueLocked(Exception):
    """The queue's database was locked when a thread tried to claim a task."""


def _tasks_ready(now, backend_name: str):
    """`DBTaskResult.objects.ready()` of one backend, at `now`."""
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, backend_name=backend_name
    ).filter(Q(run_after=get_date_max()) | Q(run_after__lte=now))


class _ThreadWorker(Worker):
    """django-tasks-db's loop without its signal handling (only the main thread may set it)."""

    def __init__(self, *, stop: threading.Event, **kwargs):
        super().__init__(**kwargs)
        self._stop = stop

    def run(self) -> None:
        backoff = DB_ERROR_BACKOFF_SECONDS[0]
        try:
            while not self._stop.is_set():
                try:
                    self._loop()
                    return
                except DatabaseError as exc:
                    # "database is locked" (SQLite under write contention), a dropped PostgreSQL
                    # connection: the rows are the truth and nothing was lost, so this thread
                    # waits a moment and carries on instead of dying and leaving the process
                    # silently one thread short.
                    logger.warning(
                        "task thread %s: database error, carrying on in %.2fs: %s",
                        self.worker_id,
                        backoff,
                        exc,
                    )
                    self._reset_connection()
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, DB_ERROR_BACKOFF_SECONDS[1])
        finally:
            connection.close()

    def _loop(self) -> None:
        """Sleep until woken (a task queued anywhere: `runtime/wakeup.py`) or the slow poll, then
        run what is ready. No polling hop on the hot path, and an idle thread costs nothing
        but a cheap read per slow poll."""
        while not self._stop.is_set():
            # Consumed before looking: a wake-up during the look is kept for the next wait.
            local_wakeup.wait(settings.WORKER_IDLE_POLL_SECONDS)
            while not self._stop.is_set():
                try:
                    task_result = self._claim()
                except _QueueLocked:
                    # Another writer holds SQLite's lock (a burst of webhooks): look again in a
                    # moment, not at the next slow poll.
                    self._stop.wait(0.02)
                    continue
                if task_result is None:
                    break
                local_wakeup.set()  # there may be more: one idle thread looks too
                self.run_task(task_result)
                close_old_connections()

    def _claim(self) -> DBTaskResult | None:
        # A plain read first: the write lock (SQLite's BEGIN EXCLUSIVE, PostgreSQL's row lock)
        # only when there is something to take. Asked before and after every task, so the
        # question is precompiled (`lib/exists.py`), the same as `DBTaskResult.objects.ready()`.
        if not rows_exist_at(_tasks_ready, timezone.now(), self.backend_name):
            return None
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        with db_worker.exclusive_transaction(tasks.db):
            if connection.vendor == "postgresql":
                # A claim lost to a database crash only makes the task ready again (every task
                # checks its rows' state), so it need not wait for its WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            try:
                task_result = tasks.get_locked()
            except OperationalError as exc:
                if is_locked_database_exception(exc):
                    raise _QueueLocked from exc
                raise
            if task_result is not None:
                task_result.claim(self.worker_id)
        return task_result

    @staticmethod
    def _reset_connection() -> None:
        try:
            if connection.in_atomic_block:
                connection.set_rollback(True)
            connection.close()
        except DatabaseError:
            pass  # the connection is gone already; the next query opens a fresh one


def task_worker(
    *, worker_id: str, stop: threading.Event | None = None, interval: float = 0
) -> Worker:
    """One task-executing loop over every queue: a thread of `boxoffice worker` (with a stop
    event) or, without one, a plain worker whose `run_task` a caller drives (tests)."""
    options = dict(
        queue_names=["*"],
        interval=interval,
        batch=stop is None,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id[:64],
        excluded_queue_names=[],
    )
    return _ThreadWorker(stop=stop, **options) if stop is not None else Worker(**options)


# Steps whose work is measured in hours (pending-payment timeouts, the panels' 6-hourly
# catalogue) look once a minute; the line sweep's pages, ten seconds apart, every few seconds.
SLOW_STEP_SECONDS = 60.0
SWEEP_STEP_SECONDS = 5.0


def _every(seconds: float, step: Callable[[], object]) -> Callable[[], object]:
    """`step` at most once per `seconds` (the first call runs it)."""
    due = 0.0

    def run() -> object:
        nonlocal due
        now = time.monotonic()
        if now < due:
            return None
        due = now + seconds
        return step()

    return run


def _tasks_waiting():
    return DBTaskResult.objects.filter(status=TaskResultStatus.READY)


def _scheduler_loop(
    stop: threading.Event,
    interval: float,
    heartbeat: Callable[[], None] | None = None,
) -> None:
    housekeeping_due = 0.0
    heartbeat_due = 0.0

    def housekeeping() -> None:
        # Closed rate-limit windows, long-dead sign-in links, old heartbeats: hourly is plenty.
        rate_counters_purge()
        sign_in_links_purge()
        worker_heartbeats_purge()
        # Paid orders without a line of any age (each pass looks at the last hour's only).
        orders_provision_paid(within_seconds=None)

    def reconcile() -> None:
        counts = operations_reconcile()
        if any(counts.values()):
            logger.info("scheduler: %s", counts)

    lifecycle_due = 0.0
    task_rows_due = 0.0

    def task_rows() -> None:
        # Finished task rows would otherwise grow by one per unit of work, forever.
        nonlocal task_rows_due
        if time.monotonic() < task_rows_due:
            return
        task_rows_due = time.monotonic() + 60
        tasks_finished_purge()

    def lifecycle() -> None:
        # Reminders and stages move by the day: a pass every RENEWAL_LIFECYCLE_SECONDS.
        nonlocal lifecycle_due
        if time.monotonic() < lifecycle_due:
            return
        lifecycle_due = time.monotonic() + settings.RENEWAL_LIFECYCLE_SECONDS
        counts = lines_lifecycle_run()
        if any(counts.values()):
            logger.info("scheduler: renewal lifecycle %s", counts)

    onboarding_due = 0.0

    def onboarding() -> None:
        # The welcome sequence (mails by the day, activity checks by the hour): a pass every
        # ONBOARDING["PASS_SECONDS"].
        nonlocal onboarding_due
        if time.monotonic() < onboarding_due:
            return
        onboarding_due = time.monotonic() + settings.ONBOARDING["PASS_SECONDS"]
        counts = onboarding_run()
        if any(counts.values()):
            logger.info("scheduler: welcome sequence %s", counts)

    def mail() -> None:
        # What the fast path did not finish (refused, or its sender killed).
        sent = messages_deliver_due()
        if sent:
            logger.info("scheduler: mail %s", sent)

    def queued_tasks() -> None:
        # A task queued to run later (a retry's backoff) wakes nobody when it comes due: while
        # any task waits, one thread looks each pass, so the threads' idle poll can be slow.
        if rows_exist(_tasks_waiting):
            local_wakeup.set()

    # Each step on its own: one that fails (a bad row, a database hiccup) is logged and the
    # others still run, the paid-order safety net and the mail above all. Steps whose work
    # moves by the minute or the hour run at their own cadence; the per-second ones cost one
    # cheap indexed look each when nothing is due.
    steps = [
        ("operations", reconcile),
        ("paid orders", orders_provision_paid),
        ("stale pending payments", _every(SLOW_STEP_SECONDS, orders_flag_stale_pending)),
        ("webhook events", webhook_events_redrive),
        ("refunds whose answer was lost", refund_requests_redrive),
        ("renewal lifecycle", lifecycle),
        ("welcome sequence", onboarding),
        ("line reconciliation", _every(SWEEP_STEP_SECONDS, line_sweeps_schedule)),
        ("mail", mail),
        ("finished task rows", task_rows),
        # One stale panel's bouquets/packages (and credits) per pass, by a task.
        (
            "panel bouquets and packages",
            _every(SLOW_STEP_SECONDS, panels_catalog_refresh_due),
        ),
        ("delayed tasks", queued_tasks),
    ]

    def run(name: str, step: Callable[[], object]) -> bool:
        try:
            step()
            return True
        except Exception:  # the scheduler must outlive a bad row or a database hiccup
            logger.exception("scheduler step %r failed", name)
            if isinstance(sys.exc_info()[1], DatabaseError):
                _ThreadWorker._reset_connection()
            return False

    while not stop.is_set():
        close_old_connections()
        now = time.monotonic()
        if now >= housekeeping_due:
            housekeeping_due = now + 3600  # advanced first: a failing purge waits an hour too
            run("housekeeping", housekeeping)
        healthy = all([run(name, step) for name, step in steps])
        if heartbeat is not None and healthy and time.monotonic() >= heartbeat_due:
            # Only after a pass in which every step ran: a worker whose passes keep failing
            # goes stale on the Workers page instead of looking healthy.
            run("heartbeat", heartbeat)
            heartbeat_due = time.monotonic() + settings.WORKER_HEARTBEAT_SECONDS
        stop.wait(interval)
    connection.close()


def run_worker(
    *, threads: int | None = None, interval: float | None = None, scheduler: bool = True
) -> int:
    """Run until a signal; returns the exit status: 0 after a clean stop, 1 when a thread died
    (so a supervisor restarts the process rather than it running on half-dead)."""
    threads = threads or settings.WORKER_THREADS
    interval = settings.WORKER_POLL_INTERVAL if interval is None else interval
    stop = threading.Event()
    host, pid = socket.gethostname(), os.getpid()
    worker_id = f"{host}-{pid}"

    def shutdown(signum, frame) -> None:
        if stop.is_set():
            logger.warning("second signal: exiting now")
            os._exit(1)
        logger.info("stopping worker (finishing running operations; press Ctrl+C again to force)")
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    # A thread woken for new work (the listener, a task thread) waits for the GIL while another
    # runs Python: at CPython's default 5 ms switch interval that wait was most of the time
    # between a webhook's commit and its task starting. 1 ms keeps the hand-over short.
    sys.setswitchinterval(settings.WORKER_SWITCH_INTERVAL_SECONDS)
    # Persistent connections in the worker: an idle poll must not reconnect (and, on SQLite,
    # re-run its PRAGMAs) every time; a broken one is replaced (health checks).
    connections.settings["default"]["CONN_MAX_AGE"] = None
    connections.settings["default"]["CONN_HEALTH_CHECKS"] = True
    wakeup_listen(stop)
    task_threads: list[threading.Thread] = []
    for n in range(threads):
        w = task_worker(worker_id=f"{worker_id}-{n}", stop=stop, interval=interval)
        t = threading.Thread(target=w.run, name=f"task-worker-{n}", daemon=True)
        t.start()
        task_threads.append(t)
        # Stagger the polls: with N threads new work waits interval/N, not interval, at worst.
        time.sleep(interval / threads)
    pool = list(task_threads)
    if scheduler:

        def heartbeat() -> None:
            worker_heartbeat_beat(
                worker_id=worker_id,
                host=host,
                pid=pid,
                threads_alive=sum(t.is_alive() for t in task_threads),
                threads_total=threads,
            )

        t = threading.Thread(
            target=_scheduler_loop,
            args=(stop, settings.SCHEDULER_INTERVAL, heartbeat),
            name="scheduler",
            daemon=True,
        )
        t.start()
        pool.append(t)
    logger.info("worker %s started: %s task threads, poll %.3fs", worker_id, threads, interval)
    print(
        f"boxoffice worker {worker_id}: {threads} task threads, scheduler {'on' if scheduler else 'off'}",
        flush=True,
    )
    status = 0
    while not stop.is_set():
        dead = [t.name for t in pool if not t.is_alive()]
        if dead:
            # Only an error that is not the database's ends a thread (those are survived);
            # that is a bug, and a process quietly short of threads is worse than a restart.
            logger.critical("worker %s: %s died; exiting for a restart", worker_id, dead)
            status = 1
            stop.set()
            break
        time.sleep(0.2)
    for t in pool:
        t.join(timeout=settings.PROVISIONING["LEASE_SECONDS"])
    if scheduler and status == 0:
        close_old_connections()
        try:
            worker_heartbeat_stop(worker_id=worker_id)
        except DatabaseError:
            logger.warning("could not record the worker's stop; its heartbeat will go stale")
        connection.close()
    return status
