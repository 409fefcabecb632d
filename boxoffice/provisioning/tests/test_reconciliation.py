"""Reconciliation against the XUI One emulator over real HTTP: a pass walks the panel's lines a
page at a time, repairs where our record is the truth and flags the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from boxoffice.panels.adapters.base import LineSpec
from boxoffice.panels.models import panel_adapter_release
from boxoffice.provisioning import drift
from boxoffice.provisioning.drift import drift_ignore, drift_repair, line_sweeps_schedule
from boxoffice.provisioning.models import Line, LineDrift, PanelOperation, PanelSweep

Drift = LineDrift
WRITE_ACTIONS = {"create_line", "edit_line", "delete_line", "disable_line", "enable_line"}


@pytest.fixture(autouse=True)
def _small_pages(settings):
    settings.LINE_RECONCILE = {
        **settings.LINE_RECONCILE,
        "PAGE_SIZE": 3,
        "PAUSE_SECONDS": 0.0,
        "INTERVAL_SECONDS": 3600.0,
    }


@pytest.fixture
def adapter(panel, xui_emulator):
    adapter = panel.adapter()
    yield adapter
    panel_adapter_release(adapter)


@pytest.fixture
def make_line(adapter, panel, plan, customer):
    """A line on the panel and our matching row, as a sale leaves them."""

    def make(username: str, *, days: int = 20, **fields) -> Line:
        expires = (timezone.now() + timedelta(days=days)).replace(microsecond=0)
        on_panel = adapter.create_line(
            LineSpec(
                username=username,
                password="Pw12345678",
                max_connections=2,
                expires_at=expires,
                bouquets=(1, 2),
                notes=f"boxoffice order {username}",
            )
        )
        values = {
            "customer": customer,
            "plan": plan,
            "panel": panel,
            "panel_line_id": on_panel.panel_line_id,
            "username": username,
            "password": "Pw12345678",
            "connections": 2,
            "plan_mapping": {"bouquets": [1, 2], "outputs": ["m3u8", "ts"]},
            "expires_at": expires,
            "status": Line.Status.ACTIVE,
            "created_at": timezone.now() - timedelta(days=1),
            **fields,
        }
        return Line.objects.create(**values)

    return make


def schedule() -> dict:
    """The scheduler's step, with what it queues on commit queued now."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return line_sweeps_schedule()


def pass_run(run_tasks, *, limit: int = 50) -> int:
    """Drive the scheduler and the page tasks until the pass has finished (the pause between
    pages skipped); the repairs a page queues are left for the test to run. Returns the pages."""
    pages = 0
    for _ in range(limit):
        schedule()
        # One read: another runner (a live test server's worker) may take the row meanwhile.
        task = (
            DBTaskResult.objects.ready().filter(task_path__endswith="reconcile_panel_page").first()
        )
        if task is not None:
            pages += 1
            _run_one(task)
        sweep = PanelSweep.objects.first()
        if sweep is not None and sweep.pass_started_at is None and sweep.last_pass_finished_at:
            return pages
        PanelSweep.objects.update(next_page_at=timezone.now())
    raise AssertionError("the pass did not finish")


def _run_one(task) -> None:
    from boxoffice.runtime.worker import task_worker

    task.claim("test-worker")
    with TestCase.captureOnCommitCallbacks(execute=True):
        task_worker(worker_id="test-worker").run_task(task)
    task.refresh_from_db()
    assert task.status != "FAILED", task.traceback


def drifts(**filters) -> list[tuple[str, str, str]]:
    return sorted(LineDrift.objects.filter(**filters).values_list("username", "kind", "status"))


def test_it_repairs_a_line_expired_behind_our_back_and_flags_a_foreign_one(
    xui_emulator, adapter, make_line, run_tasks
):
    ours = make_line("paidjane")
    make_line("fineline")
    # Someone expires our paid line on the panel, and makes a line we never sold.
    adapter.extend(ours.panel_line_id, timezone.now() - timedelta(days=2))
    xui_emulator.seed_lines(1, prefix="stranger", exp_date=1830000000)

    schedule()
    # The scheduler only claims and queues: the first page is read by the task.
    assert LineDrift.objects.count() == 0
    pass_run(run_tasks)

    assert drifts() == [
        ("paidjane", Drift.Kind.EXPIRY, Drift.Status.REPAIRING),
        ("stranger000000", Drift.Kind.FOREIGN, Drift.Status.OPEN),
    ]
    repair = LineDrift.objects.get(kind=Drift.Kind.EXPIRY).operation
    assert repair.kind == PanelOperation.Kind.EXTEND and repair.line_id == ours.pk
    # The repair is an ordinary operation: the engine runs it against the panel.
    run_tasks()
    repair.refresh_from_db()
    assert repair.status == PanelOperation.Status.SUCCEEDED
    assert adapter.get_line(ours.panel_line_id).expires_at == ours.expires_at

    # The next pass sees the panel right again: the drift is closed as repaired.
    PanelSweep.objects.update(next_page_at=timezone.now())
    pass_run(run_tasks)
    assert drifts() == [
        ("paidjane", Drift.Kind.EXPIRY, Drift.Status.REPAIRED),
        ("stranger000000", Drift.Kind.FOREIGN, Drift.Status.OPEN),
    ]
    # No second drift row for the same foreign line.
    assert LineDrift.objects.filter(kind=Drift.Kind.FOREIGN).count() == 1


def test_it_resumes_a_paid_line_the_panel_shows_disabled_but_leaves_a_suspended_one_alone(
    xui_emulator, adapter, make_line, run_tasks
):
    paid = make_line("paiddis")
    held = make_line("heldbyop", status=Line.Status.SUSPENDED, suspension_reason="operator")
    adapter.suspend(paid.panel_line_id)  # behind our back

    pass_run(run_tasks)

    assert drifts() == [
        ("heldbyop", Drift.Kind.ENABLED, Drift.Status.OPEN),
        ("paiddis", Drift.Kind.ENABLED, Drift.Status.REPAIRING),
    ]
    assert list(PanelOperation.objects.values_list("line__username", "kind")) == [
        ("paiddis", PanelOperation.Kind.RESUME)
    ]
    run_tasks()
    assert adapter.get_line(paid.panel_line_id).enabled is True
    assert adapter.get_line(held.panel_line_id).enabled is True  # still: nobody touched it


def test_it_flags_a_line_we_think_active_that_the_panel_deleted(
    xui_emulator, adapter, make_line, run_tasks
):
    gone = make_line("deletedbyop")
    make_line("stillthere")
    adapter.delete(gone.panel_line_id)

    pass_run(run_tasks)

    assert drifts() == [("deletedbyop", Drift.Kind.MISSING, Drift.Status.OPEN)]
    assert not PanelOperation.objects.exists()


def test_it_flags_connections_plan_and_trial_without_changing_them(
    xui_emulator, adapter, make_line, run_tasks
):
    line = make_line("changed")
    adapter.change_plan(line.panel_line_id, max_connections=5, mapping={"bouquets": [3]})

    pass_run(run_tasks)

    assert drifts() == [
        ("changed", Drift.Kind.CONNECTIONS, Drift.Status.OPEN),
        ("changed", Drift.Kind.PLAN, Drift.Status.OPEN),
    ]
    plan_drift = LineDrift.objects.get(kind=Drift.Kind.PLAN)
    assert plan_drift.ours == {"plan": [1, 2]} and plan_drift.theirs == {"plan": [3]}
    assert not PanelOperation.objects.exists()
    # The operator decides our record is right: repair queues the operation.
    with TestCase.captureOnCommitCallbacks(execute=True):
        op = drift_repair(drift=LineDrift.objects.get(kind=Drift.Kind.CONNECTIONS))
    assert op.kind == PanelOperation.Kind.SET_CONNECTIONS
    run_tasks()
    assert adapter.get_line(line.panel_line_id).max_connections == 2
    with pytest.raises(drift.DriftActionRefused):
        drift_repair(drift=plan_drift)


def test_an_ignored_drift_stays_ignored_on_the_next_pass(xui_emulator, run_tasks, db, panel):
    xui_emulator.seed_lines(1, prefix="stranger")
    pass_run(run_tasks)
    drift_ignore(drift=LineDrift.objects.get())

    PanelSweep.objects.update(next_page_at=timezone.now())
    pass_run(run_tasks)

    assert drifts() == [("stranger000000", Drift.Kind.FOREIGN, Drift.Status.IGNORED)]


def test_a_pass_that_crashed_mid_page_resumes_from_the_stored_cursor(
    xui_emulator, run_tasks, panel, monkeypatch
):
    xui_emulator.seed_lines(8, prefix="big")
    schedule()
    run_tasks()  # page 1 of 3 (3 lines a page)
    sweep = PanelSweep.objects.get()
    assert sweep.pages == 1 and sweep.cursor and sweep.pass_started_at is not None
    cursor_after_one = sweep.cursor

    # The worker dies while reading page 2: the claim is taken, nothing is recorded.
    PanelSweep.objects.update(next_page_at=timezone.now())
    schedule()
    PanelSweep.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    DBTaskResult.objects.all().delete()  # the task died with its worker
    assert PanelSweep.objects.get().cursor == cursor_after_one

    # After the lease, the scheduler hands the same page out again and the pass goes on.
    requests_before = len(xui_emulator.request_log)
    pass_run(run_tasks)
    starts = [
        params.get("start")
        for action, params in xui_emulator.request_log[requests_before:]
        if action == "get_lines"
    ]
    assert starts[0] == "2"  # page 2 again (asked from one row earlier), not from the start
    sweep = PanelSweep.objects.get()
    assert sweep.lines_seen == 8 and sweep.pages == 3 + 1  # 3 line pages + the empty mags page
    assert drifts(kind=Drift.Kind.FOREIGN) == [
        (f"big{n:06d}", Drift.Kind.FOREIGN, Drift.Status.OPEN) for n in range(8)
    ]


def test_a_failing_page_is_recorded_and_retried_later(xui_emulator, run_tasks, panel):
    xui_emulator.seed_lines(2, prefix="x")
    xui_emulator.set_faults(mode="503")
    schedule()
    run_tasks()
    sweep = PanelSweep.objects.get()
    assert sweep.attempts == 1 and "HTTP 503" in sweep.last_error
    assert sweep.lease_expires_at is None and sweep.next_page_at > timezone.now()
    xui_emulator.set_faults(mode="ok")
    PanelSweep.objects.update(next_page_at=timezone.now())
    pass_run(run_tasks)
    assert PanelSweep.objects.get().lines_seen == 2


def test_a_kind_without_list_lines_is_skipped_with_a_note(db, panel, monkeypatch):
    from boxoffice.panels.adapters.base import OPERATIONS, Capabilities

    kind = panel.kind_class
    monkeypatch.setattr(kind, "capabilities", Capabilities(operations=OPERATIONS))
    schedule()
    sweep = PanelSweep.objects.get()
    assert sweep.note == "Not reconciled: XUI One panels cannot list their lines."
    assert sweep.lease_expires_at is None


def test_a_page_costs_the_same_few_queries_whatever_its_size(
    xui_emulator, adapter, make_line, panel, settings
):
    for n in range(3):
        make_line(f"mine{n}")
    xui_emulator.seed_lines(40, prefix="other")
    small = adapter.list_lines(None, limit=5).lines
    big = adapter.list_lines(None, limit=43).lines
    assert len(big) == 43

    def queries(lines) -> int:
        LineDrift.objects.all().delete()
        with CaptureQueriesContext(connection) as captured:
            drift.lines_compare(panel=panel, lines=lines, seen_at=timezone.now())
        return len(captured)

    assert queries(big) == queries(small)
    assert not {a for a, _ in xui_emulator.request_log} & WRITE_ACTIONS - {"create_line"}


def test_a_page_that_cannot_be_recorded_is_kept_for_another_try(
    xui_emulator, run_tasks, panel, monkeypatch
):
    xui_emulator.seed_lines(2, prefix="x")

    def broken(**kwargs):
        raise RuntimeError("a row we cannot read")

    monkeypatch.setattr(drift, "lines_compare", broken)
    schedule()
    run_tasks()
    sweep = PanelSweep.objects.get()
    assert sweep.attempts == 1 and "a row we cannot read" in sweep.last_error
    assert sweep.cursor == "" and sweep.pages == 0  # nothing of the page was recorded
    assert sweep.lease_expires_at is None and not LineDrift.objects.exists()
