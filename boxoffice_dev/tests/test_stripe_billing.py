"""The emulator's Stripe Billing, through the official SDK and its own HTTP control API:
subscriptions from Checkout, invoices in the 2025-03-31+ shapes, failed charges and retries,
cancellation at the period end, and billing-portal sessions."""

from __future__ import annotations

import httpx
import pytest
import stripe

from boxoffice_dev.tests.test_stripe_emulator import WebhookReceiver, client_for, create_session

pytestmark = pytest.mark.emulator


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


PRICE = {
    "currency": "eur",
    "unit_amount": 999,
    "product_data": {"name": "Monthly"},
    "recurring": {"interval": "day", "interval_count": 30},
}


def _subscribe(emulator) -> tuple[dict, dict]:
    session = create_session(
        emulator,
        mode="subscription",
        line_items=[{"price_data": PRICE, "quantity": 1}],
        subscription_data={"metadata": {"order": "BX-1"}},
    )
    emulator.pay(session.id)
    emulator.wait_for_deliveries()
    session = emulator.session(session.id)
    return session, emulator.subscription(session["subscription"])


def test_a_subscription_checkout_makes_a_customer_a_subscription_and_a_paid_first_invoice(
    emulator, receiver
):
    session, sub = _subscribe(emulator)
    client = client_for(emulator)

    assert session["mode"] == "subscription" and session["payment_intent"] is None
    assert session["customer"].startswith("cus_") and session["invoice"].startswith("in_")
    fetched = client.v1.subscriptions.retrieve(sub["id"])
    assert fetched.status == "active" and fetched.metadata["order"] == "BX-1"
    [item] = fetched["items"]["data"]
    assert item["current_period_end"] - item["current_period_start"] == 30 * 86400
    invoice = client.v1.invoices.retrieve(session["invoice"])
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_create")
    assert invoice.parent.subscription_details.subscription == sub["id"]
    assert invoice.parent.subscription_details.metadata["order"] == "BX-1"
    assert invoice["lines"]["data"][0]["period"]["end"] == item["current_period_end"]
    types = [event.type for event in receiver.events()]
    assert types == ["checkout.session.completed", "customer.subscription.created", "invoice.paid"]


def test_a_failed_cycle_leaves_the_invoice_open_and_a_retry_pays_it_on_the_same_anchor(
    emulator, receiver
):
    _, sub = _subscribe(emulator)
    end = sub["items"]["data"][0]["current_period_end"]
    base = emulator.base_url
    failed = httpx.post(
        f"{base}/_emulator/subscriptions/{sub['id']}/cycle", json={"outcome": "failed"}
    )
    invoice = failed.json()
    assert (invoice["status"], invoice["billing_reason"], invoice["attempt_count"]) == (
        "open",
        "subscription_cycle",
        1,
    )
    assert emulator.subscription(sub["id"])["status"] == "past_due"
    paid = httpx.post(f"{base}/_emulator/invoices/{invoice['id']}/retry", json={"outcome": "paid"})
    assert (paid.json()["status"], paid.json()["attempt_count"]) == ("paid", 2)
    assert paid.json()["lines"]["data"][0]["period"] == {"start": end, "end": end + 30 * 86400}
    assert emulator.subscription(sub["id"])["status"] == "active"
    emulator.wait_for_deliveries()
    types = [event.type for event in receiver.events()][3:]
    assert types == [
        "invoice.payment_failed",
        "customer.subscription.updated",
        "invoice.paid",
        "customer.subscription.updated",
    ]


def test_cancel_at_period_end_through_the_api_ends_the_subscription_at_the_cycle(emulator):
    _, sub = _subscribe(emulator)
    client = client_for(emulator)
    updated = client.v1.subscriptions.update(
        sub["id"], {"cancel_at_period_end": True, "cancellation_details": {"comment": "moving"}}
    )
    assert updated.cancel_at_period_end is True
    assert updated.cancellation_details.comment == "moving"
    ended = emulator.cycle(sub["id"])
    assert ended["status"] == "canceled"
    assert len(emulator.invoices(sub["id"])) == 1  # nothing charged
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub["id"], {"cancel_at_period_end": False})


def test_a_billing_portal_session_is_made_per_request_and_its_page_updates_the_card(emulator):
    session, _ = _subscribe(emulator)
    client = client_for(emulator)
    params = {
        "customer": session["customer"],
        "return_url": "http://shop.test/portal/",
        "flow_data": {"type": "payment_method_update"},
    }
    one = client.v1.billing_portal.sessions.create(params)
    two = client.v1.billing_portal.sessions.create(params)
    assert one.url != two.url and one.url.startswith(f"{emulator.base_url}/portal/bps_test_")
    assert httpx.get(one.url).status_code == 200
    saved = httpx.post(f"{one.url}/update_card", data={"card": "4242"})
    assert saved.status_code == 303 and saved.headers["location"] == "http://shop.test/portal/"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing_portal.sessions.create({"customer": "cus_nobody"})


def test_it_refuses_a_calendar_month_it_cannot_count(emulator):
    month = {**PRICE, "recurring": {"interval": "month"}}
    with pytest.raises(stripe.InvalidRequestError, match="by day or week"):
        create_session(
            emulator, mode="subscription", line_items=[{"price_data": month, "quantity": 1}]
        )


def test_a_paid_invoice_names_its_payment_intent_only_when_payments_are_expanded(emulator):
    session, sub = _subscribe(emulator)
    client = client_for(emulator)
    plain = client.v1.invoices.retrieve(session["invoice"]).to_dict()
    assert "payments" not in plain and "payment_intent" not in plain  # 2025-03-31+ shapes
    invoice = client.v1.invoices.retrieve(session["invoice"], {"expand": ["payments"]}).to_dict()
    [payment] = invoice["payments"]["data"]
    assert payment["status"] == "paid" and payment["payment"]["type"] == "payment_intent"
    intent = client.v1.payment_intents.retrieve(payment["payment"]["payment_intent"])
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount, charge.payment_intent) == (999, intent.id)
    # Refunded in part, through the API with a key: a retry with the key is the same refund.
    params = {"payment_intent": intent.id, "amount": 300}
    first = client.v1.refunds.create(params, options={"idempotency_key": "k1"})
    again = client.v1.refunds.create(params, options={"idempotency_key": "k1"})
    assert first.id == again.id and len(emulator.refunds(intent.id)) == 1
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 300


def test_a_dispute_is_opened_and_closed_with_its_events(emulator, receiver):
    session, sub = _subscribe(emulator)
    intent = emulator.invoice_payment_intent(session["invoice"])
    dispute = emulator.dispute(payment_intent=intent)
    closed = emulator.dispute_close(dispute["id"], status="lost")
    assert closed["status"] == "lost" and closed["payment_intent"] == intent
    emulator.wait_for_deliveries()
    kinds = [e["type"] for e in emulator.events()]
    assert kinds[-2:] == ["charge.dispute.created", "charge.dispute.closed"]
    with pytest.raises(Exception, match="won"):
        emulator.dispute_close(dispute["id"], status="maybe")
