"""A paid order becomes exactly one line on a real (emulated) XUI One panel over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone

from boxoffice.billing.services import order_mark_paid
from boxoffice.messaging.models import Message
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import line_access_for
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import line_change_password, line_extend, line_suspend

pytestmark = pytest.mark.django_db(transaction=True)


def _paid_line(make_order, run_tasks, **order_kwargs) -> Line:
    order = make_order(**order_kwargs)
    assert order_mark_paid(order=order, gateway_payment_id="pay_1")
    run_tasks()
    return Line.objects.get(order=order)


def test_it_creates_exactly_one_active_line_for_a_paid_order(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    before = timezone.now()
    line = _paid_line(
        make_order, run_tasks, preferred_username="janetv", preferred_password="Secret123"
    )

    assert line.status == Line.Status.ACTIVE
    rows = xui_emulator.lines()
    assert len(rows) == 1
    row = rows[0]
    assert row["username"] == "janetv" and row["password"] == "Secret123"
    assert str(row["max_connections"]) == "2"
    assert json.loads(row["bouquet"]) == [1, 2]
    assert json.loads(row["allowed_outputs"]) == [1, 2]
    assert line.order.reference in row["admin_notes"]
    expected = before + timedelta(days=30)
    assert abs(int(row["exp_date"]) - expected.timestamp()) < 60
    assert line.expires_at and abs((line.expires_at - expected).total_seconds()) < 60
    assert str(row["id"]) == line.panel_line_id

    access = line_access_for(line)
    info = httpx.get(access.player_api_url).json()
    assert info["user_info"]["auth"] == 1
    assert info["user_info"]["status"] == "Active"
    playlist = httpx.get(access.m3u_url)
    assert playlist.status_code == 200 and playlist.text.startswith("#EXTM3U")

    [mail] = smtp_inbox.wait_for(1)
    assert mail["To"] == "jane.doe@example.test"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "janetv" in body and "Secret123" in body and access.m3u_url in body


def test_it_confirms_a_payment_only_once(make_order, run_tasks, xui_emulator, smtp_inbox):
    order = make_order()
    assert order_mark_paid(order=order)
    assert not order_mark_paid(order=order)
    run_tasks()
    assert Line.objects.filter(order=order).count() == 1
    assert PanelOperation.objects.filter(order=order).count() == 1
    assert len(xui_emulator.lines()) == 1


def test_it_retries_at_growing_intervals_then_creates_once_when_the_panel_is_back(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    xui_emulator.set_faults(mode="down")
    order = make_order()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        order_mark_paid(order=order)
        run_tasks()
        op = PanelOperation.objects.get(order=order)
        gaps = []
        for _ in range(3):
            op.refresh_from_db()
            if Panel.objects.get().is_down:
                break
            assert op.status == PanelOperation.Status.PENDING
            gaps.append((op.next_attempt_at - timezone.now()).total_seconds())
            clock.move_to(op.next_attempt_at + timedelta(milliseconds=1))
            run_tasks()
        assert gaps == sorted(gaps) and gaps[0] < gaps[-1]  # growing backoff
        panel = Panel.objects.get()
        assert panel.is_down
        assert Incident.objects.filter(panel=panel, kind="panel_down").count() == 1
        alerts = Message.objects.filter(kind="operator_alert")
        assert alerts.count() == 1

        # While down, more orders wait without calling the panel and without more alerts.
        second = make_order()
        order_mark_paid(order=second)
        run_tasks()
        assert PanelOperation.objects.get(order=second).attempts == 0
        assert Message.objects.filter(kind="operator_alert").count() == 1

        # The panel comes back; the next probe closes the circuit and drains the queue in order.
        xui_emulator.set_faults(mode="ok")
        clock.move_to(panel.next_probe_at + timedelta(seconds=1))
        from boxoffice.provisioning.reconcile import operations_reconcile

        counts = operations_reconcile()
        assert counts["probed"] == 1  # the probe is a task, off the scheduler thread
        run_tasks()
        assert Line.objects.filter(status=Line.Status.ACTIVE).count() == 2
        assert len(xui_emulator.lines()) == 2
        assert not Panel.objects.get().is_down
        # The incident closes once the panel has stayed up for the hold-down, with one "back up".
        assert Incident.objects.get(kind="panel_down").resolved_at is None
        clock.shift(timedelta(seconds=601))
        operations_reconcile()
    incident = Incident.objects.get(kind="panel_down")
    assert incident.resolved_at is not None and incident.affected_operations == 2
    alerts = Message.objects.filter(kind="operator_alert").order_by("pk")
    assert [a.subject.split("]")[1].split(":")[0].strip() for a in alerts] == [
        "Panel down",
        "Panel back up",
    ]


def test_it_adopts_the_line_when_the_panel_acted_then_timed_out(
    make_order, run_tasks, panel, xui_emulator, smtp_inbox
):
    # A short timeout, so the test waits out 0.4 s rather than the fixture's 1 s.
    Panel.objects.filter(pk=panel.pk).update(timeout_seconds=0.4)
    xui_emulator.set_faults(mode="act_then_timeout", latency_ms=800, count=1)
    order = make_order(preferred_username="slowpanel")
    with time_machine.travel(timezone.now(), tick=True) as clock:
        order_mark_paid(order=order)
        run_tasks()
        op = PanelOperation.objects.get(order=order)
        assert op.status == PanelOperation.Status.PENDING and op.last_error_code == "timeout"
        clock.move_to(op.next_attempt_at + timedelta(milliseconds=5))
        run_tasks()
    op.refresh_from_db()
    assert op.status == PanelOperation.Status.SUCCEEDED
    rows = xui_emulator.lines()
    assert [r["username"] for r in rows] == ["slowpanel"]
    line = Line.objects.get(order=order)
    assert line.panel_line_id == str(rows[0]["id"]) and not line.username_adjusted


def test_it_takes_the_next_free_suffix_when_the_name_is_taken_on_the_panel(
    make_order, run_tasks, xui_emulator, panel, smtp_inbox
):
    adapter = panel.adapter()
    from boxoffice.panels.adapters.base import LineSpec

    for name in ("jane", "jane1"):
        adapter.create_line(
            LineSpec(
                username=name,
                password="Other123",
                max_connections=1,
                expires_at=None,
                notes="someone else",
            )
        )
    line = _paid_line(make_order, run_tasks, preferred_username="jane")
    assert line.username == "jane2"
    assert line.username_adjusted and line.requested_username == "jane"
    assert sorted(r["username"] for r in xui_emulator.lines()) == ["jane", "jane1", "jane2"]
    [mail] = smtp_inbox.wait_for(1)
    assert "jane2" in mail.get_body(preferencelist=("plain",)).get_content()


def _row(emulator, username):
    return next(r for r in emulator.lines() if r["username"] == username)


@pytest.mark.parametrize("change", ["extend", "change_password", "suspend"])
def test_it_leaves_every_other_field_intact(
    change, make_order, run_tasks, xui_emulator, smtp_inbox
):
    line = _paid_line(
        make_order, run_tasks, preferred_username="keepme", preferred_password="Before123"
    )
    before = _row(xui_emulator, "keepme")
    if change == "extend":
        new_expiry = (line.expires_at + timedelta(days=30)).replace(microsecond=0)
        line_extend(line=line, expires_at=new_expiry)
        changed = {"exp_date": str(int(new_expiry.timestamp()))}
    elif change == "change_password":
        line_change_password(line=line, password="After456")
        changed = {"password": "After456"}
    else:
        line_suspend(line=line)
        changed = {"enabled": "0"}
    run_tasks()
    after = _row(xui_emulator, "keepme")
    for key, value in changed.items():
        assert str(after[key]) == value
    ignore = set(changed) | {"updated", "last_activity", "last_active"}
    assert {k: v for k, v in after.items() if k not in ignore} == {
        k: v for k, v in before.items() if k not in ignore
    }
    line.refresh_from_db()
    if change == "change_password":
        assert line.password == "After456"
    if change == "suspend":
        assert line.status == Line.Status.SUSPENDED


def test_it_stops_for_review_and_alerts_once_when_the_panel_refuses(
    make_order, run_tasks, xui_emulator, panel, smtp_inbox
):
    Panel.objects.filter(pk=panel.pk).update(secrets={"api_key": "wrong-key"})
    orders = [make_order() for _ in range(3)]
    for order in orders:
        order_mark_paid(order=order)
    run_tasks()
    ops = PanelOperation.objects.filter(order__in=orders)
    assert {op.status for op in ops} == {PanelOperation.Status.NEEDS_REVIEW}
    assert {op.last_error_code for op in ops} == {"invalid_api_key"}
    assert Message.objects.filter(kind="operator_alert").count() == 1
    assert Incident.objects.get(kind="operations_failing").affected_operations == 3
    assert xui_emulator.lines() == []


def test_it_tells_a_waiting_customer_once_that_the_line_is_on_its_way(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    from boxoffice.billing.selectors import order_progress
    from boxoffice.provisioning.reconcile import operations_reconcile

    xui_emulator.set_faults(mode="down")
    order = make_order()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        order_mark_paid(order=order)
        run_tasks()
        order.refresh_from_db()
        assert order_progress(order).stage == "provisioning"
        clock.move_to(start + timedelta(seconds=100))
        operations_reconcile()
        run_tasks()
        assert not Message.objects.filter(kind="provisioning_delayed").exists()

        clock.move_to(start + timedelta(minutes=4))
        assert order_progress(order).stage == "delayed"
        operations_reconcile()
        operations_reconcile()
        run_tasks()
        assert Message.objects.filter(order=order, kind="provisioning_delayed").count() == 1
        delay_mails = [m for m in smtp_inbox.wait_for(1) if "on its way" in m["Subject"]]
        assert len(delay_mails) == 1

        # The panel answers again: the credentials follow by themselves.
        xui_emulator.set_faults(mode="ok")
        clock.move_to(start + timedelta(minutes=10))
        operations_reconcile()
        run_tasks()
        operations_reconcile()
        run_tasks()
    assert Line.objects.get(order=order).status == Line.Status.ACTIVE
    assert order_progress(order).stage == "active"
    kinds = sorted(Message.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == ["credentials", "provisioning_delayed"]


def test_it_moves_a_line_to_another_panel_with_the_same_login(
    make_order, run_tasks, xui_emulator, xui_emulator_factory, plan, smtp_inbox
):
    from boxoffice.catalog.models import PlanPanel
    from boxoffice.provisioning.services import line_move

    line = _paid_line(
        make_order, run_tasks, preferred_username="mover", preferred_password="Moving123"
    )
    with xui_emulator_factory(api_key="second-key") as second:
        target = Panel.objects.create(
            name="Second",
            kind="xui_one",
            api_url=second.base_url,
            settings={"access_code": "adminapi1"},
            secrets={"api_key": "second-key"},
            public_url=second.base_url,
            timeout_seconds=1.0,
        )
        PlanPanel.objects.create(
            plan=plan, panel=target, mapping={"bouquets": [1, 2], "outputs": ["m3u8", "ts"]}
        )
        line_move(line=line, panel=target)
        run_tasks()
        line.refresh_from_db()
        assert line.panel_id == target.pk and line.status == Line.Status.ACTIVE
        [row] = second.lines()
        assert (row["username"], row["password"]) == ("mover", "Moving123")
        assert int(row["exp_date"]) == int(line.expires_at.timestamp())
        assert line.panel_line_id == str(row["id"])
    assert xui_emulator.lines() == []  # removed from the old panel
    kinds = list(PanelOperation.objects.filter(line=line).values_list("kind", "status"))
    assert kinds == [("create", "succeeded"), ("move", "succeeded"), ("delete", "succeeded")]


def test_it_marks_lines_expired_once_their_time_is_up(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    from boxoffice.provisioning.reconcile import lines_mark_expired

    line = _paid_line(make_order, run_tasks)
    with time_machine.travel(line.expires_at - timedelta(minutes=1)):
        assert lines_mark_expired() == 0
    with time_machine.travel(line.expires_at + timedelta(minutes=1)):
        assert lines_mark_expired() == 1
    line.refresh_from_db()
    assert line.status == Line.Status.EXPIRED


def test_it_stops_for_review_when_recording_a_success_fails(
    make_order, run_tasks, xui_emulator, smtp_inbox, monkeypatch
):
    from boxoffice.provisioning import emails

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(emails, "credentials_email_send", broken)
    order = make_order()
    assert order_mark_paid(order=order, gateway_payment_id="pay_1")
    run_tasks()

    op = PanelOperation.objects.get(line__order=order, kind=PanelOperation.Kind.CREATE)
    assert op.status == PanelOperation.Status.NEEDS_REVIEW
    assert op.last_error_code == "unexpected_error"
    assert "recording it failed: RuntimeError: template exploded" in op.last_error
    assert len(xui_emulator.lines()) == 1  # the panel did it; an operator decides what next
    [alert] = smtp_inbox.wait_for(1)
    assert alert["To"] == "ops@operator.test" and "Test panel" in alert["Subject"]
