"""One execution per unit of work: a paid order costs one task (its webhook's), re-drives queue
only what has no task already, and finished task rows are pruned."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from boxoffice.billing.models import Order, WebhookEvent
from boxoffice.billing.tasks import process_webhook_event
from boxoffice.billing.tests.test_paid_ends_in_line_or_review import _completed_event
from boxoffice.billing.webhooks import webhook_event_store, webhook_events_redrive
from boxoffice.lib.tasks import tasks_finished_purge
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.reconcile import operations_reconcile
from boxoffice.provisioning.tasks import run_panel_operation


def _task_rows() -> Counter:
    return Counter(
        path.rsplit(".", 1)[1] for path in DBTaskResult.objects.values_list("task_path", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_burst_of_paid_orders_in_one_task_each(
    make_order, panel, run_tasks, xui_emulator, smtp_inbox
):
    orders = [make_order(gateway="stripe") for _ in range(8)]
    for n, order in enumerate(orders):
        webhook_event_store(gateway="stripe", event=_completed_event(order, event_id=f"evt_{n}"))

    ran = run_tasks()

    assert Line.objects.filter(status=Line.Status.ACTIVE).count() == 8
    assert len(smtp_inbox.wait_for(8)) >= 8
    assert PanelOperation.objects.filter(status=PanelOperation.Status.SUCCEEDED).count() == 8
    # The webhook task ran each creation itself: no second task raced it for the claim.
    assert _task_rows() == Counter({"process_webhook_event": 8})
    assert ran == 8
    assert {o.status for o in Order.objects.all()} == {Order.Status.PAID}


@pytest.mark.django_db(transaction=True)
def test_it_leaves_an_operation_to_the_scheduler_when_its_webhook_task_died(
    make_order, panel, run_tasks, xui_emulator, smtp_inbox, monkeypatch
):
    from boxoffice.provisioning import engine

    order = make_order(gateway="stripe")
    stored, _ = webhook_event_store(gateway="stripe", event=_completed_event(order, event_id="e"))
    monkeypatch.setattr(engine, "operation_run", lambda **kw: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        process_webhook_event.call(stored.pk)
    monkeypatch.undo()
    # Written claimed by the task that died (its first attempt counted), under a lease.
    op = PanelOperation.objects.get()
    assert op.status == PanelOperation.Status.RUNNING and op.attempts == 1
    assert Line.objects.get().expires_at is not None  # fixed for that first attempt

    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        assert operations_reconcile()["redriven"] == 0  # the lease still holds
    lease_over = timedelta(seconds=settings.PROVISIONING["LEASE_SECONDS"] + 1)
    with time_machine.travel(timezone.now() + lease_over):
        counts = operations_reconcile()
        counts_again = operations_reconcile()  # its task is queued now: not a second one

    assert counts["redriven"] == 1 and counts_again["redriven"] == 0
    DBTaskResult.objects.filter(task_path__endswith="process_webhook_event").delete()
    with time_machine.travel(timezone.now() + lease_over):
        run_tasks()
    assert _task_rows()["run_panel_operation"] == 1
    op.refresh_from_db()
    # The second attempt looked for what the first may have made, then created the line.
    assert op.status == PanelOperation.Status.SUCCEEDED and op.attempts == 2
    assert Line.objects.get().status == Line.Status.ACTIVE
    assert len(xui_emulator.lines()) == 1


@pytest.mark.django_db(transaction=True)
def test_it_does_not_queue_again_what_waits_in_the_queue(make_order, panel):
    order = make_order(gateway="stripe")
    stored, _ = webhook_event_store(gateway="stripe", event=_completed_event(order, event_id="q"))
    assert _task_rows() == Counter({"process_webhook_event": 1})

    # Long behind a burst: the event is old, its task still queued.
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert webhook_events_redrive() == 0
    assert _task_rows() == Counter({"process_webhook_event": 1})

    # Its task row gone (a crash of the queue's database, a purge): queued again, once, at the
    # first pass after the re-drive age (a queued event is looked at again only after it).
    DBTaskResult.objects.all().delete()
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert webhook_events_redrive() == 1
        assert webhook_events_redrive() == 0
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED


@pytest.mark.django_db(transaction=True)
def test_it_prunes_finished_task_rows_and_keeps_waiting_ones(settings):
    settings.TASK_ROWS_KEEP_SECONDS = 600
    for n in range(3):
        run_panel_operation.enqueue(n)
    done_long_ago, done_now, _waiting = DBTaskResult.objects.order_by("enqueued_at")
    now = timezone.now()
    DBTaskResult.objects.filter(pk=done_long_ago.pk).update(
        status="SUCCESSFUL", finished_at=now - timedelta(hours=1)
    )
    DBTaskResult.objects.filter(pk=done_now.pk).update(status="SUCCESSFUL", finished_at=now)

    assert tasks_finished_purge() == 1

    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL", "READY"}
