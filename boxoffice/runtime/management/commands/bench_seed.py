"""`boxoffice bench_seed --customers N`: N existing customers as a shop that has run for a while
leaves them, for `make bench`'s growth figures (and anyone sizing a machine): each with a paid
order, its processed webhook event and confirmed payment, a line (most active, expiries spread
over the coming year so none is due during a run; some expired long ago, some suspended by an
operator), the succeeded create operation, the sent credentials mail and a few audit events;
plus the finished task rows of a busy day (kept ones: successful within TASK_ROWS_KEEP_SECONDS,
failed within the week). What the scheduler's passes scan is there, so their cost shows.

Fast at a million: each table is filled by one `INSERT ... SELECT` over a generated series in
the database itself (no Python object per row), from a template row that Django prepares once,
so every column (defaults, encrypted fields, JSON) is what the ORM would have written.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from boxoffice.audit.models import AuditEvent
from boxoffice.billing.models import Order, Payment, WebhookEvent
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation

BATCH = 200_000


def _series(count: int) -> str:
    """SQL yielding rows `n` = 1..count."""
    if connection.vendor == "postgresql":
        return f"SELECT generate_series(1, {int(count)}) AS n"  # noqa: S608 - an int
    return (
        f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {int(count)}) "  # noqa: S608
        "SELECT n FROM s"
    )


def _concat(*parts: str) -> str:
    return " || ".join(parts)


def _at(moment: datetime, seconds: str) -> str:
    """SQL for `moment` plus `seconds` (an SQL integer expression of `n`, may be negative), in
    the column format Django writes (SQLite: UTC text; PostgreSQL: timestamptz)."""
    if connection.vendor == "postgresql":
        return f"(TIMESTAMPTZ '{moment.isoformat()}' + ({seconds}) * INTERVAL '1 second')"
    base = moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return f"strftime('%Y-%m-%d %H:%M:%f', '{base}', ({seconds}) || ' seconds')"


def _case(n_mod: int, cases: dict[int, str], default: str) -> str:
    """SQL choosing by `n % n_mod`: `cases` maps a remainder to an SQL expression."""
    whens = " ".join(f"WHEN {int(r)} THEN {sql}" for r, sql in cases.items())
    return f"CASE n % {int(n_mod)} {whens} ELSE {default} END"


def _uuid(prefix: str) -> str:
    """SQL for a distinct UUID per `n` (a random 20-hex prefix per batch), as Django stores one:
    PostgreSQL's uuid type, SQLite's 32 hex characters."""
    if connection.vendor == "postgresql":
        p = prefix
        return (
            f"CAST('{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-' || lpad(to_hex(n), 12, '0') AS uuid)"
        )
    return f"'{prefix}' || printf('%012x', n)"


def _clone(model: type[models.Model], template: models.Model, count: int, per_row: dict) -> int:
    """Insert `count` copies of the unsaved `template`, ids after the current maximum, the
    columns in `per_row` computed from `n` (SQL expressions; a primary key there replaces the
    ids after the maximum, e.g. for UUIDs). Returns the first id - 1."""
    table = model._meta.db_table
    qn = connection.ops.quote_name
    pk = model._meta.pk
    id0 = 0
    if pk.attname not in per_row:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {qn(table)}")  # noqa: S608
            id0 = cursor.fetchone()[0]
    columns, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        columns.append(qn(field.column))
        if field.primary_key and field.attname not in per_row:
            exprs.append(f"{id0} + n")
        elif field.attname in per_row:
            # Literal % doubled: the statement carries parameters.
            exprs.append(per_row[field.attname].replace("%", "%%"))
        else:
            value = field.get_db_prep_save(field.pre_save(template, add=True), connection)
            exprs.append("%s")
            params.append(value)
    sql = (
        f"INSERT INTO {qn(table)} ({', '.join(columns)}) "  # noqa: S608 - names from _meta
        f"SELECT {', '.join(exprs)} FROM ({_series(count)}) AS series"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if connection.vendor == "postgresql" and pk.attname not in per_row:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {id0 + count})"  # noqa: S608
            )
    return id0


def _json(sql: str) -> str:
    """SQL text of JSON as a JSON column takes it."""
    return f"CAST({sql} AS jsonb)" if connection.vendor == "postgresql" else sql


DAY = 86400


def _seed_batch(*, panel: Panel, plan: Plan, now: datetime, count: int, tag: str) -> None:
    """One batch of `count` customers with everything they own: one INSERT ... SELECT a table."""
    yesterday = now - timedelta(days=1)
    c0 = _clone(
        Customer,
        Customer(email="x@example.test", created_at=yesterday),
        count,
        {"email": _concat(f"'{tag}'", "CAST(n AS TEXT)", "'@example.test'")},
    )
    e0 = _clone(
        WebhookEvent,
        WebhookEvent(
            gateway="stripe",
            event_id="x",
            event_type="checkout.session.completed",
            payload={"seeded": True},
            status=WebhookEvent.Status.PROCESSED,
            attempts=1,
            received_at=yesterday,
            processed_at=yesterday,
        ),
        count,
        {"event_id": _concat(f"'evt_{tag}'", "CAST(n AS TEXT)")},
    )
    o0 = _clone(
        Order,
        Order(
            plan=plan,
            customer_id=c0 + 1,
            status=Order.Status.PAID,
            amount=Decimal(plan.price),
            currency=plan.currency,
            gateway="stripe",
            paid_at=yesterday,
            created_at=yesterday,
        ),
        count,
        {
            "customer_id": f"{c0} + n",
            "reference": _concat(f"'S{tag}'", "CAST(n AS TEXT)"),
            "status_token_hash": "NULL",
            # Each paid Stripe order carries its own checkout session id, as in a real shop
            # (one shared value would tell the planner the column's index is useless).
            "gateway_reference": _concat(f"'cs_{tag}'", "CAST(n AS TEXT)"),
        },
    )
    _clone(
        Payment,
        Payment(
            order_id=o0 + 1,
            gateway="stripe",
            status=Payment.Status.CONFIRMED,
            amount=Decimal(plan.price),
            currency=plan.currency,
            source_event_id=e0 + 1,
            created_at=yesterday,
        ),
        count,
        {
            "order_id": f"{o0} + n",
            "source_event_id": f"{e0} + n",
            "gateway_payment_id": _concat(f"'pi_{tag}'", "CAST(n AS TEXT)"),
        },
    )
    # One line in 50 expired long ago (past its whole renewal lifecycle), one in 100 suspended
    # by an operator; the rest active, expiring 30 to 395 days from now (no reminder is due).
    l0 = _clone(
        Line,
        Line(
            customer_id=c0 + 1,
            plan=plan,
            order_id=o0 + 1,
            panel=panel,
            username="x",
            password="seededpassword1",  # noqa: S106 - one shared seed value
            status=Line.Status.ACTIVE,
            connections=plan.connections,
            activated_at=yesterday,
            created_at=yesterday,
        ),
        count,
        {
            "customer_id": f"{c0} + n",
            "order_id": f"{o0} + n",
            "username": _concat(f"'{tag}'", "CAST(n AS TEXT)"),
            "panel_line_id": "CAST(n AS TEXT)",
            "status": _case(100, {0: "'expired'", 50: "'expired'", 7: "'suspended'"}, "'active'"),
            "suspension_reason": _case(100, {7: "'operator: chargeback review'"}, "''"),
            "expires_at": _case(
                100,
                {
                    0: _at(now, f"-(60 + n % 300) * {DAY}"),
                    50: _at(now, f"-(60 + n % 300) * {DAY}"),
                },
                _at(now, f"(30 + n % 365) * {DAY} + n % {DAY}"),
            ),
        },
    )
    _clone(
        PanelOperation,
        PanelOperation(
            line_id=l0 + 1,
            panel=panel,
            order_id=o0 + 1,
            kind=PanelOperation.Kind.CREATE,
            status=PanelOperation.Status.SUCCEEDED,
            attempts=1,
            next_attempt_at=yesterday,
            created_at=yesterday,
            started_at=yesterday,
            finished_at=yesterday,
        ),
        count,
        {
            "line_id": f"{l0} + n",
            "order_id": f"{o0} + n",
            "idempotency_key": _concat(f"'seed-{tag}'", "CAST(n AS TEXT)"),
        },
    )
    _clone(
        Message,
        Message(
            kind="credentials",
            to_email="x@example.test",
            subject="Your line is ready",
            body_text="Your username and password (seeded).",
            body_html="<p>Your username and password (seeded).</p>",
            status=Message.Status.SENT,
            attempts=1,
            next_attempt_at=yesterday,
            queued_at=yesterday,
            created_at=yesterday,
            sent_at=yesterday,
        ),
        count,
        {
            "to_email": _concat(f"'{tag}'", "CAST(n AS TEXT)", "'@example.test'"),
            "dedupe_key": _concat("'credentials:line:'", f"CAST({l0} + n AS TEXT)"),
            "customer_id": f"{c0} + n",
            "order_id": f"{o0} + n",
            "line_id": f"{l0} + n",
        },
    )
    # Three per customer: the order paid, the line reserved, the line active.
    who = "((n - 1) / 3 + 1)"
    _clone(
        AuditEvent,
        AuditEvent(subject_type="x", subject_id="x", action="x", created_at=yesterday),
        3 * count,
        {
            "created_at": _at(yesterday, "n % 3"),
            "subject_type": _case(3, {1: "'billing.order'"}, "'provisioning.line'"),
            "subject_id": _case(
                3, {1: f"CAST({o0} + {who} AS TEXT)"}, f"CAST({l0} + {who} AS TEXT)"
            ),
            "action": _case(3, {1: "'order.paid'", 2: "'line.reserved'"}, "'line.active'"),
        },
    )
    # The task rows a day leaves (the purge keeps successful ones for TASK_ROWS_KEEP_SECONDS,
    # failed ones a week): a burst's worth of successes, and one failure per 100 customers.
    keep = int(settings.TASK_ROWS_KEEP_SECONDS)
    for status, rows, path, age in (
        (TaskResultStatus.SUCCESSFUL, count // 200, "billing.tasks.process_webhook_event", keep),
        (TaskResultStatus.FAILED, count // 100, "provisioning.tasks.run_panel_operation", 6 * DAY),
    ):
        if not rows:
            continue
        finished = f"-(n * {age - 60} / {rows}) - 30"  # spread over the age, newest 30 s ago
        _clone(
            DBTaskResult,
            DBTaskResult(
                status=status,
                args_kwargs={"args": [0], "kwargs": {}},
                task_path=f"boxoffice.{path}",
                backend_name="default",
                run_after=get_date_max(),
                worker_ids=["seeded"],
                exception_class_path="" if status == TaskResultStatus.SUCCESSFUL else "x.Error",
                traceback="",
            ),
            rows,
            {
                "id": _uuid(secrets.token_hex(10)),
                "args_kwargs": _json(
                    _concat("'{\"args\": ['", "CAST(n AS TEXT)", "'], \"kwargs\": {}}'")
                ),
                "enqueued_at": _at(now, f"{finished} - 1"),
                "started_at": _at(now, f"{finished} - 1"),
                "finished_at": _at(now, finished),
            },
        )


class Command(BaseCommand):
    help = "Seed N customers with what a running shop keeps for each (benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True)
        parser.add_argument("--prefix", default="seed", help="of e-mails and usernames")

    def handle(self, *args, customers: int, prefix: str, **options):
        panel = Panel.objects.order_by("pk").first()
        plan = Plan.objects.order_by("pk").first()
        if panel is None or plan is None:
            raise CommandError("create a panel and a plan first")
        started = time.monotonic()
        now = timezone.now()
        done = 0
        while done < customers:
            count = min(BATCH, customers - done)
            tag = f"{prefix}{done // BATCH}x"
            with transaction.atomic():
                _seed_batch(panel=panel, plan=plan, now=now, count=count, tag=tag)
            done += count
            self.stdout.write(f"  {done} customers ({time.monotonic() - started:.1f}s)")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(f"seeded {customers} customers in {time.monotonic() - started:.1f}s")
