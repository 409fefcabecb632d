"""Panels that stay true and calls that cannot hang: deadlines, size caps, adapter bugs,
flapping panels and the incidents and alerts they give the operator."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from boxoffice.billing.services import order_mark_paid
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.emulators.fixtures_xui import XUI_TEST_API_KEY
from boxoffice.emulators.xui_one import XuiOneEmulator
from boxoffice.messaging.models import Message
from boxoffice.panels.adapters.base import TransientPanelError
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import incident_operations_url
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import operation_retry_now, operations_reconcile

pytestmark = pytest.mark.django_db(transaction=True)


def _alert_subjects() -> list[str]:
    return list(
        Message.objects.filter(kind="operator_alert")
        .order_by("pk")
        .values_list("subject", flat=True)
    )


@pytest.fixture
def second_emulator():
    emulator = XuiOneEmulator(
        host="127.0.0.1", port=0, access_code="adminapi1", api_key=XUI_TEST_API_KEY
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def second_plan(second_emulator):
    other = Panel.objects.create(
        name="Second panel",
        kind="xui_one",
        api_url=second_emulator.base_url,
        access_code="adminapi1",
        api_key=XUI_TEST_API_KEY,
        public_url=second_emulator.base_url,
        timeout_seconds=1.0,
    )
    plan = Plan.objects.create(
        slug="monthly-b",
        name="Monthly B",
        duration_days=30,
        connections=1,
        price=Decimal("9.99"),
        currency="EUR",
    )
    PlanPanel.objects.create(plan=plan, panel=other, bouquets=[1], outputs=["m3u8", "ts"])
    return plan


def test_it_ends_a_dripping_call_at_its_deadline_while_other_panels_keep_flowing(
    make_order, plan, second_plan, xui_emulator, second_emulator, smtp_inbox, wait_until
):
    from boxoffice.provisioning.worker import task_worker

    # One byte every 0.3 s: every read is far inside the 1 s timeout, the answer takes minutes.
    xui_emulator.set_faults(mode="drip", latency_ms=300)
    slow_order, fast_order = make_order(plan=plan), make_order(plan=second_plan)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=task_worker(worker_id=f"drip-{n}", stop=stop, interval=0.02).run, daemon=True
        )
        for n in range(2)
    ]
    for t in threads:
        t.start()
    try:
        started = time.monotonic()
        order_mark_paid(order=slow_order)
        order_mark_paid(order=fast_order)
        wait_until(
            lambda: Line.objects.filter(order=fast_order, status="active").exists(),
            timeout=5,
            what="the line on the healthy panel",
        )
        slow = wait_until(
            lambda: PanelOperation.objects.filter(
                order=slow_order, last_error_code="timeout"
            ).first(),
            timeout=5,
            what="the dripping call to end",
        )
        elapsed = time.monotonic() - started
    finally:
        xui_emulator.set_faults(mode="ok")
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert elapsed < 3.0  # the 1 s panel timeout is the whole call's budget
    assert slow.status == PanelOperation.Status.PENDING  # retried later, nothing lost
    assert len(second_emulator.lines()) == 1


def test_it_refuses_an_answer_over_the_cap_without_reading_it_all(panel, xui_emulator):
    xui_emulator.set_faults(mode="huge")
    adapter = panel.adapter()
    with pytest.raises(TransientPanelError) as caught:
        adapter.get_line("1")
    assert caught.value.code == "too_large"
    # The emulator had 60 MB to send; the client hung up after a few.
    time.sleep(0.2)
    assert xui_emulator.huge_bytes_sent < 16 * 1024 * 1024


def test_it_puts_the_operation_in_review_with_one_alert_when_the_adapter_raises_a_value_error(
    make_order, run_tasks, xui_emulator, smtp_inbox, monkeypatch
):
    def broken(self, spec):
        raise ValueError("invalid literal for int() with base 10: 'N/A'")

    monkeypatch.setattr(XuiOneAdapter, "create_line", broken)
    orders = [make_order(), make_order()]
    for order in orders:
        order_mark_paid(order=order)
    run_tasks()

    ops = list(PanelOperation.objects.filter(order__in=orders))
    assert {op.status for op in ops} == {PanelOperation.Status.NEEDS_REVIEW}
    assert {op.last_error_code for op in ops} == {"unexpected_error"}
    assert "ValueError" in ops[0].last_error
    [incident] = Incident.objects.filter(kind=Incident.Kind.OPERATIONS_FAILING)
    assert incident.affected_operations == 2
    assert len(_alert_subjects()) == 1

    # The operator retries once the adapter is fixed: the review incident closes by itself.
    monkeypatch.undo()
    for op in ops:
        assert operation_retry_now(operation=op)
    run_tasks()
    assert Line.objects.filter(status="active").count() == 2
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert len(_alert_subjects()) == 1


def test_it_keeps_one_incident_and_one_alert_for_a_flapping_panel(
    make_order, run_tasks, panel, xui_emulator, smtp_inbox
):
    from boxoffice.audit.models import AuditEvent

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        # 30 % of the panel's answers fail for 90 simulated seconds; an order every 4 seconds.
        xui_emulator.set_faults(mode="down", rate=0.3, seed=7)
        for second in range(0, 90, 2):  # a scheduler pass every 2 s
            if second % 4 == 0:
                order_mark_paid(order=make_order())
            operations_reconcile()
            run_tasks()
            clock.shift(timedelta(seconds=2))
        xui_emulator.set_faults(mode="ok")
        for _ in range(20):  # the panel is healthy again; the queue drains
            clock.shift(timedelta(seconds=10))
            operations_reconcile()
            run_tasks()
        assert Line.objects.exclude(status="active").count() == 0
        assert Incident.objects.get(kind=Incident.Kind.PANEL_DOWN).resolved_at is None
        clock.shift(timedelta(seconds=601))  # past the hold-down
        operations_reconcile()

    flaps = AuditEvent.objects.filter(action="panel.down").count()
    assert flaps >= 2  # the circuit really opened more than once
    [incident] = Incident.objects.filter(kind=Incident.Kind.PANEL_DOWN)
    assert incident.resolved_at is not None
    assert incident.affected_operations > 0
    subjects = _alert_subjects()
    assert len(subjects) == 2
    assert "Panel down" in subjects[0] and "Panel back up" in subjects[1]


def test_it_links_the_alert_to_the_operations_waiting_during_the_outage(
    make_order, run_tasks, panel, xui_emulator, smtp_inbox, admin_client
):
    xui_emulator.set_faults(mode="down")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        order = make_order()
        order_mark_paid(order=order)
        for _ in range(3):
            run_tasks()
            op = PanelOperation.objects.get(order=order)
            clock.move_to(op.next_attempt_at + timedelta(milliseconds=1))
        waiting = make_order()
        order_mark_paid(order=waiting)
        run_tasks()
        incident = Incident.objects.get(kind=Incident.Kind.PANEL_DOWN)
        [alert] = Message.objects.filter(kind="operator_alert")
        url = incident_operations_url(incident)
        assert url in alert.body_text
        path = url.split("://", 1)[1].split("/", 1)[1]
        response = admin_client.get(f"/{path}")
    assert response.status_code == 200
    listed = response.context["cl"].result_list
    assert {op.order_id for op in listed} == {order.pk, waiting.pk}
    assert {op.status for op in listed} == {PanelOperation.Status.PENDING}
    assert admin_client.get("/admin/provisioning/paneloperation/?incident=x").status_code == 200


def test_it_probes_panels_as_tasks_not_on_the_scheduler_thread(panel, xui_emulator, run_tasks):
    counts = operations_reconcile()
    assert counts["probed"] == 1
    assert xui_emulator.request_log == []  # the scheduler made no network call
    run_tasks()
    assert [action for action, _ in xui_emulator.request_log] == ["user_info"]
    panel.refresh_from_db()
    assert panel.health == Panel.Health.UP
    assert operations_reconcile()["probed"] == 0  # claimed: one probe per interval


def test_it_probes_from_the_admin_outside_any_transaction(panel, xui_emulator, admin_client):
    seen = []
    original = XuiOneAdapter.health

    def health(self):
        seen.append(transaction.get_connection().in_atomic_block)
        return original(self)

    XuiOneAdapter.health = health
    try:
        response = admin_client.post(
            "/admin/panels/panel/",
            {"action": "probe_now", "_selected_action": [panel.pk]},
            follow=True,
        )
    finally:
        XuiOneAdapter.health = original
    assert response.status_code == 200
    assert seen == [False]
