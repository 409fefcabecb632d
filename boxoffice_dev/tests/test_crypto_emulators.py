"""The BTCPay Server and NOWPayments emulators: their APIs, their pages, and signed deliveries
(checked here with the gateways' documented signatures, not with the emulators' own code)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from boxoffice_dev.btcpay import BTCPayEmulator
from boxoffice_dev.nowpayments import NOWPaymentsEmulator


class Receiver:
    """A loopback endpoint recording what it gets; answers the statuses queued, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[Any, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.headers, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def btcpay(receiver):
    with BTCPayEmulator(webhook_url=receiver.url) as emulator:
        yield emulator


@pytest.fixture
def nowpayments():
    with NOWPaymentsEmulator() as emulator:
        yield emulator


def _btcpay_api(emulator, method, path, **kwargs):
    headers = {"Authorization": f"token {emulator.api_key}"}
    url = f"{emulator.base_url}/api/v1/stores/{emulator.store_id}/invoices{path}"
    return httpx.request(method, url, headers=headers, **kwargs)


def test_btcpay_api_needs_its_key_and_store(btcpay):
    base = f"{btcpay.base_url}/api/v1/stores/{btcpay.store_id}/invoices"
    assert httpx.post(base, json={"amount": "1", "currency": "EUR"}).status_code == 401
    other = f"{btcpay.base_url}/api/v1/stores/elsewhere/invoices"
    headers = {"Authorization": f"token {btcpay.api_key}"}
    assert httpx.post(other, json={}, headers=headers).status_code == 404
    assert (
        _btcpay_api(btcpay, "POST", "", json={"amount": "-1", "currency": "EUR"}).status_code == 422
    )


def test_btcpay_checkout_page_pays_and_sends_signed_webhooks(btcpay, receiver):
    invoice = _btcpay_api(
        btcpay,
        "POST",
        "",
        json={
            "amount": "9.99",
            "currency": "EUR",
            "metadata": {"orderId": "BX-1"},
            "checkout": {"redirectURL": "http://shop.test/back"},
        },
    ).json()
    page = httpx.get(invoice["checkoutLink"])
    assert page.status_code == 200 and "Pay in full" in page.text and "9.99 EUR" in page.text
    answer = httpx.post(f"{invoice['checkoutLink']}/act", data={"action": "pay"})
    assert (answer.status_code, answer.headers["location"]) == (303, "http://shop.test/back")
    btcpay.wait_for_deliveries()
    for headers, body in receiver.received:
        expected = hmac.new(btcpay.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["BTCPay-Sig"] == f"sha256={expected}"
    assert [b["type"] for b in receiver.bodies()] == [
        "InvoiceReceivedPayment",
        "InvoiceProcessing",
        "InvoicePaymentSettled",
        "InvoiceSettled",
    ]
    assert {b["invoiceId"] for b in receiver.bodies()} == {invoice["id"]}
    assert receiver.bodies()[-1]["metadata"] == {"orderId": "BX-1"}
    fetched = _btcpay_api(btcpay, "GET", f"/{invoice['id']}").json()
    assert fetched["status"] == "Settled"
    [method] = _btcpay_api(btcpay, "GET", f"/{invoice['id']}/payment-methods").json()
    assert (method["paymentMethodPaid"], method["rate"], method["due"]) == (
        "0.00019980",
        "50000",
        "0.00000000",
    )


def test_btcpay_part_paid_then_expired_and_redelivered(btcpay, receiver):
    invoice = _btcpay_api(btcpay, "POST", "", json={"amount": "10", "currency": "EUR"}).json()
    httpx.post(f"{invoice['checkoutLink']}/act", data={"action": "pay_part", "amount": "4"})
    assert btcpay.invoice(invoice["id"])["additionalStatus"] == "PaidPartial"
    httpx.post(f"{invoice['checkoutLink']}/act", data={"action": "expire"})
    btcpay.wait_for_deliveries()
    expired = receiver.bodies()[-1]
    assert (expired["type"], expired["partiallyPaid"]) == ("InvoiceExpired", True)
    assert btcpay.invoice(invoice["id"])["status"] == "Expired"
    again = btcpay.redeliver(expired["deliveryId"])
    btcpay.wait_for_deliveries()
    assert again["deliveryId"] != expired["deliveryId"]
    assert (again["originalDeliveryId"], again["isRedelivery"]) == (expired["deliveryId"], True)


def test_btcpay_retries_a_delivery_that_failed(btcpay, receiver):
    receiver.statuses = [500, 503]
    invoice = _btcpay_api(btcpay, "POST", "", json={"amount": "10", "currency": "EUR"}).json()
    btcpay.invalidate(invoice["id"])
    btcpay.wait_for_deliveries()
    assert len(receiver.received) == 3
    assert len({body for _, body in receiver.received}) == 1  # the same delivery each time


def test_nowpayments_invoice_page_and_signed_ipns(nowpayments, receiver):
    base = f"{nowpayments.base_url}/v1"
    assert httpx.post(f"{base}/invoice", json={}).status_code == 403
    headers = {"x-api-key": nowpayments.api_key}
    invoice = httpx.post(
        f"{base}/invoice",
        headers=headers,
        json={
            "price_amount": 9.99,
            "price_currency": "eur",
            "order_id": "BX-2",
            "ipn_callback_url": receiver.url,
            "success_url": "http://shop.test/ok",
            "cancel_url": "http://shop.test/no",
        },
    ).json()
    page = httpx.get(invoice["invoice_url"])
    assert page.status_code == 200 and "Pay in full" in page.text
    answer = httpx.post(invoice["invoice_url"], data={"action": "pay"})
    assert (answer.status_code, answer.headers["location"]) == (303, "http://shop.test/ok")
    nowpayments.wait_for_deliveries()
    statuses = [b["payment_status"] for b in receiver.bodies()]
    assert statuses == ["waiting", "confirming", "confirmed", "sending", "finished"]
    for headers_in, body in receiver.received:
        # NOWPayments' documented check: HMAC-SHA512 of the keys-sorted compact JSON.
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        expected = hmac.new(nowpayments.ipn_secret.encode(), canonical.encode(), hashlib.sha512)
        assert headers_in["x-nowpayments-sig"] == expected.hexdigest()
    last = receiver.bodies()[-1]
    assert (last["order_id"], last["invoice_id"]) == ("BX-2", int(invoice["id"]))
    assert last["actually_paid"] == last["pay_amount"]
    fetched = httpx.get(f"{base}/payment/{last['payment_id']}", headers=headers).json()
    assert fetched["payment_status"] == "finished"
    assert httpx.get(f"{base}/payment/1", headers=headers).status_code == 404


def test_nowpayments_part_payment(nowpayments, receiver):
    headers = {"x-api-key": nowpayments.api_key}
    invoice = httpx.post(
        f"{nowpayments.base_url}/v1/invoice",
        headers=headers,
        json={"price_amount": 10, "price_currency": "eur", "ipn_callback_url": receiver.url},
    ).json()
    httpx.post(invoice["invoice_url"], data={"action": "pay_part", "amount": "4"})
    nowpayments.wait_for_deliveries()
    last = receiver.bodies()[-1]
    assert last["payment_status"] == "partially_paid"
    assert last["actually_paid"] == pytest.approx(0.00008)
