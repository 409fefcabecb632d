"""The PayPal adapter pointed at a PayPal emulator on loopback, and a webhook receiver that
keeps what the emulator delivers (headers and raw body) for the adapter to verify."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from boxoffice.billing.gateways.paypal.adapter import PayPalConfig, PayPalGateway
from boxoffice.billing.gateways.paypal.client import tokens_forget


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,))
        self.thread.daemon = True
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(paypal_emulator):
    receiver = Receiver()
    paypal_emulator.configure(webhook_url=receiver.url)
    yield receiver
    receiver.stop()


@pytest.fixture
def paypal_settings(settings, paypal_emulator):
    tokens_forget()
    settings.PAYMENT_GATEWAYS = ["paypal", "manual"]
    settings.PAYPAL_API_BASE = paypal_emulator.base_url
    settings.PAYPAL_CLIENT_ID = paypal_emulator.client_id
    settings.PAYPAL_CLIENT_SECRET = paypal_emulator.client_secret
    settings.PAYPAL_WEBHOOK_ID = paypal_emulator.webhook_id
    yield settings
    tokens_forget()


@pytest.fixture
def adapter(paypal_settings) -> PayPalGateway:
    return PayPalGateway(PayPalConfig.from_settings(paypal_settings))
