"""Stripe webhooks: verified, stored once, applied idempotently whatever the order of arrival."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import stripe
import time_machine
from django.utils import timezone

from boxoffice.billing.models import Order, Payment, WebhookEvent
from boxoffice.billing.services import orders_flag_stale_pending
from boxoffice.provisioning.models import Line

URL = "/billing/webhooks/stripe/"


def _event(
    order, type_="checkout.session.completed", payment_status="paid", event_id="evt_1", **obj
):
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "client_reference_id": order.reference,
        "metadata": {"order": order.reference},
        "payment_status": payment_status,
        "payment_intent": "pi_1",
        "amount_total": int(order.amount * 100),
        "currency": order.currency.lower(),
        **obj,
    }
    return {
        "id": event_id,
        "object": "event",
        "type": type_,
        "created": int(time.time()),
        "data": {"object": session},
    }


def _post(client, payload, secret="whsec_emulator", timestamp=None):  # noqa: S107 - the emulator's test secret
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


@pytest.fixture
def stripe_order(make_order):
    return make_order(gateway="stripe")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "how",
    ["forged", "expired", "unsigned", "not_json"],
)
def test_it_rejects_bad_webhooks_and_changes_nothing(how, client, stripe_order):
    payload = _event(stripe_order)
    if how == "forged":
        response = _post(client, payload, secret="whsec_attacker")
    elif how == "expired":
        response = _post(client, payload, timestamp=int(time.time()) - 301)
    elif how == "unsigned":
        response = client.post(URL, data=json.dumps(payload), content_type="application/json")
    else:
        header = stripe.WebhookSignature.generate_signature_header("{not json", "whsec_emulator")
        response = client.post(
            URL, data="{not json", content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
    assert response.status_code == 400
    assert "error" in response.json()
    assert WebhookEvent.objects.count() == 0
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.AWAITING_PAYMENT


@pytest.mark.django_db
def test_it_rejects_get_and_unknown_gateways(client):
    assert client.get(URL).status_code == 405
    assert (
        client.post(
            "/billing/webhooks/nope/", data="{}", content_type="application/json"
        ).status_code
        == 404
    )


@pytest.mark.django_db(transaction=True)
def test_it_gives_one_line_and_one_email_for_a_webhook_delivered_three_times(
    client, stripe_order, run_tasks, xui_emulator, smtp_inbox
):
    payload = _event(stripe_order)
    answers = [_post(client, payload) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    run_tasks()
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert Line.objects.filter(order=stripe_order, status="active").count() == 1
    assert len(xui_emulator.lines()) == 1
    assert len(smtp_inbox.wait_for(1)) == 1
    time.sleep(0.3)
    assert len(smtp_inbox.messages()) == 1
    assert Payment.objects.filter(order=stripe_order, status="confirmed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_provisions_a_delayed_payment_only_when_it_succeeds(
    client, stripe_order, run_tasks, xui_emulator, smtp_inbox
):
    _post(client, _event(stripe_order, payment_status="unpaid", event_id="evt_pending"))
    run_tasks()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.PAYMENT_PENDING
    assert not Line.objects.exists()
    [pending_mail] = smtp_inbox.wait_for(1)
    assert "processing your payment" in pending_mail["Subject"]
    assert stripe_order.reference in pending_mail.get_body(preferencelist=("plain",)).get_content()

    _post(
        client,
        _event(stripe_order, type_="checkout.session.async_payment_succeeded", event_id="evt_ok"),
    )
    run_tasks()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.PAID
    assert Line.objects.get(order=stripe_order).status == "active"


@pytest.mark.django_db(transaction=True)
def test_it_ignores_events_that_arrive_out_of_order(
    client, stripe_order, run_tasks, xui_emulator, smtp_inbox
):
    # The success arrives before the "pending" completion event and a late failure: no harm.
    _post(
        client,
        _event(stripe_order, type_="checkout.session.async_payment_succeeded", event_id="evt_ok"),
    )
    _post(client, _event(stripe_order, payment_status="unpaid", event_id="evt_pending"))
    _post(
        client,
        _event(stripe_order, type_="checkout.session.async_payment_failed", event_id="evt_fail"),
    )
    run_tasks()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.PAID
    assert Line.objects.get(order=stripe_order).status == "active"
    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses == {"evt_ok": "processed", "evt_pending": "ignored", "evt_fail": "ignored"}


@pytest.mark.django_db(transaction=True)
def test_it_does_not_provision_when_the_amount_paid_is_wrong(client, stripe_order, run_tasks):
    _post(client, _event(stripe_order, amount_total=1))
    run_tasks()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.AWAITING_PAYMENT
    assert stripe_order.needs_review and "expected" in stripe_order.review_reason
    assert not Line.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_suspends_the_line_when_the_charge_is_refunded(
    client, stripe_order, run_tasks, xui_emulator, smtp_inbox
):
    _post(client, _event(stripe_order))
    run_tasks()
    refund = {
        "id": "evt_refund",
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": "pi_1",
                "amount_refunded": 999,
                "currency": "eur",
                "refunded": True,
            }
        },
    }
    assert _post(client, refund).status_code == 200
    run_tasks()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.REFUNDED
    line = Line.objects.get(order=stripe_order)
    assert line.status == "suspended"
    assert str(xui_emulator.lines()[0]["enabled"]) == "0"
    assert (
        Payment.objects.filter(order=stripe_order, status="refunded").get().amount
        == -stripe_order.amount
    )


@pytest.mark.django_db(transaction=True)
def test_it_suspends_the_line_when_the_payment_is_disputed(
    client, stripe_order, run_tasks, xui_emulator, smtp_inbox
):
    _post(client, _event(stripe_order))
    run_tasks()
    dispute = {
        "id": "evt_dispute",
        "object": "event",
        "type": "charge.dispute.created",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "dp_1",
                "object": "dispute",
                "charge": "ch_1",
                "payment_intent": "pi_1",
                "amount": 999,
                "currency": "eur",
                "reason": "fraudulent",
            }
        },
    }
    _post(client, dispute)
    _post(client, dispute)
    run_tasks()
    stripe_order.refresh_from_db()
    assert stripe_order.status == Order.Status.DISPUTED
    assert Line.objects.get(order=stripe_order).status == "suspended"
    assert Payment.objects.filter(order=stripe_order, status="disputed").count() == 1


@pytest.mark.django_db
def test_it_puts_a_bank_transfer_left_pending_in_the_review_queue(make_order, settings):
    order = make_order(gateway="manual")
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAYMENT_PENDING, pending_since=timezone.now()
    )
    with time_machine.travel(timezone.now() + timedelta(hours=71)):
        assert orders_flag_stale_pending() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=73)):
        assert orders_flag_stale_pending() == 1
        assert orders_flag_stale_pending() == 0
    order.refresh_from_db()
    assert order.needs_review and "72 h" in order.review_reason
