"""Reassignment over real HTTP between two XUI One emulators: one line moved (same username
where free, read back, removed from the old panel, the customer mailed the new details), and a
panel emptied by a durable bulk job that resumes after a crash without moving a line twice."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import httpx
import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from boxoffice.billing.services import order_mark_paid
from boxoffice.catalog.models import PlanPanel
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.panels.services import line_access_for
from boxoffice.provisioning import reassignment
from boxoffice.provisioning.models import Line, PanelOperation, ReassignmentJob
from boxoffice.provisioning.reassignment import reassignment_job_create, reassignment_job_step
from boxoffice.provisioning.services import line_move

pytestmark = pytest.mark.django_db(transaction=True)
Op = PanelOperation


@pytest.fixture
def second_panel(plan, xui_emulator_factory):
    emulator = xui_emulator_factory(api_key="second-key")
    target = Panel.objects.create(
        name="Second",
        kind="xui_one",
        api_url=emulator.base_url,
        settings={"access_code": "adminapi1"},
        secrets={"api_key": "second-key"},
        public_url=emulator.base_url,
        timeout_seconds=1.0,
    )
    PlanPanel.objects.create(
        plan=plan, panel=target, mapping={"bouquets": [1, 2], "outputs": ["m3u8", "ts"]}
    )
    target.emulator = emulator
    return target


def _paid_line(make_order, run_tasks, **kwargs) -> Line:
    order = make_order(**kwargs)
    assert order_mark_paid(order=order, gateway_payment_id=f"pay_{order.pk}")
    run_tasks()
    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    return line


def _player_auth(line: Line, username: str, password: str) -> int:
    """What the panel's player API says to these credentials (1: they work there)."""
    url = line_access_for(line).player_api_url
    answer = httpx.get(url, params={"username": username, "password": password})
    if answer.status_code != 200:  # no such line there
        return 0
    return int((answer.json().get("user_info") or {}).get("auth") or 0)


def test_it_moves_one_line_and_the_customer_holds_working_credentials_on_the_new_panel_only(
    make_order, run_tasks, panel, xui_emulator, second_panel, smtp_inbox
):
    line = _paid_line(
        make_order, run_tasks, preferred_username="mover", preferred_password="Moving123"
    )
    old_line = Line.objects.get(pk=line.pk)  # its access details point at the old panel
    smtp_inbox.wait_for(1)  # the credentials mail
    # Another customer of ours has "mover" on the target already: the next free name is used.
    other = Customer.objects.create(email="other@example.test")
    Line.objects.create(
        customer=other, plan=line.plan, panel=second_panel, username="MOVER", password="x" * 12
    )

    line_move(line=line, panel=second_panel, actor="ops@operator.test")
    run_tasks()

    line.refresh_from_db()
    assert (line.panel, line.username, line.status) == (second_panel, "mover1", "active")
    assert line.routing_reason == "moved from Test panel by ops@operator.test"
    [row] = second_panel.emulator.lines()
    assert (row["username"], row["password"]) == ("mover1", "Moving123")
    assert line.panel_line_id == str(row["id"])
    assert xui_emulator.lines() == []  # on the new panel only
    assert _player_auth(line, "mover1", "Moving123") == 1
    assert _player_auth(old_line, "mover", "Moving123") == 0
    kinds = list(Op.objects.filter(line=line).values_list("kind", "status"))
    assert kinds == [("create", "succeeded"), ("move", "succeeded"), ("delete", "succeeded")]
    mails = smtp_inbox.wait_for(2)
    moved = mails[-1]
    body = moved.get_body(preferencelist=("plain",)).get_content()
    assert moved["To"] == "jane.doe@example.test"
    assert "mover1" in body and "Moving123" in body and second_panel.emulator.base_url in body
    panel.refresh_from_db()
    second_panel.refresh_from_db()
    assert (panel.lines_held, second_panel.lines_held) == (0, 1)  # the counters followed


def test_a_move_interrupted_after_the_panel_acted_resumes_without_a_duplicate(
    make_order, run_tasks, panel, xui_emulator, second_panel, smtp_inbox
):
    line = _paid_line(make_order, run_tasks, preferred_username="halfway")
    Panel.objects.filter(pk=second_panel.pk).update(timeout_seconds=0.4)
    second_panel.emulator.set_faults(mode="act_then_timeout", latency_ms=800, count=1)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        op = line_move(line=line, panel=Panel.objects.get(pk=second_panel.pk))
        run_tasks()
        op.refresh_from_db()
        assert op.status == Op.Status.PENDING and op.last_error_code == "timeout"
        assert len(second_panel.emulator.lines()) == 1  # the panel made it before timing out
        clock.move_to(op.next_attempt_at + timedelta(milliseconds=5))
        run_tasks()
    op.refresh_from_db()
    assert op.status == Op.Status.SUCCEEDED
    [row] = second_panel.emulator.lines()  # adopted, not created twice
    line.refresh_from_db()
    assert line.panel == second_panel and line.panel_line_id == str(row["id"])
    assert xui_emulator.lines() == []


def _lines_on_first_panel(make_order, run_tasks, second_panel: Panel, n: int) -> list[Line]:
    Panel.objects.filter(pk=second_panel.pk).update(enabled=False)  # routing would spread them
    lines = [_paid_line(make_order, run_tasks) for _ in range(n)]
    Panel.objects.filter(pk=second_panel.pk).update(enabled=True)
    return lines


def _run_job(job: ReassignmentJob, run_tasks, steps: int = 30) -> ReassignmentJob:
    for _ in range(steps):
        run_tasks()
        if reassignment_job_step(job_id=job.pk) == "done":
            break
    job.refresh_from_db()
    return job


def test_a_bulk_reassignment_crashed_midway_resumes_and_moves_every_line_once(
    make_order, run_tasks, panel, xui_emulator, second_panel, smtp_inbox, monkeypatch
):
    lines = _lines_on_first_panel(make_order, run_tasks, second_panel, 5)
    job = reassignment_job_create(
        from_panel=panel, to_panel=second_panel, actor="ops@operator.test", max_in_flight=3
    )
    panel.refresh_from_db()
    assert not panel.enabled and job.total == 5  # it stops selling there first

    # The stepper dies after queueing the first line of its batch (the second queueing raises).
    real_move = reassignment.line_move
    calls = []

    def dying_move(**kwargs):
        calls.append(kwargs["line"].pk)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_move(**kwargs)

    monkeypatch.setattr(reassignment, "line_move", dying_move)
    with pytest.raises(RuntimeError):
        reassignment_job_step(job_id=job.pk)
    monkeypatch.setattr(reassignment, "line_move", real_move)
    job.refresh_from_db()
    assert (job.cursor, job.queued) == (lines[0].pk, 1)  # the first move and its cursor, together
    # Worse: the cursor itself was lost (as if its write never happened).
    ReassignmentJob.objects.filter(pk=job.pk).update(cursor=0)

    out = StringIO()
    call_command("reassign_lines", "--resume", str(job.pk), "--wait", stdout=out)
    job = _run_job(job, run_tasks)

    assert job.status == ReassignmentJob.Status.DONE and job.last_error == ""
    assert (job.moved, job.failed, job.skipped, job.queued) == (5, 0, 0, 5)
    assert f"job #{job.pk} done: 5 moved" in out.getvalue()
    for line in lines:
        moves = Op.objects.filter(line=line, kind=Op.Kind.MOVE)
        assert moves.count() == 1, f"{line.username} moved {moves.count()} times"
        line.refresh_from_db()
        assert line.panel == second_panel and line.status == Line.Status.ACTIVE
        assert f"job #{job.pk}" in line.routing_reason
    assert xui_emulator.lines() == []
    assert sorted(r["username"] for r in second_panel.emulator.lines()) == sorted(
        line.username for line in lines
    )


def test_a_bulk_reassignment_without_a_target_routes_each_line_and_bounds_its_moves(
    make_order, run_tasks, panel, xui_emulator, second_panel, smtp_inbox
):
    _lines_on_first_panel(make_order, run_tasks, second_panel, 3)
    out = StringIO()
    call_command("reassign_lines", "--from", panel.name, "--max-in-flight", "2", stdout=out)
    job = ReassignmentJob.objects.get()
    assert "3 lines to move off Test panel" in out.getvalue()

    assert reassignment_job_step(job_id=job.pk) == "queued 2"  # never more than 2 in flight
    assert reassignment_job_step(job_id=job.pk) == "queued 0"
    job = _run_job(job, run_tasks)

    assert (job.status, job.moved) == (ReassignmentJob.Status.DONE, 3)
    assert set(Line.objects.values_list("panel__name", flat=True)) == {"Second"}
    reasons = Line.objects.values_list("routing_reason", flat=True)
    assert all("reassigned off Test panel" in r and "only panel" in r for r in reasons)
