"""`boxoffice emulate-paypal`: the PayPal emulator as a process of its own (used by `make run`)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from boxoffice_dev.management.serve import serve_until_stopped
from boxoffice_dev.paypal import PayPalEmulator


class Command(BaseCommand):
    help = "Run the PayPal emulator: Orders v2, an approval page and verifiable webhooks."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8300)
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="where events are POSTed, e.g. http://127.0.0.1:8000/billing/webhooks/paypal/",
        )
        parser.add_argument("--client-id", default="emulator-client-id")
        parser.add_argument("--client-secret", default="emulator-client-secret")
        parser.add_argument("--webhook-id", default="WH-EMULATOR")
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(
        self, *args, host, port, webhook_url, client_id, client_secret, webhook_id, quiet, **options
    ):
        emulator = PayPalEmulator(
            host=host,
            port=port,
            client_id=client_id,
            client_secret=client_secret,
            webhook_id=webhook_id,
            webhook_url=webhook_url,
            log_requests=not quiet,
        ).start()
        self.stdout.write(
            f"PayPal emulator on {emulator.base_url} (sandbox)\n"
            f"  PAYPAL_API_BASE={emulator.base_url}\n"
            f"  webhooks: {webhook_url or '(none: set one with POST /_emulator/config)'}\n"
            f"  control:  {emulator.base_url}/_emulator/orders, /_emulator/events\n"
            "Ctrl-C to stop."
        )
        serve_until_stopped(emulator.stop)
