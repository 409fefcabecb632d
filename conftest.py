"""Shared test fixtures: emulators over real HTTP on loopback, a panel and plan wired to them,
and an in-process task runner for the durable queue."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "boxoffice.emulators.fixtures_xui",
    "boxoffice.emulators.fixtures_stripe",
    "boxoffice.emulators.fixtures_smtp",
]


@pytest.fixture(autouse=True)
def _fast_policies(settings):
    settings.PROVISIONING = {
        **settings.PROVISIONING,
        "RETRY_BASE_SECONDS": 2.0,
        "RETRY_JITTER": 0.0,
        "PROBE_INTERVAL_SECONDS": 15.0,
        "LEASE_SECONDS": 30.0,
    }
    settings.OPERATOR_ALERT_EMAILS = ["ops@operator.test"]
    # The database cache (the default) is Django's own; tests use memory so a test without
    # database access may still clear it.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def panel(db, xui_emulator):
    from boxoffice.panels.models import Panel

    return Panel.objects.create(
        name="Test panel",
        kind="xui_one",
        api_url=xui_emulator.base_url,
        settings={"access_code": "adminapi1"},
        secrets={"api_key": "test-api-key"},
        public_url=xui_emulator.base_url,
        timeout_seconds=1.0,
    )


@pytest.fixture
def plan(panel):
    from decimal import Decimal

    from boxoffice.catalog.models import Plan, PlanPanel

    plan = Plan.objects.create(
        slug="monthly",
        name="Monthly",
        duration_days=30,
        connections=2,
        price=Decimal("9.99"),
        currency="EUR",
    )
    PlanPanel.objects.create(
        plan=plan, panel=panel, mapping={"bouquets": [1, 2], "outputs": ["m3u8", "ts"]}
    )
    return plan


@pytest.fixture
def customer(db):
    from boxoffice.customers.models import Customer

    return Customer.objects.create(email="jane.doe@example.test", name="Jane Doe", country="DE")


@pytest.fixture
def make_order(plan, customer):
    from boxoffice.billing.services import order_create

    def make(**kwargs):
        kwargs.setdefault("customer", customer)
        kwargs.setdefault("plan", plan)
        kwargs.setdefault("gateway", "manual")
        return order_create(**kwargs)

    return make


@pytest.fixture
def run_tasks():
    """Run every task that is ready now, in this thread, like one worker would; fail the test
    if a task raised."""
    from django.test import TestCase
    from django_tasks_db.models import DBTaskResult

    from boxoffice.runtime.worker import task_worker

    worker = task_worker(worker_id="test-worker")

    def run(limit: int = 200) -> int:
        ran = 0
        while ran < limit:
            task = DBTaskResult.objects.ready().first()
            if task is None:
                break
            task.claim("test-worker")
            # A real worker commits when the task ends: run what waits for that commit (the
            # mail's fast path) also in tests wrapped in one transaction.
            with TestCase.captureOnCommitCallbacks(execute=True):
                worker.run_task(task)
            ran += 1
            task.refresh_from_db()
            if task.status == "FAILED":
                raise AssertionError(f"task {task.task_path} failed: {task.traceback}")
        return ran

    return run


@pytest.fixture
def background_worker(transactional_db):
    """A real task worker thread (django-tasks-db's loop with a short poll) for tests where work
    must happen while the test talks to servers, e.g. a browser clicking through."""
    import threading

    from boxoffice.runtime.worker import task_worker

    stop = threading.Event()
    worker = task_worker(worker_id="test-background", stop=stop, interval=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield worker
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def wait_until():
    import time

    def wait(predicate, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    return wait
