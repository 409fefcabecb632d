"""Where one paid order's CPU goes: the webhook request and the worker's task, under cProfile.

A companion to `bench_activation.py` (which measures what a customer experiences): this one runs
N orders in one process, the webhook posted through Django's handler and the task that carries
the order to its line and credentials mail run in this thread, with the XUI One emulator (a
subprocess, no latency: the panel's 50 ms are not CPU) and an SMTP sink on loopback. It prints
the queries and commits per order and the functions that cost the most, in production settings.

    .venv/bin/python bench/profile_order.py            # 200 orders, SQLite
    PROFILE_ORDERS=100 DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_perf \
        .venv/bin/python bench/profile_order.py        # PostgreSQL (its schema is dropped)

Environment: PROFILE_ORDERS (200), PROFILE_TOP (35), PROFILE_PORT_BASE (9820), PROFILE_SORT
(tottime, cumulative, or none: CPU time only), PROFILE_OUT (a .prof file for snakeviz and friends).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import (  # noqa: E402 - beside this file
    HOST,
    PY,
    ROOT,
    Sink,
    _free,
    _wait_for,
    paid_event,
    production_env,
)


def main() -> None:
    n = int(os.environ.get("PROFILE_ORDERS", 200))
    base = int(os.environ.get("PROFILE_PORT_BASE", 9820))
    panel_port, smtp_port = _free(base + 1), _free(base + 2)
    var = Path(tempfile.mkdtemp(prefix="boxoffice-profile-"))
    secret = "whsec_" + secrets.token_hex(16)
    os.environ.update(production_env(var=var, smtp_port=smtp_port, webhook_secret=secret))
    pg = os.environ.get("DATABASE_URL", "").startswith("postgres")
    if pg:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    sys.path.insert(0, str(ROOT))
    import django  # noqa: PLC0415

    django.setup()
    from decimal import Decimal  # noqa: PLC0415

    import stripe  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from django.test import Client  # noqa: PLC0415
    from django.test.utils import CaptureQueriesContext  # noqa: PLC0415

    from boxoffice.billing.models import WebhookEvent  # noqa: PLC0415
    from boxoffice.billing.services import order_create  # noqa: PLC0415
    from boxoffice.billing.tasks import process_webhook_event  # noqa: PLC0415
    from boxoffice.catalog.models import Plan, PlanPanel  # noqa: PLC0415
    from boxoffice.customers.services import customer_create  # noqa: PLC0415
    from boxoffice.panels.models import Panel  # noqa: PLC0415

    call_command("migrate", verbosity=0)
    emulator = subprocess.Popen(
        [PY, "-m", "boxoffice_dev.xui_one", "--port", str(panel_port), "--api-key", "testkey"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sink = Sink(smtp_port)
    try:
        import httpx  # noqa: PLC0415

        url = f"http://127.0.0.1:{panel_port}"
        _wait_for(lambda: httpx.get(f"{url}/_emulator/faults").status_code == 200, "the panel")
        panel = Panel.objects.create(
            name="Profile panel",
            kind="xui_one",
            api_url=url,
            settings={"access_code": "adminapi1"},
            secrets={"api_key": "testkey"},
            public_url=url,
            capacity=10_000_000,
        )
        plan = Plan.objects.create(
            slug="m", name="Monthly", duration_days=30, connections=1, price=Decimal("9.99")
        )
        PlanPanel.objects.create(plan=plan, panel=panel, mapping={"bouquets": [1, 2]})
        orders = []
        for i in range(n + 5):
            customer = customer_create(email=f"p{i}@example.test")
            orders.append(order_create(customer=customer, plan=plan, gateway="stripe"))
        client = Client()
        web, worker = cProfile.Profile(), cProfile.Profile()
        profiling = os.environ.get("PROFILE_SORT", "cumulative") != "none"
        cpu = {"web": 0.0, "worker": 0.0}
        queries = {"web": 0, "worker": 0}
        commits = {"web": 0, "worker": 0}
        real_commit = connection._commit

        def counting_commit(side: str):
            def commit():
                commits[side] += 1
                return real_commit()

            return commit

        started = time.perf_counter()
        for i, order in enumerate(orders):
            warm = i < 5  # imports, first template compiles, first connections
            body = json.dumps(paid_event(order.reference, f"evt_{order.reference}"))
            header = stripe.WebhookSignature.generate_signature_header(body, secret)
            connection._commit = counting_commit("web")
            connection.queries_log.clear()  # a full log (9000) would miscount the captures
            with CaptureQueriesContext(connection) as web_q:
                if not warm and profiling:
                    web.enable()
                t0 = time.thread_time()
                response = client.post(
                    "/billing/webhooks/stripe/",
                    body,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=header,
                    HTTP_HOST=HOST,
                    HTTP_X_FORWARDED_PROTO="https",
                )
                t1 = time.thread_time()
                if not warm and profiling:
                    web.disable()
            assert response.status_code == 200, response.content
            event_pk = WebhookEvent.objects.get(event_id=f"evt_{order.reference}").pk
            connection._commit = counting_commit("worker")
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as worker_q:
                if not warm and profiling:
                    worker.enable()
                t2 = time.thread_time()
                process_webhook_event.call(event_pk)
                t3 = time.thread_time()
                if not warm and profiling:
                    worker.disable()
            connection._commit = real_commit
            if i == 5 and os.environ.get("PROFILE_SQL"):
                for side, captured in (("web", web_q), ("worker", worker_q)):
                    print(f"-- {side}: {len(captured)} queries")
                    for q in captured.captured_queries:
                        print("  ", q["sql"][:160])
            if not warm:
                cpu["web"] += t1 - t0
                cpu["worker"] += t3 - t2
                queries["web"] += len(web_q)
                queries["worker"] += len(worker_q)
            else:
                commits = {"web": 0, "worker": 0}
        elapsed = time.perf_counter() - started
        sink.wait([f"p{i}@example.test" for i in range(n + 5)], 60)
        print(
            f"{n} orders in {elapsed:.1f}s ({'PostgreSQL' if pg else 'SQLite'}); per order: "
            f"web {queries['web'] / n:.1f} queries, {commits['web'] / n:.1f} commits; "
            f"worker {queries['worker'] / n:.1f} queries, {commits['worker'] / n:.1f} commits"
        )
        print(
            f"CPU per order (this thread, no profiler when PROFILE_SORT=none): web "
            f"{cpu['web'] / n * 1000:.2f} ms, worker {cpu['worker'] / n * 1000:.2f} ms"
        )
        if not profiling:
            return
        for name, prof in (("web (the webhook request)", web), ("worker (the task)", worker)):
            stats = pstats.Stats(prof)
            total = stats.total_tt
            print(f"\n== {name}: {total / n * 1000:.2f} ms CPU per order")
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(
                os.environ.get("PROFILE_SORT", "cumulative")
            ).print_stats(int(os.environ.get("PROFILE_TOP", 35)))
            print(out.getvalue().split("\n", 6)[-1])
            if os.environ.get("PROFILE_OUT"):
                prof.dump_stats(f"{os.environ['PROFILE_OUT']}.{name.split()[0]}")
    finally:
        emulator.terminate()
        sink.controller.stop()


if __name__ == "__main__":
    main()
