"""`boxoffice bench_seed --customers N`: N existing customers, each with a paid order and an
active line on the first panel, for `make bench`'s growth figures (and anyone sizing a machine).

Fast at a million: each table is filled by one `INSERT ... SELECT` over a generated series in
the database itself (no Python object per row), from a template row that Django prepares once,
so every column (defaults, encrypted fields, JSON) is what the ORM would have written.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line

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


def _clone(model: type[models.Model], template: models.Model, count: int, per_row: dict) -> int:
    """Insert `count` copies of the unsaved `template`, ids after the current maximum, the
    columns in `per_row` computed from `n` (SQL expressions; `{id0}` is the first id - 1)."""
    table = model._meta.db_table
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {qn(table)}")  # noqa: S608
        id0 = cursor.fetchone()[0]
    columns, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        columns.append(qn(field.column))
        if field.primary_key:
            exprs.append(f"{id0} + n")
        elif field.attname in per_row:
            exprs.append(per_row[field.attname].format(id0=id0))
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
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {id0 + count})"  # noqa: S608
            )
    return id0


class Command(BaseCommand):
    help = "Seed N customers with a paid order and an active line each (benchmarks)."

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
                c0 = _clone(
                    Customer,
                    Customer(email="x@example.test", created_at=now),
                    count,
                    {"email": _concat(f"'{tag}'", "CAST(n AS TEXT)", "'@example.test'")},
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
                        paid_at=now,
                        created_at=now - timedelta(days=1),
                    ),
                    count,
                    {
                        "customer_id": f"{c0} + n",
                        "reference": _concat(f"'S{tag}'", "CAST(n AS TEXT)"),
                        "status_token_hash": "NULL",
                    },
                )
                _clone(
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
                        # Spread over the coming year: none is due for expiry during a run.
                        expires_at=now + timedelta(days=30),
                        activated_at=now,
                        created_at=now - timedelta(days=1),
                    ),
                    count,
                    {
                        "customer_id": f"{c0} + n",
                        "order_id": f"{o0} + n",
                        "username": _concat(f"'{tag}'", "CAST(n AS TEXT)"),
                        "panel_line_id": "CAST(n AS TEXT)",
                    },
                )
            done += count
            self.stdout.write(f"  {done} customers ({time.monotonic() - started:.1f}s)")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(
            f"seeded {customers} customers, orders and lines in {time.monotonic() - started:.1f}s"
        )
