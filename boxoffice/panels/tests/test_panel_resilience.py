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
from boxoffice.messaging.models import Message
from boxoffice.panels.adapters.base import TransientPanelError
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import incident_operations_url
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.reconcile import operations_reconcile
from boxoffice.provisioning.services import operation_retry_now

pytestmark = pytest.mark.django_db(transaction=True)


def _alert_subjects() -> list[str]:
    return list(
        Message.objects.filter(kind="operator_alert")
        .order_by("pk")
        .values_list("subject", flat=True)
    )


def _path(url: str) -> str:
    """The path and query of an absolute back-office URL from an alert."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def second_emulator(xui_emulator_factory):
    return xui_emulator_factory()


@pytest.fixture
def second_plan(second_emulator):
    other = Panel.objects.create(
        name="Second panel",
        kind="xui_one",
        api_url=second_emulator.base_url,
        settings={"access_code": "adminapi1"},
        secrets={"api_key": second_emulator.api_key},
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
    PlanPanel.objects.create(
        plan=plan, panel=other, mapping={"bouquets": [1], "outputs": ["m3u8", "ts"]}
    )
    return plan


@pytest.mark.slow
def test_it_ends_a_dripping_call_at_its_deadline_while_other_panels_keep_flowing(
    make_order, plan, panel, second_plan, xui_emulator, second_emulator, smtp_inbox, wait_until
):
    from boxoffice.runtime.worker import task_worker

    # One byte every 0.15 s: every read is far inside the 0.5 s timeout, the answer takes minutes.
    Panel.objects.filter(pk=panel.pk).update(timeout_seconds=0.5)
    xui_emulator.set_faults(mode="drip", latency_ms=150)
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
    assert elapsed < 2.0  # the 0.5 s panel timeout is the whole call's budget
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
    make_order, run_tasks, xui_emulator, smtp_inbox, monkeypatch, admin_client
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
    url = incident_operations_url(incident)
    listed = admin_client.get(_path(url))
    assert {op.pk for op in listed.context["cl"].result_list} == {op.pk for op in ops}

    # The operator retries once the adapter is fixed: the review incident closes by itself.
    monkeypatch.undo()
    for op in ops:
        assert operation_retry_now(operation=op)
    run_tasks()
    assert Line.objects.filter(status="active").count() == 2
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert len(_alert_subjects()) == 1


@pytest.mark.slow
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
        response = admin_client.get(_path(url))
    assert response.status_code == 200
    listed = response.context["cl"].result_list
    assert {op.order_id for op in listed} == {order.pk, waiting.pk}
    assert {op.status for op in listed} == {PanelOperation.Status.PENDING}
    assert admin_client.get("/admin/provisioning/paneloperation/?incident=x").status_code == 200
    incidents = admin_client.get("/admin/panels/incident/")
    assert f"?incident={incident.pk}" in incidents.content.decode()


def test_it_probes_panels_as_tasks_not_on_the_scheduler_thread(panel, xui_emulator, run_tasks):
    counts = operations_reconcile()
    assert counts["probed"] == 1
    assert xui_emulator.request_log == []  # the scheduler made no network call
    run_tasks()
    # The probe's health check, then (a kind that can count its lines) the panel's own count.
    assert [action for action, _ in xui_emulator.request_log] == [
        "user_info",
        "get_lines",
        "get_mags",
    ]
    panel.refresh_from_db()
    assert panel.health == Panel.Health.UP
    assert panel.lines_on_panel == 0 and panel.lines_counted_at is not None
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


def _checkout_mag(plan, mac: str):
    from django.test import Client
    from django.urls import reverse

    from boxoffice.billing.models import Order

    response = Client().post(
        reverse("storefront:checkout", args=[plan.slug]),
        {
            "email": "box.owner@example.test",
            "name": "Box Owner",
            "device": "mag",
            "mac_address": mac,
            "country": "DE",
            "gateway": "manual",
        },
    )
    assert response.status_code == 303, response.content[:500]
    return Order.objects.get(mac_address="00:1A:79:AB:CD:EF")


def test_it_registers_a_mag_box_on_the_panel_and_mails_the_portal_url(
    plan, run_tasks, xui_emulator, smtp_inbox, settings
):
    settings.PAYMENT_GATEWAYS = ["manual"]
    order = _checkout_mag(plan, "00-1a-79-ab-cd-ef")
    assert order_mark_paid(order=order)
    run_tasks()

    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    [device] = xui_emulator.mags()
    assert device["mac"] == "00:1A:79:AB:CD:EF"
    assert str(device["user"]["is_mag"]) == "1"
    assert str(device["user"]["id"]) == line.panel_line_id
    assert order.reference in device["user"]["admin_notes"]
    assert xui_emulator.lines()[0]["exp_date"] is not None

    bodies = [
        m.get_body(preferencelist=("plain",)).get_content()
        # The credentials (the bank-transfer instructions are dropped: the order was paid first).
        for m in smtp_inbox.wait_for(1)
        if m["To"] == "box.owner@example.test"
    ]
    assert any(f"{xui_emulator.base_url}/c/" in b and "00:1A:79:AB:CD:EF" in b for b in bodies)

    # Suspend acts on the device's line (XUI's disable_mag does nothing).
    from boxoffice.provisioning.services import line_suspend

    line_suspend(line=line)
    run_tasks()
    assert str(xui_emulator.mags()[0]["user"]["enabled"]) == "0"
    assert [a for a, _ in xui_emulator.request_log].count("disable_mag") == 0

    # A renewal moves the device line's expiry; the line stays the box's (is_mag kept).
    from boxoffice.provisioning.services import line_extend

    new_expiry = (timezone.now() + timedelta(days=400)).replace(microsecond=0)
    line_extend(line=line, expires_at=new_expiry)
    run_tasks()
    [device] = xui_emulator.mags()
    assert int(device["user"]["exp_date"]) == int(new_expiry.timestamp())
    assert str(device["user"]["is_mag"]) == "1" and device["mac"] == "00:1A:79:AB:CD:EF"


def test_it_registers_the_mag_box_once_when_the_panel_acted_then_hung(
    plan, panel, run_tasks, xui_emulator, smtp_inbox, settings
):
    settings.PAYMENT_GATEWAYS = ["manual"]
    # A short timeout, so the test waits out 0.4 s rather than the fixture's 1 s.
    Panel.objects.filter(pk=panel.pk).update(timeout_seconds=0.4)
    order = _checkout_mag(plan, "00:1A:79:AB:CD:EF")
    xui_emulator.set_faults(mode="act_then_timeout", latency_ms=800, count=1)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        order_mark_paid(order=order)
        run_tasks()
        op = PanelOperation.objects.get(order=order)
        assert op.status == PanelOperation.Status.PENDING and op.last_error_code == "timeout"
        clock.move_to(op.next_attempt_at + timedelta(milliseconds=1))
        run_tasks()
    op.refresh_from_db()
    assert op.status == PanelOperation.Status.SUCCEEDED
    assert len(xui_emulator.mags()) == 1
    assert [a for a, _ in xui_emulator.request_log].count("create_mag") == 1
    assert Line.objects.get(order=order).panel_line_id == str(xui_emulator.mags()[0]["user_id"])


def test_it_stops_for_review_when_the_mac_belongs_to_someone_else_on_the_panel(
    plan, run_tasks, xui_emulator, smtp_inbox, settings
):
    settings.PAYMENT_GATEWAYS = ["manual"]
    xui_emulator.panel.admin_request(
        {
            "api_key": xui_emulator.api_key,
            "action": "create_mag",
            "mac": "00:1A:79:AB:CD:EF",
            "bouquets_selected": "[1]",
            "admin_notes": "sold by another reseller",
        }
    )
    order = _checkout_mag(plan, "00:1A:79:AB:CD:EF")
    order_mark_paid(order=order)
    run_tasks()
    op = PanelOperation.objects.get(order=order)
    assert op.status == PanelOperation.Status.NEEDS_REVIEW and op.last_error_code == "mac_taken"
    assert len(xui_emulator.mags()) == 1
