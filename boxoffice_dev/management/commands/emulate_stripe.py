"""`boxoffice emulate-stripe`: the Stripe emulator as a process of its own (used by `make run`)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from boxoffice_dev.management.serve import serve_until_stopped
from boxoffice_dev.stripe import StripeEmulator


class Command(BaseCommand):
    help = "Run the Stripe emulator: Checkout Sessions, a hosted pay page and signed webhooks."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8200)
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="where events are POSTed, e.g. http://127.0.0.1:8000/billing/webhooks/stripe/",
        )
        parser.add_argument("--api-key", default="sk_test_emulator")
        parser.add_argument("--webhook-secret", default="whsec_emulator")
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host, port, webhook_url, api_key, webhook_secret, quiet, **options):
        emulator = StripeEmulator(
            host=host,
            port=port,
            api_key=api_key,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
            log_requests=not quiet,
        ).start()
        self.stdout.write(
            f"Stripe emulator on {emulator.base_url} (test mode)\n"
            f"  SDK:      StripeClient(api_key, base_addresses={{'api': '{emulator.base_url}'}})\n"
            f"  webhooks: {webhook_url or '(none: set one with POST /_emulator/config)'}\n"
            f"  control:  {emulator.base_url}/_emulator/sessions, /_emulator/events\n"
            '  billing:  POST /_emulator/subscriptions/<id>/cycle {"outcome": "paid"|"failed"}, '
            "/_emulator/invoices/<id>/retry, /_emulator/subscriptions/<id>/end\n"
            "Ctrl-C to stop."
        )
        serve_until_stopped(emulator.stop)
