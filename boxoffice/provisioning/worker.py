"""`boxoffice worker`: task executor threads plus the scheduler, in one process.

Threads run django-tasks-db's worker loop with a short poll, so new work starts within tens of
milliseconds; several threads keep many panel calls in flight (bounded per panel). The scheduler
re-drives due and lease-expired operations and probes panels that are down, so a killed worker
loses nothing: the rows are the truth, the task queue only a fast path.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Worker

logger = logging.getLogger("boxoffice.worker")


class _ThreadWorker(Worker):
    """django-tasks-db's loop without its signal handling (only the main thread may set it)."""

    def __init__(self, *, stop: threading.Event, **kwargs):
        super().__init__(**kwargs)
        self._stop = stop

    def run(self) -> None:
        # The parent loop checks self.running; mirror our stop event into it between tasks.
        def watch() -> None:
            self._stop.wait()
            self.running = False

        threading.Thread(target=watch, daemon=True).start()
        try:
            super().run()
        finally:
            connection.close()


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


def _scheduler_loop(stop: threading.Event, interval: float) -> None:
    from boxoffice.billing.services import (
        orders_flag_stale_pending,
        orders_provision_paid,
        webhook_events_redrive,
    )
    from boxoffice.customers.services import sign_in_links_purge
    from boxoffice.lib.ratelimit import rate_counters_purge
    from boxoffice.provisioning.services import operations_reconcile

    housekeeping_due = 0.0
    while not stop.is_set():
        close_old_connections()
        try:
            if time.monotonic() >= housekeeping_due:
                # Closed rate-limit windows and long-dead sign-in links: hourly is plenty.
                rate_counters_purge()
                sign_in_links_purge()
                housekeeping_due = time.monotonic() + 3600
            counts = operations_reconcile()
            if any(counts.values()):
                logger.info("scheduler: %s", counts)
            orders_flag_stale_pending()
            webhook_events_redrive()
            orders_provision_paid()
        except Exception:  # the scheduler must outlive a bad row or a database hiccup
            logger.exception("scheduler pass failed")
        stop.wait(interval)
    connection.close()


def run_worker(
    *, threads: int | None = None, interval: float | None = None, scheduler: bool = True
) -> None:
    threads = threads or settings.WORKER_THREADS
    interval = settings.WORKER_POLL_INTERVAL if interval is None else interval
    stop = threading.Event()
    worker_id = f"{socket.gethostname()}-{os.getpid()}"

    def shutdown(signum, frame) -> None:
        if stop.is_set():
            logger.warning("second signal: exiting now")
            os._exit(1)
        logger.info("stopping worker (finishing running operations; press Ctrl+C again to force)")
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    pool = []
    for n in range(threads):
        w = task_worker(worker_id=f"{worker_id}-{n}", stop=stop, interval=interval)
        t = threading.Thread(target=w.run, name=f"task-worker-{n}", daemon=True)
        t.start()
        pool.append(t)
        # Stagger the polls: with N threads new work waits interval/N, not interval, at worst.
        time.sleep(interval / threads)
    if scheduler:
        t = threading.Thread(
            target=_scheduler_loop,
            args=(stop, settings.SCHEDULER_INTERVAL),
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
    while not stop.is_set():
        time.sleep(0.2)
    for t in pool:
        t.join(timeout=settings.PROVISIONING["LEASE_SECONDS"])
