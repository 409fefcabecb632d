"""The PayPal emulator speaks Orders v2 as PayPal documents it, and vouches (through its own
verify-webhook-signature) only for the webhooks it sent, unchanged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from boxoffice_dev.paypal import PayPalEmulator

ORDER = {
    "intent": "CAPTURE",
    "purchase_units": [
        {
            "reference_id": "BX-1",
            "custom_id": "BX-1",
            "amount": {"currency_code": "EUR", "value": "9.99"},
        }
    ],
    "payment_source": {
        "paypal": {
            "experience_context": {
                "return_url": "http://shop.test/order/t/?returned=1",
                "cancel_url": "http://shop.test/order/t/?payment=cancelled",
            }
        }
    },
}


class Receiver:
    def __init__(self, statuses=()):
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.upper(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()


@pytest.fixture
def emulator():
    with PayPalEmulator() as emulator:
        yield emulator


@pytest.fixture
def receiver(emulator):
    receiver = Receiver()
    emulator.configure(webhook_url=receiver.url)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def api(emulator):
    token = httpx.post(
        f"{emulator.base_url}/v1/oauth2/token",
        auth=(emulator.client_id, emulator.client_secret),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    return httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {token}"})


def test_it_wants_the_app_s_credentials_and_then_its_token(emulator):
    refused = httpx.post(
        f"{emulator.base_url}/v1/oauth2/token",
        auth=(emulator.client_id, "wrong"),
        data={"grant_type": "client_credentials"},
    )
    assert refused.status_code == 401
    assert "access_token" not in refused.text
    no_token = httpx.post(f"{emulator.base_url}/v2/checkout/orders", json=ORDER)
    assert no_token.status_code == 401


def test_it_refuses_orders_paypal_would_refuse(api):
    for body in (
        {**ORDER, "intent": "AUTHORIZE"},
        {**ORDER, "purchase_units": []},
        {**ORDER, "purchase_units": [{"amount": {"currency_code": "EUR", "value": 9.99}}]},
        {**ORDER, "purchase_units": [{"amount": {"currency_code": "JPY", "value": "10.5"}}]},
    ):
        answer = api.post("/v2/checkout/orders", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["name"] == "INVALID_REQUEST"


def test_one_request_id_one_order(api, emulator):
    first = api.post("/v2/checkout/orders", json=ORDER, headers={"PayPal-Request-Id": "k1"})
    again = api.post("/v2/checkout/orders", json=ORDER, headers={"PayPal-Request-Id": "k1"})
    assert first.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["status"] == "PAYER_ACTION_REQUIRED"
    assert len(emulator.orders()) == 1


def test_approve_then_capture_once(api, emulator, receiver):
    order = api.post("/v2/checkout/orders", json=ORDER).json()
    [approve] = [link["href"] for link in order["links"] if link["rel"] == "payer-action"]
    assert (
        api.post(f"/v2/checkout/orders/{order['id']}/capture").json()["details"][0]["issue"]
        == "ORDER_NOT_APPROVED"
    )
    page = httpx.get(approve)
    assert "Approve and pay 9.99 EUR" in page.text
    back = httpx.post(f"{emulator.base_url}/checkoutnow/{order['id']}/approve")
    assert back.status_code == 303
    assert back.headers["location"].startswith("http://shop.test/order/t/?returned=1&token=")
    captured = api.post(
        f"/v2/checkout/orders/{order['id']}/capture", headers={"PayPal-Request-Id": "c1"}
    )
    assert captured.status_code == 201
    [capture] = captured.json()["purchase_units"][0]["payments"]["captures"]
    assert (capture["status"], capture["custom_id"]) == ("COMPLETED", "BX-1")
    replay = api.post(
        f"/v2/checkout/orders/{order['id']}/capture", headers={"PayPal-Request-Id": "c1"}
    )
    assert replay.json() == captured.json()
    twice = api.post(f"/v2/checkout/orders/{order['id']}/capture")
    assert twice.status_code == 422
    assert twice.json()["details"][0]["issue"] == "ORDER_ALREADY_CAPTURED"
    emulator.wait_for_deliveries()
    types = [json.loads(body)["event_type"] for _, body in receiver.received]
    assert types == ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"]


def test_cancel_goes_back_to_the_cancel_url(api, emulator):
    order = api.post("/v2/checkout/orders", json=ORDER).json()
    back = httpx.post(f"{emulator.base_url}/checkoutnow/{order['id']}/cancel")
    assert back.headers["location"] == (
        f"http://shop.test/order/t/?payment=cancelled&token={order['id']}"
    )
    assert emulator.order(order["id"])["status"] == "PAYER_ACTION_REQUIRED"


def _verify(api, emulator, headers, body, **changes):
    request = {
        "auth_algo": headers["PAYPAL-AUTH-ALGO"],
        "cert_url": headers["PAYPAL-CERT-URL"],
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": emulator.webhook_id,
        "webhook_event": json.loads(body),
        **changes,
    }
    return api.post("/v1/notifications/verify-webhook-signature", json=request).json()[
        "verification_status"
    ]


def test_it_vouches_only_for_what_it_sent(api, emulator, receiver):
    order = api.post("/v2/checkout/orders", json=ORDER).json()
    emulator.approve(order["id"])
    emulator.wait_for_deliveries()
    [(headers, body)] = receiver.received
    assert _verify(api, emulator, headers, body) == "SUCCESS"
    event = json.loads(body)
    event["resource"]["status"] = "COMPLETED"
    assert _verify(api, emulator, headers, body, webhook_event=event) == "FAILURE"
    assert _verify(api, emulator, headers, body, webhook_id="WH-OTHER") == "FAILURE"
    assert _verify(api, emulator, headers, body, transmission_id="made-up") == "FAILURE"
    assert _verify(api, emulator, headers, body, transmission_sig="Zm9v") == "FAILURE"
    missing = api.post("/v1/notifications/verify-webhook-signature", json={"webhook_id": "x"})
    assert missing.status_code == 400


def test_a_refused_delivery_is_tried_again_with_a_new_transmission(emulator):
    receiver = Receiver(statuses=[500, 200])
    emulator.configure(webhook_url=receiver.url)
    order = emulator.api_create_order(ORDER)
    emulator.approve(order["id"])
    emulator.wait_for_deliveries()
    [(first, body1), (second, body2)] = receiver.received
    assert body1 == body2
    assert first["PAYPAL-TRANSMISSION-ID"] != second["PAYPAL-TRANSMISSION-ID"]
    receiver.server.shutdown()
    receiver.server.server_close()


def test_refunds_in_part_up_to_the_capture(api, emulator, receiver):
    order = emulator.api_create_order(ORDER)
    emulator.approve(order["id"])
    capture = emulator.api_capture(order["id"])["purchase_units"][0]["payments"]["captures"][0]
    url = f"/v2/payments/captures/{capture['id']}/refund"
    part = api.post(url, json={"amount": {"currency_code": "EUR", "value": "4.00"}}).json()
    assert part["seller_payable_breakdown"]["total_refunded_amount"]["value"] == "4.00"
    assert emulator.capture(capture["id"])["status"] == "PARTIALLY_REFUNDED"
    too_much = api.post(url, json={"amount": {"currency_code": "EUR", "value": "6.00"}})
    assert too_much.json()["details"][0]["issue"] == "REFUND_AMOUNT_EXCEEDED"
    rest = api.post(url, json={}).json()
    assert rest["amount"]["value"] == "5.99"
    assert emulator.capture(capture["id"])["status"] == "REFUNDED"


def test_the_control_api_moves_orders_as_paypal_would(emulator, receiver):
    base = emulator.base_url
    order = emulator.api_create_order(ORDER)
    control = f"{base}/_emulator/orders/{order['id']}"
    assert httpx.post(f"{control}/approve", json={"outcome": "pending"}).status_code == 200
    emulator.api_capture(order["id"])
    cleared = httpx.post(f"{control}/events", json={"type": "PAYMENT.CAPTURE.COMPLETED"})
    assert cleared.json()["resource"]["status"] == "COMPLETED"
    dispute = httpx.post(f"{control}/events", json={"type": "CUSTOMER.DISPUTE.CREATED"}).json()
    assert dispute["resource"]["disputed_transactions"][0]["custom"] == "BX-1"
    other = emulator.api_create_order(ORDER)
    emulator.approve(other["id"])
    reversed_ = httpx.post(
        f"{base}/_emulator/orders/{other['id']}/events",
        json={"type": "CHECKOUT.PAYMENT-APPROVAL.REVERSED"},
    )
    assert reversed_.json()["resource"]["order_id"] == other["id"]
    assert emulator.order(other["id"])["status"] == "VOIDED"
    assert httpx.get(f"{base}/_emulator/wait").json() == {"idle": True}
    resent = httpx.post(f"{base}/_emulator/events/{dispute['id']}/resend").json()
    assert resent["id"] == dispute["id"]
    emulator.wait_for_deliveries()
    ids = [json.loads(body)["id"] for _, body in receiver.received]
    assert ids.count(dispute["id"]) == 2
