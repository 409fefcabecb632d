"""PayPal answering nonsense, slowly or not at all: every call ends within its timeout and in a
clear error (the customer is told PayPal is unavailable, a webhook is refused so PayPal delivers
it again, an event is retried), never in an exception nobody expected."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    PaymentError,
    UnableToTakePayment,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.paypal import client as paypal_client
from boxoffice.billing.gateways.paypal.adapter import PayPalConfig, PayPalGateway
from boxoffice.billing.gateways.paypal.client import tokens_forget

TOKEN = json.dumps({"access_token": "A21AAtoken", "expires_in": 3600}).encode()


class BadPayPal:
    """Answers the token properly, then every other call with `self.answer`:
    (status, body bytes) or "hang"."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] | str = (200, b"{}")
        bad = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path == "/v1/oauth2/token":
                    status, body = 200, TOKEN
                elif bad.answer == "hang":
                    time.sleep(3)
                    return
                else:
                    status, body = bad.answer  # type: ignore[misc]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()


@pytest.fixture
def bad():
    tokens_forget()
    server = BadPayPal()
    yield server
    server.server.shutdown()
    server.server.server_close()
    tokens_forget()


@pytest.fixture
def adapter(bad):
    return PayPalGateway(
        PayPalConfig(client_id="id", client_secret="secret", webhook_id="WH", api_base=bad.url)
    )


REQUEST = CheckoutRequest(
    order_reference="BX-1",
    amount=Decimal("9.99"),
    currency="EUR",
    description="x",
    customer_email="a@example.test",
    success_url="http://shop.test/o/",
    cancel_url="http://shop.test/o/",
)
HEADERS = {
    "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    "PAYPAL-CERT-URL": "https://api.paypal.com/cert",
    "PAYPAL-TRANSMISSION-ID": "t1",
    "PAYPAL-TRANSMISSION-SIG": "c2ln",
    "PAYPAL-TRANSMISSION-TIME": "2026-01-01T00:00:00Z",
}
EVENT = json.dumps(
    {"id": "WH-1", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "O1"}}
).encode()

ANSWERS = [
    (200, b"<html>maintenance</html>"),
    (200, b"[1, 2, 3]"),
    (200, b'{"id": 12, "links": "everywhere"}'),
    (201, b'{"id": "O1", "links": [{"rel": "approve", "href": "javascript:alert(1)"}]}'),
    (500, b'{"name": "INTERNAL_SERVER_ERROR"}'),
    (503, b""),
    (422, b'{"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "SOMETHING"}]}'),
    (200, b"{" * 10000),
    (200, b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'),
]


@pytest.mark.parametrize("answer", ANSWERS, ids=range(len(ANSWERS)))
def test_nonsense_from_paypal_ends_in_a_clear_error(adapter, bad, answer):
    bad.answer = answer
    with pytest.raises(UnableToTakePayment, match="PayPal is not available"):
        adapter.start_checkout(REQUEST)
    assert adapter.checkout_status(CheckoutRef("BX-1", "O1")) is None
    with pytest.raises(UnableToTakePayment):
        adapter.checkout_close(CheckoutRef("BX-1", "O1"))
    with pytest.raises((UnableToTakePayment, PaymentError)):
        adapter.refund(gateway_payment_id="C1", amount=Decimal("1.00"), currency="EUR")
    with pytest.raises(WebhookRejected):
        adapter.verify_webhook(body=EVENT, headers=HEADERS)
    event = VerifiedEvent("WH-1", "CHECKOUT.ORDER.APPROVED", json.loads(EVENT))
    if answer[0] == 422:
        # Refused as it is (a declined instrument): nothing to retry, nothing paid.
        assert adapter.event_update(event, checkout_open=lambda ref: True) is None
    else:
        # Processing an approval it cannot capture raises: the stored event is retried later.
        with pytest.raises(PaymentError):
            adapter.event_update(event, checkout_open=lambda ref: True)


def test_a_paypal_that_hangs_is_given_up_on_in_time(adapter, bad, monkeypatch):
    monkeypatch.setattr(paypal_client, "TIMEOUT", httpx.Timeout(0.3, connect=0.3))
    bad.answer = "hang"
    started = time.monotonic()
    with pytest.raises(UnableToTakePayment):
        adapter.start_checkout(REQUEST)
    with pytest.raises(WebhookRejected, match="could not verify"):
        adapter.verify_webhook(body=EVENT, headers=HEADERS)
    assert time.monotonic() - started < 2.5


def test_an_unverified_answer_is_a_refusal(adapter, bad):
    for body in (b'{"verification_status": "FAILURE"}', b'{"verification_status": true}', b"{}"):
        bad.answer = (200, body)
        with pytest.raises(WebhookRejected, match="did not verify"):
            adapter.verify_webhook(body=EVENT, headers=HEADERS)
