"""The outbox with a real `boxoffice worker` process and a real SMTP server on loopback: a relay
refusing mail for a while, and a worker SIGKILLed again and again while orders flow. Every
customer ends with exactly one credentials mail, counted as the SMTP server received them (a kill
in the millisecond between the relay taking a mail and the row marked sent is the one exception)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from boxoffice.billing.services import order_create, order_mark_paid
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line
from boxoffice.runtime.tests.test_worker_process import worker_env

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


def _worker_env(smtp_port: int) -> dict[str, str]:
    return worker_env(
        PROVISIONING_RETRY_BASE_SECONDS="0.5",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        EMAIL_USE_TLS="0",
        MAIL_RETRY_BASE_SECONDS="0.2",
        MAIL_RETRY_CAP_SECONDS="1",
        # Well above one SMTP hand-off under load: a lease that runs out while its sender is
        # still talking to the relay lets a second sender send the row again.
        MAIL_LEASE_SECONDS="8",
        MAIL_FAST_PATH_GRACE_SECONDS="0.5",
        OPERATOR_ALERT_EMAILS="ops@operator.test",
        LOG_LEVEL="ERROR",
    )


def _start_worker(smtp_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "boxoffice.cli", "worker", "--threads", "4"],
        env=_worker_env(smtp_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _orders(plan, count: int) -> list:
    orders = []
    for n in range(count):
        customer = Customer.objects.create(email=f"viewer{n}@example.test", name=f"Viewer {n}")
        orders.append(
            order_create(customer=customer, plan=plan, gateway="manual", name=f"Viewer {n}")
        )
    return orders


def _credentials_received(inbox) -> Counter:
    return Counter(str(m["To"]) for m in inbox.messages() if "login is ready" in str(m["Subject"]))


def _credentials_arrivals(inbox) -> dict[str, list[datetime]]:
    """When the SMTP server stored each credentials mail, by recipient, oldest first."""
    arrivals: dict[str, list[datetime]] = {}
    for summary in inbox.summaries():
        if "login is ready" in summary.subject:
            arrivals.setdefault(summary.to, []).append(summary.received_at)
    return arrivals


def test_it_delivers_every_credentials_mail_once_after_the_relay_refused_for_a_while(
    plan, panel, xui_emulator, smtp_inbox
):
    orders = _orders(plan, 40)
    smtp_inbox.refuse()  # 451 for every mail until accept()
    worker = _start_worker(smtp_inbox.port)
    try:
        for order in orders:
            order_mark_paid(order=order)
        _wait_for(
            lambda: Line.objects.filter(status="active").count() == len(orders),
            60,
            "every line to be active",
        )
        # Every credentials mail was refused more than once, and is still owed.
        _wait_for(
            lambda: (
                Message.objects.filter(kind="credentials", attempts__gte=2).count() == len(orders)
            ),
            30,
            "retries while the relay refuses",
        )
        assert not Message.objects.filter(kind="credentials", status="sent").exists()
        assert smtp_inbox.refused >= 2 * len(orders)

        smtp_inbox.accept()
        _wait_for(
            lambda: sum(_credentials_received(smtp_inbox).values()) >= len(orders),
            30,
            "every credentials mail to arrive",
        )
        time.sleep(2)  # several scheduler passes: nothing more may arrive
    finally:
        _stop(worker)

    received = _credentials_received(smtp_inbox)
    assert received == Counter({o.customer.email: 1 for o in orders})
    assert set(Message.objects.filter(kind="credentials").values_list("status", flat=True)) == {
        "sent"
    }


def test_it_gives_every_order_one_line_and_one_mail_while_the_worker_is_killed_repeatedly(
    plan, panel, xui_emulator, smtp_inbox
):
    Panel.objects.filter(pk=panel.pk).update(timeout_seconds=10, max_concurrency=8)
    xui_emulator.set_faults(mode="ok", latency_ms=30)  # calls in flight when the kill comes
    orders = _orders(plan, 120)
    kills = 0
    kill_times: list[datetime] = []
    worker = _start_worker(smtp_inbox.port)
    try:
        for start in range(0, len(orders), 10):
            for order in orders[start : start + 10]:
                order_mark_paid(order=order)
            time.sleep(0.25)
            if start % 30 == 20:
                kill_times.append(datetime.now(UTC))
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=5)
                kills += 1
                worker = _start_worker(smtp_inbox.port)
        everyone = {o.customer.email for o in orders}
        _wait_for(
            lambda: set(_credentials_received(smtp_inbox)) >= everyone,
            120,
            "a credentials mail for every customer",
        )
        # A second copy can only come from a row still `sending` (its sender killed): wait
        # until every row is marked sent, then a moment for a copy already on its way.
        _wait_for(
            lambda: not Message.objects.filter(kind="credentials").exclude(status="sent").exists(),
            60,
            "every credentials row marked sent",
        )
        time.sleep(1)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=5)

    assert kills == 4
    panel_lines = Counter(row["username"] for row in xui_emulator.lines())
    assert len(panel_lines) == len(orders) and set(panel_lines.values()) == {1}
    for order in orders:
        assert Line.objects.filter(order=order, status="active").count() == 1
    # Exactly one mail per order, save for the one case no SMTP client can close: a kill after
    # the relay took the mail and before the row was marked sent (about a millisecond). Such a
    # mail is sent once more, and only then: its first copy arrived right at a kill.
    arrivals = _credentials_arrivals(smtp_inbox)
    assert sorted(arrivals) == sorted(o.customer.email for o in orders)
    for to, stamps in arrivals.items():
        if len(stamps) > 1:
            assert len(stamps) == 2, (to, stamps)
            assert any(abs((stamps[0] - k).total_seconds()) < 0.05 for k in kill_times), (
                to,
                stamps,
                kill_times,
            )
    duplicated = sum(len(s) - 1 for s in arrivals.values())
    assert duplicated <= kills, f"{duplicated} duplicates in {kills} kills"
    print(f"{duplicated} duplicate(s) in {kills} kills")
    assert Message.objects.filter(kind="credentials", status="sent").count() == len(orders)
