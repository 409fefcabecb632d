"""Workers that survive: a database error does not kill a task thread, a thread that dies of
anything else stops the process with a failure status, and each worker's heartbeat row shows
the back office who is alive."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.services import order_mark_paid
from boxoffice.provisioning.models import Line, WorkerHeartbeat
from boxoffice.provisioning.reconcile import worker_heartbeat_beat, worker_heartbeat_stop
from boxoffice.runtime import worker as worker_module


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_task_thread_working_after_database_is_locked(
    make_order, xui_emulator, smtp_inbox, wait_until, monkeypatch
):
    from django_tasks_db.management.commands import db_worker

    real = db_worker.exclusive_transaction
    hits = []

    def locked_once(using):
        # The first BEGIN IMMEDIATE of the thread's loop meets a writer holding the lock, which
        # django-tasks-db does not catch there (only around its own SELECT).
        if not hits:
            hits.append(1)
            raise OperationalError("database is locked")
        return real(using)

    monkeypatch.setattr(db_worker, "exclusive_transaction", locked_once)
    stop = threading.Event()
    w = worker_module.task_worker(worker_id="survivor", stop=stop, interval=0.02)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        # The lock is taken only when there is a task to claim: queue one, meet the error.
        order = make_order()
        order_mark_paid(order=order)
        wait_until(lambda: hits, 5, "the injected error")
        wait_until(
            lambda: Line.objects.filter(order=order, status="active").exists(),
            10,
            "the line to be created by the same thread",
        )
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_it_exits_with_a_failure_status_when_a_task_thread_dies(monkeypatch, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "LEASE_SECONDS": 1}

    class Broken:
        def run(self):
            raise RuntimeError("a bug, not the database")

    class Idle:
        def __init__(self, stop):
            self.stop = stop

        def run(self):
            self.stop.wait(5)

    made = []

    def fake_task_worker(*, worker_id, stop, interval):
        made.append(worker_id)
        return Broken() if len(made) == 2 else Idle(stop)

    monkeypatch.setattr(worker_module, "task_worker", fake_task_worker)
    monkeypatch.setattr(worker_module.signal, "signal", lambda *args: None)
    with contextlib.redirect_stdout(None):
        status = worker_module.run_worker(threads=2, interval=0.01, scheduler=False)
    assert status == 1


@pytest.mark.django_db
def test_it_marks_a_heartbeat_stale_when_the_worker_stops_beating(admin_client, settings):
    settings.WORKER_HEARTBEAT_STALE_SECONDS = 30
    worker_heartbeat_beat(
        worker_id="box-1-42", host="box-1", pid=42, threads_alive=4, threads_total=4
    )
    worker_heartbeat_beat(
        worker_id="box-2-7", host="box-2", pid=7, threads_alive=3, threads_total=4
    )
    changelist = reverse("admin:provisioning_workerheartbeat_changelist")
    html = admin_client.get(changelist).content.decode()
    assert "DEGRADED" in html and "STALE" not in html
    assert WorkerHeartbeat.objects.get(worker_id="box-1-42").state == "running"

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert WorkerHeartbeat.objects.get(worker_id="box-1-42").state == "stale"
        html = admin_client.get(changelist).content.decode()
        assert html.count("STALE (no heartbeat)") == 2
        worker_heartbeat_beat(
            worker_id="box-1-42", host="box-1", pid=42, threads_alive=4, threads_total=4
        )
        assert WorkerHeartbeat.objects.get(worker_id="box-1-42").state == "running"
    worker_heartbeat_stop(worker_id="box-2-7")
    assert WorkerHeartbeat.objects.get(worker_id="box-2-7").state == "stopped"


@pytest.mark.django_db(transaction=True)
def test_it_writes_the_heartbeat_from_the_scheduler(settings, wait_until):
    settings.WORKER_HEARTBEAT_SECONDS = 0.05
    stop = threading.Event()
    beats = []

    def heartbeat():
        beats.append(1)
        worker_heartbeat_beat(worker_id="w-1", host="h", pid=1, threads_alive=2, threads_total=2)

    t = threading.Thread(target=worker_module._scheduler_loop, args=(stop, 0.02, heartbeat))
    t.start()
    try:
        wait_until(lambda: len(beats) >= 2, 5, "two heartbeats")
        assert WorkerHeartbeat.objects.get(worker_id="w-1").state == "running"
    finally:
        stop.set()
        t.join(timeout=5)


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
def test_it_beats_from_a_real_worker_process_and_goes_stale_when_killed(wait_until):
    import signal
    import subprocess
    import sys

    from boxoffice.runtime.tests.test_worker_process import worker_env

    def start():
        return subprocess.Popen(
            [sys.executable, "-m", "boxoffice.cli", "worker", "--threads", "2"],
            env=worker_env(WORKER_HEARTBEAT_SECONDS="0.2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    calm = start()
    try:
        beat = wait_until(
            lambda: WorkerHeartbeat.objects.filter(pid=calm.pid).first(), 20, "a heartbeat"
        )
        assert (beat.threads_alive, beat.threads_total) == (2, 2) and beat.state == "running"
        calm.send_signal(signal.SIGTERM)
        assert calm.wait(timeout=20) == 0
        assert WorkerHeartbeat.objects.get(pid=calm.pid).state == "stopped"
    finally:
        calm.kill()

    killed = start()
    try:
        wait_until(lambda: WorkerHeartbeat.objects.filter(pid=killed.pid).exists(), 20, "a beat")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=5)
    finally:
        killed.kill()
    beat = WorkerHeartbeat.objects.get(pid=killed.pid)
    assert beat.state == "running"  # nobody said goodbye
    with time_machine.travel(beat.last_beat_at + timedelta(seconds=31)):
        assert WorkerHeartbeat.objects.get(pid=killed.pid).state == "stale"


@pytest.mark.django_db(transaction=True)
def test_it_runs_every_scheduler_step_when_an_earlier_one_fails(settings, monkeypatch, wait_until):
    settings.WORKER_HEARTBEAT_SECONDS = 0.01
    ran, beats = [], []

    def broken():
        raise RuntimeError("a bad row")

    monkeypatch.setattr(worker_module, "operations_reconcile", lambda: broken() or {})
    monkeypatch.setattr(worker_module, "orders_provision_paid", lambda: ran.append("paid") or 0)
    stop = threading.Event()
    t = threading.Thread(
        target=worker_module._scheduler_loop, args=(stop, 0.02, lambda: beats.append(1))
    )
    t.start()
    try:
        wait_until(lambda: len(ran) >= 3, 5, "the paid-order step despite the failing one")
    finally:
        stop.set()
        t.join(timeout=5)
    # A worker whose passes keep failing does not beat: it shows as stale, not healthy.
    assert beats == []
