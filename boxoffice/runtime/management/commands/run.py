"""`boxoffice run`: the embedded default, everything in one process tree.

Migrates, applies the demo catalogue, makes a demo operator, then starts the web server, the
worker, the local panel emulator, the Stripe, PayPal, BTCPay Server and NOWPayments emulators
and the local inbox. One Ctrl-C stops all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from boxoffice.billing.models import BusinessDetails, TaxRate

DEMO_OPERATOR = ("admin@boxoffice.localhost", "boxoffice-demo")
DEMO_TOML = Path(__file__).resolve().parents[3] / "catalog" / "demo.toml"


# Where the demo catalogue expects the panel emulator; `boxoffice run` moves it to --panel-port.
DEMO_PANEL_ORIGIN = "http://127.0.0.1:8100"


def _demo_business_details() -> None:
    """Invoices need the operator's legal details; the demo has made-up ones (edit them in the
    back office) and German VAT, so a demo order shows a whole invoice. Never overwritten."""
    if not BusinessDetails.objects.exists():
        BusinessDetails.objects.create(
            pk=1,
            legal_name=f"{settings.SITE_NAME} (demo operator)",
            address="1 Example Street\n10115 Berlin",
            country="DE",
            vat_id="DE000000000",
            email=settings.SUPPORT_EMAIL,
            invoice_footer="Demo invoice issued by a Boxoffice test installation.",
        )
    TaxRate.objects.get_or_create(country="DE", defaults={"rate": Decimal("19.00")})


def demo_catalogue(*, panel_port: int) -> Path:
    """The demo catalogue pointed at this checkout's panel emulator: a second checkout on one
    machine (PANEL_EMULATOR_PORT) must provision on its own panel, not on the first one's."""
    text = DEMO_TOML.read_text()
    if DEMO_PANEL_ORIGIN not in text:
        raise RuntimeError(f"{DEMO_TOML} no longer names {DEMO_PANEL_ORIGIN}; update run.py")
    target = settings.VAR_DIR / "demo-catalogue.toml"
    target.write_text(text.replace(DEMO_PANEL_ORIGIN, f"http://127.0.0.1:{panel_port}"))
    return target


class Command(BaseCommand):
    help = "Run everything locally: web, worker, panel and Stripe emulators, local inbox."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("BOXOFFICE_PORT", "8000"))
        )
        parser.add_argument(
            "--panel-port", type=int, default=int(os.environ.get("PANEL_EMULATOR_PORT", "8100"))
        )
        parser.add_argument(
            "--stripe-port", type=int, default=int(os.environ.get("STRIPE_EMULATOR_PORT", "8200"))
        )
        parser.add_argument(
            "--paypal-port", type=int, default=int(os.environ.get("PAYPAL_EMULATOR_PORT", "8300"))
        )
        parser.add_argument(
            "--btcpay-port", type=int, default=int(os.environ.get("BTCPAY_EMULATOR_PORT", "8400"))
        )
        parser.add_argument(
            "--nowpayments-port",
            type=int,
            default=int(os.environ.get("NOWPAYMENTS_EMULATOR_PORT", "8500")),
        )
        parser.add_argument(
            "--no-demo", action="store_true", help="skip the demo catalogue and operator"
        )

    def handle(
        self,
        *args,
        port,
        panel_port,
        stripe_port,
        paypal_port=8300,
        btcpay_port=8400,
        nowpayments_port=8500,
        no_demo=False,
        **options,
    ):
        # The emulators and the local inbox are the development package beside the product.
        if not apps.is_installed(settings.DEV_TOOLS_APP):
            raise CommandError(
                f"boxoffice run needs the development tools ({settings.DEV_TOOLS_APP}): "
                "install them with pip install -e '.[dev]' and run outside production "
                "(BOXOFFICE_ENV unset)."
            )
        os.environ.setdefault("DEMO_PANEL_API_KEY", "demo-panel-key")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not no_demo:
            # The panel emulator starts below: asking it about the demo mapping now would only
            # warn that it cannot be reached (the catalogue sync does it once it is up).
            call_command("apply", str(demo_catalogue(panel_port=panel_port)), no_panel_check=True)
            call_command(
                "createoperator", email=DEMO_OPERATOR[0], password=DEMO_OPERATOR[1], if_none=True
            )
            _demo_business_details()
        py = [sys.executable, "-m", "boxoffice.cli"]
        var = settings.VAR_DIR
        inbox_port = settings.EMAIL_PORT
        site = f"http://127.0.0.1:{port}"
        children_env = {**os.environ, "SITE_URL": os.environ.get("SITE_URL", site)}
        if "STRIPE_API_BASE" not in os.environ:
            children_env.update(STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}")
        if "PAYPAL_API_BASE" not in os.environ:
            children_env.update(PAYPAL_API_BASE=f"http://127.0.0.1:{paypal_port}")
        # The demo checkout offers every gateway, each on its emulator.
        children_env.setdefault("PAYMENT_GATEWAYS", "stripe,paypal,btcpay,nowpayments,manual")
        children_env.setdefault("BTCPAY_URL", f"http://127.0.0.1:{btcpay_port}")
        children_env.setdefault("NOWPAYMENTS_API_BASE", f"http://127.0.0.1:{nowpayments_port}")
        specs = [
            (
                "panel",
                [
                    *py,
                    "emulate-panel",
                    "--port",
                    str(panel_port),
                    "--access-code",
                    "adminapi1",
                    "--api-key",
                    os.environ["DEMO_PANEL_API_KEY"],
                    "--state",
                    str(var / "panel-emulator.json"),
                ],
            ),
            (
                "inbox",
                [
                    *py,
                    "local-inbox",
                    "--port",
                    str(inbox_port),
                    "--dir",
                    str(settings.LOCAL_INBOX_DIR),
                ],
            ),
            (
                "stripe",
                [
                    *py,
                    "emulate-stripe",
                    "--port",
                    str(stripe_port),
                    "--webhook-url",
                    f"{site}/billing/webhooks/stripe/",
                    "--api-key",
                    settings.STRIPE_SECRET_KEY,
                    "--webhook-secret",
                    settings.STRIPE_WEBHOOK_SECRET,
                ],
            ),
            (
                "paypal",
                [
                    *py,
                    "emulate-paypal",
                    "--port",
                    str(paypal_port),
                    "--webhook-url",
                    f"{site}/billing/webhooks/paypal/",
                    "--client-id",
                    settings.PAYPAL_CLIENT_ID,
                    "--client-secret",
                    settings.PAYPAL_CLIENT_SECRET,
                    "--webhook-id",
                    settings.PAYPAL_WEBHOOK_ID,
                ],
            ),
            (
                "btcpay",
                [
                    *py,
                    "emulate-btcpay",
                    "--port",
                    str(btcpay_port),
                    "--webhook-url",
                    f"{site}/billing/webhooks/btcpay/",
                    "--api-key",
                    settings.BTCPAY_API_KEY,
                    "--store-id",
                    settings.BTCPAY_STORE_ID,
                    "--webhook-secret",
                    settings.BTCPAY_WEBHOOK_SECRET,
                ],
            ),
            (
                "nowpayments",
                [
                    *py,
                    "emulate-nowpayments",
                    "--port",
                    str(nowpayments_port),
                    "--api-key",
                    settings.NOWPAYMENTS_API_KEY,
                    "--ipn-secret",
                    settings.NOWPAYMENTS_IPN_SECRET,
                ],
            ),
            ("worker", [*py, "worker"]),
            ("web", [*py, "web", "--bind", f"127.0.0.1:{port}"]),
        ]
        procs: list[tuple[str, subprocess.Popen]] = []
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in specs:
            procs.append((name, subprocess.Popen(cmd, env=children_env, start_new_session=True)))
        ready = self._wait_ready(f"{site}/healthz", procs)
        if ready:
            self.stdout.write(
                self.style.SUCCESS(
                    self._banner(site, panel_port, stripe_port, paypal_port, inbox_port, no_demo)
                    + f"  BTCPay emulator http://127.0.0.1:{btcpay_port}/_emulator/invoices\n"
                    + f"  NOWPayments emu http://127.0.0.1:{nowpayments_port}/_emulator/invoices\n"
                )
            )
        try:
            while not stopping:
                for name, proc in procs:
                    if proc.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with code {proc.returncode}; stopping everything"
                        )
                        stopping = True
                        break
                time.sleep(0.3)
        finally:
            for _, proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for _, proc in procs:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.stdout.write("stopped")

    def _wait_ready(self, url: str, procs) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(p.poll() is not None for _, p in procs):
                return False
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        return False

    def _banner(self, site, panel_port, stripe_port, paypal_port, inbox_port, no_demo) -> str:
        lines = [
            "",
            "Boxoffice is running. Ctrl-C stops everything.",
            f"  Storefront      {site}/",
            f"  Customer portal {site}/portal/",
            f"  Back office     {site}/admin/",
            f"  Local inbox     {site}/backoffice/inbox/   (SMTP on 127.0.0.1:{inbox_port})",
            f"  Panel emulator  http://127.0.0.1:{panel_port}/adminapi1/   (XUI One)",
            f"  Stripe emulator http://127.0.0.1:{stripe_port}/",
            f"  PayPal emulator http://127.0.0.1:{paypal_port}/_emulator/orders",
        ]
        if not no_demo:
            lines.append(f"  Demo operator   {DEMO_OPERATOR[0]} / {DEMO_OPERATOR[1]}")
        return "\n".join(lines) + "\n"
