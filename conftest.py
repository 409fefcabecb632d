"""Shared test fixtures: emulators over real HTTP on loopback (boxoffice_dev), a panel and plan
(wired to the panel emulator when the test asks for `xui_emulator`), and an in-process task
runner for the durable queue."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "boxoffice_dev.fixtures_xui",
    "boxoffice_dev.fixtures_panels",
    "boxoffice_dev.fixtures_stripe",
    "boxoffice_dev.fixtures_crypto",
    "boxoffice_dev.fixtures_paypal",
    "boxoffice_dev.fixtures_smtp",
]


_DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "live_server"}


@pytest.fixture(autouse=True)
def _gateway_accounts_without_database(request, monkeypatch):
    """A test without the database has no back-office payment gateways: the registry then
    configures every kind from settings, as it does where no GatewayAccount exists."""
    if request.node.get_closest_marker("django_db") or _DB_FIXTURES & set(request.fixturenames):
        return
    from boxoffice.billing.gateways import registry

    monkeypatch.setattr(registry, "_accounts_source", dict)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, then: the test database is migrated once, with every permission row.
    After each transactional test Django empties every table and sends post_migrate again, whose
    create_permissions writes them all anew: a tenth of the whole run. Nothing here reads
    permission rows (operators are superusers), so later transactional tests run without them;
    content types are still made anew (the admin log points at them)."""
    from django.contrib.auth.management import create_permissions
    from django.db.models.signals import post_migrate

    uid = "django.contrib.auth.management.create_permissions"
    post_migrate.disconnect(dispatch_uid=uid)
    yield
    post_migrate.connect(create_permissions, dispatch_uid=uid)
    # The panel call slots' own PostgreSQL session would keep the test database from being
    # dropped.
    from boxoffice.panels.slots import panel_slots_close

    panel_slots_close()


@pytest.fixture(autouse=True)
def _panel_adapters_fresh():
    """Each test starts without the panel adapters and SMTP session an earlier one kept
    (`Panel.adapter`, `messaging.services._relay_send`): ids repeat from test to test, and an
    emulator may be another one on the same address."""
    yield
    from boxoffice.messaging.services import relay_session_close
    from boxoffice.panels.models import panel_adapters_forget

    panel_adapters_forget()
    relay_session_close()  # and the SMTP session to this test's relay


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
    # `apply` asks no panel unless a test wants it to (their files name panels on shared ports).
    settings.APPLY_CHECK_PANELS = False
    # The database cache (the default) is Django's own; tests use memory so a test without
    # database access may still clear it.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # WhiteNoise indexes every static file (unfold's thousands) each time a middleware chain is
    # built, i.e. for every test Client; tests fetch no static file through it, so let it look
    # files up on request instead (what it does under DEBUG).
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture(scope="session")
def unused_panel_url():
    """An address where no panel answers: a loopback port held bound and never listened on, so
    every call is refused at once and nobody else can take the port during the session."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def panel(db, request, unused_panel_url):
    """The test panel row. It points at the XUI One emulator when the test asks for
    `xui_emulator` (the tests that really talk to the panel); otherwise at an address where
    nothing answers, so a test that needs only the row (or a plan) starts no server and a call it
    did not mean to make fails loudly instead of passing by luck."""
    from boxoffice.panels.models import Panel

    if "xui_emulator" in request.fixturenames:
        url = request.getfixturevalue("xui_emulator").base_url
    else:
        url = unused_panel_url
    return Panel.objects.create(
        name="Test panel",
        kind="xui_one",
        api_url=url,
        settings={"access_code": "adminapi1"},
        secrets={"api_key": "test-api-key"},
        public_url=url,
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
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    return wait
