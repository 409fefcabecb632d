"""`boxoffice worker` as a real process: killed with SIGKILL mid-operation, nothing is lost and
nothing is done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from boxoffice.billing.services import order_mark_paid
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


def worker_env(**extra) -> dict[str, str]:
    """The environment of a `boxoffice worker` subprocess on this test's database, with short
    leases and polls; `extra` overrides."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["BOXOFFICE_SQLITE_PATH"] = str(db["NAME"])
    else:
        host = db.get("HOST") or "127.0.0.1"
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"
        )
    env.update(
        {
            "PROVISIONING_LEASE_SECONDS": "2",
            "SCHEDULER_INTERVAL": "0.2",
            "PROVISIONING_RETRY_BASE_SECONDS": "0.5",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "boxoffice.cli", "worker", "--threads", "2"],
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_it_finishes_exactly_once_after_the_worker_is_killed_mid_operation(
    make_order, panel, xui_emulator
):
    Panel.objects.filter(pk=panel.pk).update(timeout_seconds=10)
    # The panel takes 2 s to act: long enough to kill the worker while the call is in flight.
    xui_emulator.set_faults(mode="ok", latency_ms=2000)
    order = make_order(preferred_username="survivor")
    worker = _start_worker()
    try:
        order_mark_paid(order=order)
        op = PanelOperation.objects.get(order=order)
        _wait_for(
            lambda: PanelOperation.objects.get(pk=op.pk).status == "running",
            15,
            "the worker to claim",
        )
        time.sleep(0.3)  # the create request is now on the wire
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=5)
    finally:
        if worker.poll() is None:
            worker.kill()
    op.refresh_from_db()
    assert op.status == "running"  # the dead worker's lease is still on the row
    xui_emulator.set_faults(mode="ok", latency_ms=0)

    second = _start_worker()
    try:
        _wait_for(
            lambda: PanelOperation.objects.get(pk=op.pk).status == "succeeded",
            20,
            "the operation to finish",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=10)
        except subprocess.TimeoutExpired:
            second.kill()
    rows = [r for r in xui_emulator.lines() if r["username"].startswith("survivor")]
    assert [r["username"] for r in rows] == ["survivor"]
    line = Line.objects.get(order=order)
    assert line.status == "active" and line.panel_line_id == str(rows[0]["id"])
    assert PanelOperation.objects.get(pk=op.pk).attempts >= 2
