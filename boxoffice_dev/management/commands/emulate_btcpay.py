"""`boxoffice emulate-btcpay`: the BTCPay Server emulator as a process of its own (make run)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from boxoffice_dev.btcpay import BTCPayEmulator
from boxoffice_dev.management.serve import serve_until_stopped


class Command(BaseCommand):
    help = "Run the BTCPay Server emulator: Greenfield invoices, a checkout page, signed webhooks."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8400)
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="where events are POSTed, e.g. http://127.0.0.1:8000/billing/webhooks/btcpay/",
        )
        parser.add_argument("--api-key", default="btcpay-emulator-key")
        parser.add_argument("--store-id", default="emulator-store")
        parser.add_argument("--webhook-secret", default="btcpay-emulator-secret")
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host, port, webhook_url, api_key, store_id, webhook_secret, quiet, **o):
        emulator = BTCPayEmulator(
            host=host,
            port=port,
            api_key=api_key,
            store_id=store_id,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
            log_requests=not quiet,
        ).start()
        self.stdout.write(
            f"BTCPay Server emulator on {emulator.base_url} (store {store_id})\n"
            f"  webhooks: {webhook_url or '(none: set one with POST /_emulator/config)'}\n"
            f"  control:  {emulator.base_url}/_emulator/invoices, /_emulator/events\n"
            "Ctrl-C to stop."
        )
        serve_until_stopped(emulator.stop)
