from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import stripe

from boxoffice_dev.stripe import StripeEmulator
from boxoffice_dev.stripe.wire import decode_form

SUCCESS_URL = "http://shop.test/checkout/done/?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://shop.test/checkout/cancelled/"
WEBHOOK_SECRET = "whsec_emulator"  # the emulator's default


class WebhookReceiver:
    """A loopback endpoint that records what it receives and answers the statuses it is given."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/billing/webhooks/stripe/"

    def events(self) -> list[stripe.Event]:
        return [
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
            for headers, body in self.received
        ]


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def emulator(stripe_emulator, receiver):
    stripe_emulator.configure(webhook_url=receiver.url)
    return stripe_emulator


def client_for(emulator: StripeEmulator, api_key: str = "sk_test_emulator") -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key, base_addresses={"api": emulator.base_url}, max_network_retries=0
    )


def create_session(emulator: StripeEmulator, **overrides) -> stripe.checkout.Session:
    params = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1500,
                    "product_data": {"name": "Premium, 3 months"},
                },
                "quantity": 2,
            }
        ],
        "client_reference_id": "order-42",
        "metadata": {"order": "42"},
        "customer_email": "viewer@example.com",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "expires_at": int(time.time()) + 3600,
        **overrides,
    }
    return client_for(emulator).v1.checkout.sessions.create(params)


def test_it_creates_and_retrieves_a_session_through_the_sdk_client(emulator):
    session = create_session(emulator)

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.url == f"{emulator.base_url}/pay/{session.id}"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.currency) == (3000, "eur")
    assert session.client_reference_id == "order-42"
    assert session.metadata["order"] == "42"
    assert session.success_url == SUCCESS_URL
    assert session.customer_email == "viewer@example.com"
    assert session.payment_intent is None
    again = client_for(emulator).v1.checkout.sessions.retrieve(session.id)
    assert again.id == session.id
    assert again.expires_at == session.expires_at


def test_it_works_with_the_global_api_base(emulator, monkeypatch):
    monkeypatch.setattr(stripe, "api_base", emulator.base_url)
    monkeypatch.setattr(stripe, "api_key", "sk_test_emulator")
    monkeypatch.setattr(stripe, "max_network_retries", 0)

    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 999,
                    "product_data": {"name": "Basic"},
                },
                "quantity": 1,
            }
        ],
        success_url=SUCCESS_URL,
    )

    assert stripe.checkout.Session.retrieve(session.id).amount_total == 999


def test_it_refuses_a_wrong_api_key_like_stripe(emulator):
    with pytest.raises(stripe.AuthenticationError):
        client_for(emulator, api_key="sk_test_wrong").v1.checkout.sessions.retrieve("cs_test_x")

    response = httpx.get(f"{emulator.base_url}/v1/checkout/sessions/cs_test_x")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "API key" in response.json()["error"]["message"]


def test_it_answers_an_unknown_session_with_resource_missing(emulator):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client_for(emulator).v1.checkout.sessions.retrieve("cs_test_nope")

    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.http_status == 404


def test_it_refuses_params_the_emulator_does_not_support(emulator):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        create_session(emulator, mode="setup")

    assert excinfo.value.param == "mode"


def test_it_refuses_a_subscription_without_a_recurring_price(emulator):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        create_session(emulator, mode="subscription")

    assert excinfo.value.param == "line_items[0][price_data][recurring]"


def test_it_refuses_an_expiry_outside_stripes_limits(emulator):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        create_session(emulator, expires_at=int(time.time()) + 60)

    assert excinfo.value.param == "expires_at"


def test_it_replays_a_post_with_the_same_idempotency_key(emulator):
    headers = {"Authorization": "Bearer sk_test_emulator", "Idempotency-Key": "same-key"}
    body = {
        "mode": "payment",
        "success_url": SUCCESS_URL,
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "Trial",
        "line_items[0][quantity]": "1",
    }
    url = f"{emulator.base_url}/v1/checkout/sessions"

    first = httpx.post(url, data=body, headers=headers).json()
    second = httpx.post(url, data=body, headers=headers).json()

    assert first["id"] == second["id"]
    assert len(emulator.sessions()) == 1


def test_it_pays_and_sends_a_signed_completed_event(emulator, receiver):
    session = create_session(emulator)

    emulator.pay(session.id)
    emulator.wait_for_deliveries()

    [event] = receiver.events()
    assert event.type == "checkout.session.completed"
    assert event.id.startswith("evt_")
    paid = event.data.object
    assert (paid.id, paid.status, paid.payment_status) == (session.id, "complete", "paid")
    assert paid.payment_intent.startswith("pi_")
    assert paid.metadata["order"] == "42"
    assert paid.customer_details.email == "viewer@example.com"
    assert emulator.events()[0]["deliveries"][0]["status"] == 200


def test_it_signs_with_the_configured_secret_only(emulator, receiver):
    session = create_session(emulator)

    emulator.pay(session.id)
    emulator.wait_for_deliveries()

    headers, body = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")


def test_it_pays_through_the_hosted_page(emulator, receiver):
    session = create_session(emulator)

    page = httpx.get(session.url)
    response = httpx.post(f"{emulator.base_url}/pay/{session.id}/pay", data={"email": ""})
    emulator.wait_for_deliveries()

    assert page.status_code == 200
    assert "Stripe emulator — test mode" in page.text
    assert "30.00 EUR" in page.text
    assert "Premium, 3 months" in page.text
    assert "viewer@example.com" in page.text
    assert f'href="{CANCEL_URL}"' in page.text
    assert response.status_code == 303
    assert response.headers["location"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session.id)
    assert [e.type for e in receiver.events()] == ["checkout.session.completed"]


def test_it_keeps_the_session_open_when_the_card_is_declined(emulator, receiver):
    session = create_session(emulator)

    response = httpx.post(f"{emulator.base_url}/pay/{session.id}/fail")
    emulator.wait_for_deliveries()

    assert response.status_code == 200
    assert "Your card was declined." in response.text
    assert emulator.session(session.id)["status"] == "open"
    assert receiver.received == []
    assert emulator.events() == []


def test_it_pays_later_and_settles_from_the_control_api(emulator, receiver):
    session = create_session(emulator)
    pending = httpx.post(f"{emulator.base_url}/pay/{session.id}/pay_later")

    settled = httpx.post(
        f"{emulator.base_url}/_emulator/sessions/{session.id}/events",
        json={"type": "checkout.session.async_payment_succeeded"},
    )
    emulator.wait_for_deliveries()

    assert pending.status_code == 303
    assert settled.status_code == 200
    completed, succeeded = receiver.events()
    assert (completed.type, completed.data.object.payment_status) == (
        "checkout.session.completed",
        "unpaid",
    )
    assert completed.data.object.payment_intent.startswith("pi_")
    assert (succeeded.type, succeeded.data.object.payment_status) == (
        "checkout.session.async_payment_succeeded",
        "paid",
    )
    assert settled.json()["id"] == succeeded.id


def test_it_fails_a_delayed_payment_from_the_page(emulator, receiver):
    session = create_session(emulator)
    emulator.pay_later(session.id)

    page = httpx.get(f"{emulator.base_url}/pay/{session.id}")
    response = httpx.post(f"{emulator.base_url}/pay/{session.id}/async_failed")
    emulator.wait_for_deliveries()

    assert "Bank rejects the payment" in page.text
    assert response.status_code == 303
    assert [e.type for e in receiver.events()] == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]
    assert emulator.session(session.id)["payment_status"] == "unpaid"


def test_it_resends_an_event_with_the_same_id(emulator, receiver):
    session = create_session(emulator)
    emulator.pay(session.id)
    emulator.wait_for_deliveries()
    [event] = emulator.events()

    response = httpx.post(f"{emulator.base_url}/_emulator/events/{event['id']}/resend")
    emulator.wait_for_deliveries()

    assert response.status_code == 200
    first, second = receiver.events()
    assert first.id == second.id == event["id"]
    assert receiver.received[0][1] == receiver.received[1][1]
    assert [d["status"] for d in emulator.events()[0]["deliveries"]] == [200, 200]


def test_it_retries_a_delivery_answered_with_500(emulator, receiver):
    receiver.statuses = [500, 500]
    session = create_session(emulator)

    emulator.pay(session.id)
    emulator.wait_for_deliveries()

    assert [d["status"] for d in emulator.events()[0]["deliveries"]] == [500, 500, 200]
    assert len({headers["Stripe-Signature"] for headers, _ in receiver.received}) >= 1
    assert len(receiver.events()) == 3


def test_it_records_deliveries_that_cannot_connect(emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    emulator.configure(webhook_url=f"http://127.0.0.1:{closed_port}/hook/")
    emulator.retry_delays = (0.01, 0.01)
    session = create_session(emulator)

    emulator.pay(session.id)
    emulator.wait_for_deliveries()

    deliveries = emulator.events()[0]["deliveries"]
    assert [d["status"] for d in deliveries] == [None, None, None]
    assert all(d["error"] for d in deliveries)


def test_it_refunds_through_the_sdk_and_sends_charge_refunded(emulator, receiver):
    session = create_session(emulator)
    paid = emulator.pay(session.id)

    refund = client_for(emulator).v1.refunds.create({"payment_intent": paid["payment_intent"]})
    emulator.wait_for_deliveries()

    assert refund.id.startswith("re_")
    assert (refund.amount, refund.status) == (3000, "succeeded")
    event = receiver.events()[-1]
    assert event.type == "charge.refunded"
    charge = event.data.object
    assert (charge.object, charge.payment_intent) == ("charge", paid["payment_intent"])
    assert (charge.amount_refunded, charge.refunded) == (3000, True)
    with pytest.raises(stripe.InvalidRequestError):
        client_for(emulator).v1.refunds.create({"payment_intent": paid["payment_intent"]})


def test_it_sends_a_dispute_for_a_paid_session(emulator, receiver):
    session = create_session(emulator)
    paid = emulator.pay(session.id)

    event = emulator.emit(session.id, "charge.dispute.created")
    emulator.wait_for_deliveries()

    dispute = receiver.events()[-1].data.object
    assert event["type"] == "charge.dispute.created"
    assert dispute.object == "dispute"
    assert dispute.payment_intent == paid["payment_intent"]
    assert dispute.charge.startswith("ch_")


def test_it_expires_a_session_and_refuses_to_take_payment_for_it(emulator, receiver):
    session = create_session(emulator)

    emulator.emit(session.id, "checkout.session.expired")
    response = httpx.post(f"{emulator.base_url}/pay/{session.id}/pay")
    emulator.wait_for_deliveries()

    assert response.status_code == 409
    assert [e.type for e in receiver.events()] == ["checkout.session.expired"]
    assert client_for(emulator).v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_it_lists_sessions_and_events_and_takes_config_from_the_control_api(emulator):
    session = create_session(emulator)
    emulator.pay(session.id)

    config = httpx.post(f"{emulator.base_url}/_emulator/config", json={"webhook_url": None})
    sessions = httpx.get(f"{emulator.base_url}/_emulator/sessions").json()["data"]
    events = httpx.get(f"{emulator.base_url}/_emulator/events").json()["data"]
    unknown = httpx.post(
        f"{emulator.base_url}/_emulator/sessions/{session.id}/events", json={"type": "nope"}
    )

    assert config.json() == {"webhook_url": None}
    assert [s["id"] for s in sessions] == [session.id]
    assert [e["type"] for e in events] == ["checkout.session.completed"]
    assert unknown.status_code == 400


def test_it_decodes_stripes_nested_form_keys():
    body = (
        "line_items[0][price_data][currency]=eur&line_items[0][quantity]=1"
        "&line_items[1][quantity]=2&metadata[order]=42&expand[]=a&expand[]=b"
    )

    assert decode_form(body) == {
        "line_items": [{"price_data": {"currency": "eur"}, "quantity": "1"}, {"quantity": "2"}],
        "metadata": {"order": "42"},
        "expand": ["a", "b"],
    }


def test_it_sends_json_stripe_events(emulator, receiver):
    session = create_session(emulator)

    emulator.pay(session.id)
    emulator.wait_for_deliveries()

    headers, body = receiver.received[0]
    payload = json.loads(body)
    assert headers["Content-Type"].startswith("application/json")
    assert payload["object"] == "event"
    assert payload["livemode"] is False
    assert payload["api_version"]
    assert set(payload["data"]) == {"object"}
