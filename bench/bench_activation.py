"""Benchmark: signed webhook in -> line on the panel -> credentials mail handed to SMTP.

Runs against a fresh SQLite database in a temporary folder, the XUI One emulator with a fixed
50 ms latency, the local inbox, and a real `boxoffice worker` process. Prints figures and ratios
against the unavoidable I/O (one panel call, one SMTP hand-off, a few commits); no verdicts.

    make bench            # or: .venv/bin/python bench/bench_activation.py --orders 30
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=25)
    parser.add_argument("--panel-latency-ms", type=int, default=50)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="boxoffice-bench-"))
    os.environ.update(
        BOXOFFICE_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="boxoffice.settings",
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from boxoffice_dev.smtp_inbox import LocalInbox
    from boxoffice_dev.xui_one.server import XuiOneEmulator

    call_command("migrate", verbosity=0)
    panel_emu = XuiOneEmulator(port=0, access_code="adminapi1", api_key="bench-key").start()
    inbox = LocalInbox(port=0, directory=var / "inbox")
    inbox.start()
    os.environ.update(EMAIL_PORT=str(inbox.port))
    settings.EMAIL_PORT = inbox.port

    from decimal import Decimal

    import stripe
    from django.test import Client

    from boxoffice.billing.services import order_create
    from boxoffice.catalog.models import Plan, PlanPanel
    from boxoffice.customers.services import customer_create
    from boxoffice.messaging.models import Message
    from boxoffice.panels.models import Panel

    panel = Panel.objects.create(
        name="Bench panel",
        kind="xui_one",
        api_url=panel_emu.base_url,
        settings={"access_code": "adminapi1"},
        secrets={"api_key": "bench-key"},
        public_url=panel_emu.base_url,
        timeout_seconds=5,
    )
    plan = Plan.objects.create(
        slug="m", name="Monthly", duration_days=30, connections=1, price=Decimal("9.99")
    )
    PlanPanel.objects.create(
        plan=plan, panel=panel, mapping={"bouquets": [1, 2], "outputs": ["m3u8", "ts"]}
    )

    # The unavoidable I/O, measured on this machine.
    panel_emu.set_faults(mode="ok", latency_ms=args.panel_latency_ms)
    adapter = panel.adapter()
    panel_call = statistics.median(_timed(lambda: adapter.health()) for _ in range(5))
    from django.core.mail import send_mail

    smtp = statistics.median(
        _timed(lambda: send_mail("x", "y", None, ["b@example.test"])) for _ in range(5)
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit (x integer)")

    def commit() -> None:
        from django.db import transaction

        with transaction.atomic(), connection.cursor() as c:
            c.execute("INSERT INTO bench_commit VALUES (1)")

    commit_time = statistics.median(_timed(commit) for _ in range(10))
    unavoidable = panel_call + smtp + 3 * commit_time

    env = {**os.environ, "EMAIL_PORT": str(inbox.port)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "boxoffice.cli", "worker", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    client = Client()
    webhook_times, totals = [], []
    try:
        for i in range(args.orders):
            customer = customer_create(email=f"bench{i}@example.test")
            order = order_create(customer=customer, plan=plan, gateway="stripe")
            event = {
                "id": f"evt_bench_{i}",
                "object": "event",
                "type": "checkout.session.completed",
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": f"cs_{i}",
                        "object": "checkout.session",
                        "client_reference_id": order.reference,
                        "payment_status": "paid",
                        "payment_intent": f"pi_{i}",
                        "amount_total": 999,
                        "currency": "eur",
                    }
                },
            }
            body = json.dumps(event)
            header = stripe.WebhookSignature.generate_signature_header(
                body, settings.STRIPE_WEBHOOK_SECRET
            )
            start = time.perf_counter()
            response = client.post(
                "/billing/webhooks/stripe/",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            webhook_times.append(time.perf_counter() - start)
            assert response.status_code == 200, response.content
            while not Message.objects.filter(
                order=order, kind="credentials", status="sent"
            ).exists():
                if time.perf_counter() - start > 30:
                    raise SystemExit(f"order {i} not activated within 30 s")
                time.sleep(0.002)
            totals.append(time.perf_counter() - start)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=15)
        panel_emu.stop()
        inbox.stop()
    lines = len(panel_emu.lines())
    med = statistics.median(totals)
    print(f"orders                         {args.orders} (lines on the panel: {lines})")
    print(
        f"panel call (latency {args.panel_latency_ms} ms)      median {panel_call * 1000:7.1f} ms"
    )
    print(f"SMTP hand-off                  median {smtp * 1000:7.1f} ms")
    print(f"commit                         median {commit_time * 1000:7.2f} ms")
    print(f"unavoidable I/O                       {unavoidable * 1000:7.1f} ms")
    print(
        f"webhook answered               median {statistics.median(webhook_times) * 1000:7.1f} ms"
    )
    print(
        f"webhook -> mail sent           median {med * 1000:7.1f} ms  p90 {_p90(totals) * 1000:7.1f} ms"
    )
    print(f"ratio to unavoidable I/O       median {med / unavoidable:7.2f}x  (budget 1.5x)")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


if __name__ == "__main__":
    main()
