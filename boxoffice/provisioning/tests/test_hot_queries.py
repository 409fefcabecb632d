"""The hot queries of the per-order path and the scheduler's passes: how many, and that an index
answers each (no full scan of lines, orders, events or operations), so cost stays independent
of how many customers there are. Checked with EXPLAIN on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from boxoffice.billing.webhooks import webhook_events_redrive
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.reconcile import lines_mark_expired
from boxoffice.provisioning.usernames import username_allocate

HOT_TABLES = (
    "provisioning_line",
    "billing_order",
    "billing_webhookevent",
    "provisioning_paneloperation",
)


def _full_scans(sql: str) -> list[str]:
    """The hot tables that `sql` would read in full (no index to search)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Planner costs on a tiny table prefer a scan even where an index serves: forbid it,
            # so a scan in the plan means no index can answer the query.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            return [t for t in HOT_TABLES if re.search(rf"Seq Scan on {t}\b", plan)]
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        plan = "\n".join(row[-1] for row in cursor.fetchall())
        # SQLite: "SEARCH t USING INDEX" reads what it needs; "SCAN t" reads every row.
        return [t for t in HOT_TABLES if re.search(rf"\bSCAN {t}\b", plan)]


def _selects(fn) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [
        q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")
    ]


def _line(panel, plan, customer, username: str, **kw) -> Line:
    return Line.objects.create(
        customer=customer, plan=plan, panel=panel, username=username, password="pw12345678", **kw
    )


@pytest.mark.django_db
def test_it_allocates_a_username_in_one_indexed_query(panel, plan, customer):
    _line(panel, plan, customer, "jane1234")

    with CaptureQueriesContext(connection) as ctx:
        name, adjusted = username_allocate(panel_id=panel.pk, requested="jane1234")

    assert (name, adjusted) == ("jane12341", True)
    assert len(ctx.captured_queries) == 1
    assert _full_scans(ctx.captured_queries[0]["sql"]) == []


@pytest.mark.django_db
def test_it_treats_usernames_that_differ_only_in_case_as_the_same(panel, plan, customer):
    _line(panel, plan, customer, "Jane1234")
    _line(panel, plan, customer, "JANE12341")

    assert username_allocate(panel_id=panel.pk, requested="jane1234") == ("jane12342", True)
    assert username_allocate(panel_id=panel.pk, requested="JaNe9999") == ("JaNe9999", False)


@pytest.mark.django_db
def test_it_finds_a_free_name_past_a_long_run_of_taken_ones(panel, plan, customer):
    for n in range(0, 45):
        _line(panel, plan, customer, "busy" + (str(n) if n else ""))

    assert username_allocate(panel_id=panel.pk, requested="busy") == ("busy45", True)


@pytest.mark.django_db
def test_it_marks_expired_lines_reading_only_the_lines_due(panel, plan, customer):
    now = timezone.now()
    _line(panel, plan, customer, "past0001", status="active", expires_at=now - timedelta(hours=1))
    _line(panel, plan, customer, "future01", status="active", expires_at=now + timedelta(days=3))

    selects = _selects(lines_mark_expired)

    assert set(Line.objects.values_list("username", "status")) == {
        ("past0001", "expired"),
        ("future01", "active"),
    }
    # The precompiled EXISTS that says there is work, then the read of the lines due: both
    # through an index.
    assert len(selects) == 2
    assert [_full_scans(sql) for sql in selects] == [[], []]


@pytest.mark.django_db
def test_an_idle_expiry_pass_is_one_indexed_exists(panel, plan, customer):
    now = timezone.now()
    _line(panel, plan, customer, "future01", status="active", expires_at=now + timedelta(days=3))

    selects = _selects(lines_mark_expired)

    assert Line.objects.get().status == "active"
    assert len(selects) == 1
    assert selects[0].upper().startswith("SELECT 1")
    assert _full_scans(selects[0]) == []


@pytest.mark.django_db
def test_it_looks_for_webhook_events_to_redrive_through_an_index():
    selects = _selects(webhook_events_redrive)

    assert len(selects) == 1
    assert _full_scans(selects[0]) == []
