"""The worker scheduler's passes cost the same at any size: on a shop seeded by `bench_seed`
(customers with their orders, payments, events, lines, operations, mails, audit events and task
rows) and analysed, so the planner sees the real proportions, each pass runs a fixed number of
queries when nothing is due and none reads a big table in full. Checked with the statements as
they run (bound parameters: SQLite matches a partial index only against literals) under
EXPLAIN QUERY PLAN on SQLite and EXPLAIN on PostgreSQL."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from boxoffice.billing.models import WebhookEvent
from boxoffice.billing.refunds import refund_requests_redrive
from boxoffice.billing.services import orders_flag_stale_pending, orders_provision_paid
from boxoffice.billing.tasks import process_webhook_event
from boxoffice.billing.tests.test_paid_ends_in_line_or_review import _completed_event
from boxoffice.billing.webhooks import webhook_event_store, webhook_events_redrive
from boxoffice.lib.tasks import tasks_finished_purge
from boxoffice.messaging.services import messages_deliver_due
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.panel_catalog import panels_catalog_refresh_due
from boxoffice.provisioning import reconcile
from boxoffice.provisioning.drift import line_sweeps_schedule
from boxoffice.provisioning.lifecycle import lines_lifecycle_run
from boxoffice.provisioning.models import Line, PanelSweep
from boxoffice.provisioning.onboarding import onboarding_run

BIG_TABLES = (
    "customers_customer",
    "billing_order",
    "billing_payment",
    "billing_webhookevent",
    "provisioning_line",
    "provisioning_paneloperation",
    "messaging_message",
    "audit_auditevent",
    "django_tasks_database_dbtaskresult",
)
# Reading one of these whole is reading only the rows still live (their condition says which).
PARTIAL_INDEXES = (
    "paneloperation_open",
    "line_lifecycle_late",
    "message_owed",
    "webhookevent_received",
    "order_payment_pending",
    "task_live_by_path",
)

# Each pass and the number of statements it runs when nothing is due.
PASSES = [
    ("operations", reconcile.operations_reconcile, 5),
    ("paid orders", orders_provision_paid, 1),
    ("stale pending payments", orders_flag_stale_pending, 1),
    ("webhook events", webhook_events_redrive, 1),
    ("refunds", refund_requests_redrive, 1),
    ("renewal lifecycle", lines_lifecycle_run, 4),
    ("welcome sequence", onboarding_run, 2),
    ("line reconciliation", line_sweeps_schedule, 2),
    ("mail", messages_deliver_due, 2),
    ("finished task rows", tasks_finished_purge, 1),
    ("panel bouquets and packages", panels_catalog_refresh_due, 1),
]


def _full_scans(sql: str, params) -> list[str]:
    """The big tables that the statement would read in full."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # On tables this small the planner prefers a scan where an index serves: forbid
            # it, so a scan left in the plan means no index can answer.
            # (Session-wide and reset after: SET LOCAL is void outside a transaction, as in
            # the transactional test of the per-order path.)
            cursor.execute("SET enable_seqscan = off")
            try:
                cursor.execute("EXPLAIN " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            finally:
                cursor.execute("RESET enable_seqscan")
            return [t for t in BIG_TABLES if re.search(rf"Seq Scan on {t}\b", plan)]
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        rows = [row[-1] for row in cursor.fetchall()]
    # SQLite: "SEARCH t USING INDEX" reads what it needs; "SCAN t" reads every row, unless it
    # scans a partial index (only the live rows).
    scans = []
    for row in rows:
        for table in BIG_TABLES:
            if re.search(rf"\bSCAN {table}\b", row) and not any(
                re.search(rf"USING (COVERING )?INDEX {index}\b", row) for index in PARTIAL_INDEXES
            ):
                scans.append(table)
    return scans


def _statements(fn) -> list[tuple[str, tuple]]:
    """The statements `fn` runs, with their parameters (not interpolated: SQLite plans them as
    they are bound)."""
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        fn()
    return [
        (sql, params)
        for sql, params in seen
        if not re.match(r"\s*(BEGIN|COMMIT|SAVEPOINT|RELEASE|ROLLBACK|NOTIFY)", sql, re.I)
    ]


@pytest.fixture
def seeded_shop(panel, plan, monkeypatch):
    """300 customers as `bench_seed` leaves them, nothing due, and the statistics analysed."""
    call_command("bench_seed", customers=300, stdout=open("/dev/null", "w"))  # noqa: SIM115
    now = timezone.now()
    Panel.objects.update(last_probe_at=now, catalog_synced_at=now)
    PanelSweep.objects.create(panel=panel, next_page_at=now + timedelta(days=1))
    # The panels' occupied counters are recounted once an hour (a scan by design): not now.
    monkeypatch.setattr(reconcile, "_recount_due", time.monotonic() + 3600)
    tasks_finished_purge()  # the seeded rows past their keep time: gone, as the pass leaves them
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "step", "queries"), PASSES, ids=[p[0] for p in PASSES])
def test_it_runs_each_scheduler_pass_in_a_few_indexed_queries_when_nothing_is_due(
    seeded_shop, name, step, queries
):
    statements = _statements(step)

    assert len(statements) == queries, [sql for sql, _ in statements]
    assert {sql: _full_scans(sql, params) for sql, params in statements} == {
        sql: [] for sql, _ in statements
    }


# The passes that run every second: idle, they ask their questions with SQL compiled once per
# process (`lib/exists.py`), not built by the ORM each time (a millisecond of CPU per query).
PER_SECOND = ["operations", "paid orders", "webhook events", "refunds", "mail"]


@pytest.mark.django_db
def test_the_per_second_passes_compile_no_query_when_nothing_is_due(seeded_shop, monkeypatch):
    steps = [step for name, step, _ in PASSES if name in PER_SECOND]
    for step in steps:
        step()  # the first pass compiles what it will reuse
    compiled = []
    real_as_sql = SQLCompiler.as_sql

    def counting_as_sql(self, *args, **kwargs):
        compiled.append(self.query.model.__name__)
        return real_as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting_as_sql)
    statements = _statements(lambda: [step() for step in steps])

    assert compiled == []
    assert len(statements) == sum(q for name, _, q in PASSES if name in PER_SECOND)


def _plans(sql: str, params) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(row[-1] for row in cursor.fetchall())


# The index each look reads through: an index over every status would be picked too when its
# own is gone, and on a million rows of one status it reads them all.
INDEX_OF = [
    ("paneloperation_open", reconcile.orders_notify_delays),
    ("line_lifecycle_late", lines_lifecycle_run),
    ("line_status_expires", reconcile.lines_mark_expired),
    ("task_finished", tasks_finished_purge),
    ("order_status_paid", orders_provision_paid),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("index", "step"), INDEX_OF, ids=[i for i, _ in INDEX_OF])
def test_it_reads_each_look_through_its_own_index(seeded_shop, index, step):
    plans = "\n".join(_plans(sql, params) for sql, params in _statements(step))

    assert re.search(rf"\b{index}\b", plans), plans


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("index", "step"),
    [("line_lifecycle_late", lines_lifecycle_run), ("task_finished", tasks_finished_purge)],
)
def test_it_sees_the_full_scan_when_an_index_of_a_pass_is_dropped(seeded_shop, index, step):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {index}")
        cursor.execute("ANALYZE")

    statements = _statements(step)

    assert any(_full_scans(sql, params) for sql, params in statements)


def _received_event(n: int, received_at) -> WebhookEvent:
    return WebhookEvent.objects.create(
        gateway="stripe",
        event_id=f"evt_backlog_{n}",
        event_type="checkout.session.completed",
        payload={},
        received_at=received_at,
    )


def _webhook_task_rows() -> list[int]:
    return sorted(
        row["args"][0]
        for row in DBTaskResult.objects.filter(task_path=process_webhook_event.module_path)
        .order_by()
        .values_list("args_kwargs", flat=True)
    )


@pytest.mark.django_db
def test_it_queues_no_second_task_for_a_backlog_and_still_finds_the_lost_event():
    # A burst: 250 events stored, each with its task still queued (more than one pass reads).
    now = timezone.now()
    events = [_received_event(n, now) for n in range(250)]
    for event in events:
        process_webhook_event.enqueue(event.pk)
    lost = events[237]
    DBTaskResult.objects.filter(args_kwargs__args__0=lost.pk).delete()

    # Long past the re-drive age, pass after pass.
    redriven = 0
    for minutes in (5, 5, 6, 7, 8):
        with time_machine.travel(now + timedelta(minutes=minutes)):
            redriven += webhook_events_redrive()

    assert redriven == 1
    assert _webhook_task_rows() == sorted(e.pk for e in events)


@pytest.mark.django_db
def test_it_asks_the_queue_about_the_candidates_only(seeded_shop):
    now = timezone.now()
    events = [_received_event(n, now) for n in range(5)]
    for event in events:
        process_webhook_event.enqueue(event.pk)

    with time_machine.travel(now + timedelta(minutes=5)):
        statements = _statements(webhook_events_redrive)

    task_reads = [
        (sql, params)
        for sql, params in statements
        if sql.lstrip().upper().startswith("SELECT") and "dbtaskresult" in sql
    ]
    assert len(task_reads) == 1
    assert _full_scans(*task_reads[0]) == []


@pytest.mark.django_db
def test_it_counts_a_down_panels_incident_without_reading_its_history(seeded_shop, panel):
    Incident.objects.create(panel=panel, kind=Incident.Kind.PANEL_DOWN)

    statements = _statements(reconcile.incidents_reconcile)

    assert len(statements) == 3  # the open incidents, then two counts
    assert {sql: _full_scans(sql, params) for sql, params in statements} == {
        sql: [] for sql, _ in statements
    }
    plans = "\n".join(_plans(sql, params) for sql, params in statements)
    assert "paneloperation_panel_finished" in plans


@pytest.mark.django_db(transaction=True)
def test_a_paid_orders_path_reads_no_big_table_whole_in_a_seeded_shop(
    seeded_shop, make_order, xui_emulator, smtp_inbox
):
    """The per-order path (webhook intake, then the task to the credentials mail) among 300
    seeded customers: every statement through an index. (A lookup by an order's checkout id
    once ordered by creation, and SQLite walked every order's creation index for it.)"""
    order = make_order(gateway="stripe")
    event = _completed_event(order, event_id="evt_seeded_shop")
    stored = None

    def intake():
        nonlocal stored
        stored, _ = webhook_event_store(gateway="stripe", event=event)

    statements = _statements(intake)
    statements += _statements(lambda: process_webhook_event.call(stored.pk))

    assert Line.objects.get(order=order).status == Line.Status.ACTIVE
    assert {sql: _full_scans(sql, params) for sql, params in statements} == {
        sql: [] for sql, _ in statements
    }
