"""`boxoffice emulate-nowpayments`: the NOWPayments emulator as a process of its own (make run)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from boxoffice_dev.management.serve import serve_until_stopped
from boxoffice_dev.nowpayments import NOWPaymentsEmulator


class Command(BaseCommand):
    help = "Run the NOWPayments emulator: invoices, a payment page, signed IPNs."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8500)
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="send every IPN here instead of each invoice's ipn_callback_url",
        )
        parser.add_argument("--api-key", default="nowpayments-emulator-key")
        parser.add_argument("--ipn-secret", default="nowpayments-emulator-secret")
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host, port, webhook_url, api_key, ipn_secret, quiet, **options):
        emulator = NOWPaymentsEmulator(
            host=host,
            port=port,
            api_key=api_key,
            ipn_secret=ipn_secret,
            webhook_url=webhook_url,
            log_requests=not quiet,
        ).start()
        self.stdout.write(
            f"NOWPayments emulator on {emulator.base_url}\n"
            f"  IPNs:    {webhook_url or 'to each invoice ipn_callback_url'}\n"
            f"  control: {emulator.base_url}/_emulator/invoices, /_emulator/ipns\n"
            "Ctrl-C to stop."
        )
        serve_until_stopped(emulator.stop)
