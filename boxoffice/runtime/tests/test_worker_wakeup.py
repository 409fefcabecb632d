"""A worker is woken by a task's enqueue (another process's, over the database's channel), not
by its slow poll: with the poll at a minute, work queued still starts at once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django_tasks_db.models import DBTaskResult

from boxoffice.provisioning.tasks import probe_panel
from boxoffice.runtime.tests.test_worker_process import worker_env

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_it_wakes_the_worker_when_a_task_is_queued_elsewhere():
    worker = subprocess.Popen(
        [sys.executable, "-m", "boxoffice.cli", "worker", "--threads", "2", "--no-scheduler"],
        env=worker_env(WORKER_IDLE_POLL_SECONDS="60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "task threads" in worker.stdout.readline()  # started (and listening)
        # Let the threads settle into their minute-long wait.
        time.sleep(2)
        queued_at = time.monotonic()
        result = probe_panel.enqueue(0)

        _wait_for(
            lambda: DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL",
            30,
            "the worker to run the task",
        )
        # Well before the slow poll could have found it.
        assert time.monotonic() - queued_at < 45
    finally:
        worker.terminate()
        worker.wait(timeout=20)
