"""Three real `boxoffice worker` processes share one panel's concurrency bound: a burst of paid
orders against a slow XUI One never has more calls in flight than `max_concurrency`, however
many task threads the workers have together, and every order still gets its line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from boxoffice.billing.services import order_create, order_mark_paid
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelSweep
from boxoffice.runtime.tests.test_worker_process import worker_env

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

WORKERS, THREADS, ORDERS = 3, 4, 20


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "boxoffice.cli", "worker", "--threads", str(THREADS)],
        # Probes every hour: this test counts the operations' calls, and a probe takes no slot.
        env=worker_env(PANEL_HEALTH_CHECK_SECONDS="3600", PROVISIONING_LEASE_SECONDS="30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


def test_it_never_has_more_calls_in_flight_to_a_panel_than_its_limit_across_workers(
    plan, panel, xui_emulator
):
    now = timezone.now()
    Panel.objects.filter(pk=panel.pk).update(
        max_concurrency=2, timeout_seconds=10, last_probe_at=now, catalog_synced_at=now
    )
    # No reconciliation page of the panel's lines during the test (another caller of the panel).
    PanelSweep.objects.create(panel=panel, next_page_at=now + timedelta(days=1))
    xui_emulator.set_faults(mode="ok", latency_ms=100)
    orders = []
    for n in range(ORDERS):
        customer = Customer.objects.create(email=f"viewer{n}@example.test", name=f"Viewer {n}")
        orders.append(order_create(customer=customer, plan=plan, gateway="manual"))
    workers = [_start_worker() for _ in range(WORKERS)]
    try:
        for worker in workers:  # each prints its line once its threads are up
            assert worker.stdout.readline().startswith("boxoffice worker"), "worker did not start"
        for order in orders:
            order_mark_paid(order=order)
        deadline = time.monotonic() + 90
        while Line.objects.filter(status="active").count() < ORDERS:
            assert time.monotonic() < deadline, "timed out waiting for every line"
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.1)
    finally:
        _stop(workers)

    # At most two at once, and two were reached: the bound was used, not merely unneeded.
    assert xui_emulator.in_flight["max_in_flight"] == 2
    on_panel = Counter(row["username"] for row in xui_emulator.lines())
    assert len(on_panel) == ORDERS and set(on_panel.values()) == {1}
    for order in orders:
        assert Line.objects.filter(order=order, status="active").count() == 1
