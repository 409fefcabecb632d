"""What a correctly signed Stripe webhook may still not do: have the wrong shape, confirm without
an amount, refund part and stop the whole line, or name an order its own ids do not belong to."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from boxoffice.billing.models import Order, Payment, WebhookEvent
from boxoffice.messaging.models import Message
from boxoffice.provisioning.models import Line, PanelOperation

URL = "/billing/webhooks/stripe/"


def _post_body(client, body: str):
    header = stripe.WebhookSignature.generate_signature_header(body, "whsec_emulator")
    return client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def _post(client, payload):
    return _post_body(client, json.dumps(payload))


def _event(type_, obj, event_id="evt_1"):
    return {
        "id": event_id,
        "object": "event",
        "type": type_,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def _session(order, **obj):
    return {
        "id": order.gateway_reference,
        "object": "checkout.session",
        "client_reference_id": order.reference,
        "payment_status": "paid",
        "payment_intent": f"pi_{order.reference}",
        "amount_total": int(order.amount * 100),
        "currency": order.currency.lower(),
        **obj,
    }


@pytest.fixture
def stripe_order(make_order):
    def make():
        order = make_order(gateway="stripe")
        Order.objects.filter(pk=order.pk).update(gateway_reference=f"cs_{order.reference}")
        order.refresh_from_db()
        return order

    return make


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"evt_1"',
        "42",
        "null",
        '[{"id": "evt_1", "type": "checkout.session.completed"}]',
        '{"id": "evt_1", "type": "checkout.session.completed", "data": []}',
        '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": [[1]]}}',
        '{"id": ["evt_1"], "type": "checkout.session.completed", "data": {"object": {}}}',
        '{"id": "' + "e" * 256 + '", "type": "checkout.session.completed", "data": {"object": {}}}',
        '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": '
        '{"client_reference_id": ["BX-1"]}}}',
        '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": '
        '{"amount_total": [999]}}}',
        '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": '
        '{"metadata": {"order": ["BX-1"]}}}}',
    ],
    ids=[
        "list",
        "string",
        "number",
        "null",
        "list_of_events",
        "data_list",
        "object_nested_lists",
        "id_list",
        "id_too_long",
        "reference_list",
        "amount_list",
        "metadata_list",
    ],
)
def test_it_answers_400_to_signed_bodies_that_are_not_events(client, body):
    response = _post_body(client, body)

    assert response.status_code == 400
    assert "error" in response.json()
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("missing", ["amount_total", "currency"])
def test_it_sends_a_confirmation_without_amount_or_currency_to_review(
    missing, client, stripe_order, run_tasks, smtp_inbox
):
    order = stripe_order()
    obj = _session(order)
    del obj[missing]

    assert _post(client, _event("checkout.session.completed", obj)).status_code == 200
    run_tasks()

    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.needs_review and "expected 9.99 EUR" in order.review_reason
    assert not Line.objects.exists()
    assert Message.objects.filter(kind="operator_alert").count() == 1


@pytest.fixture
def paid_line(client, stripe_order, run_tasks, xui_emulator, smtp_inbox):
    order = stripe_order()
    _post(client, _event("checkout.session.completed", _session(order), event_id="evt_paid"))
    run_tasks()
    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    smtp_inbox.wait_for(1)
    return line


def _refund(order, refunded_cents, event_id):
    return _event(
        "charge.refunded",
        {
            "id": f"ch_{order.reference}",
            "object": "charge",
            "payment_intent": f"pi_{order.reference}",
            "amount": int(order.amount * 100),
            "amount_refunded": refunded_cents,
            "refunded": refunded_cents >= int(order.amount * 100),
            "currency": order.currency.lower(),
        },
        event_id=event_id,
    )


@pytest.mark.django_db(transaction=True)
def test_it_sends_a_partial_refund_to_review_and_leaves_the_line_alone(
    client, paid_line, run_tasks, xui_emulator
):
    order = paid_line.order

    _post(client, _refund(order, 300, "evt_refund_part"))
    run_tasks()

    order.refresh_from_db()
    paid_line.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.needs_review and "partial refund" in order.review_reason
    assert paid_line.status == Line.Status.ACTIVE
    assert not PanelOperation.objects.filter(kind=PanelOperation.Kind.SUSPEND).exists()
    refund = Payment.objects.get(order=order, status=Payment.Status.REFUNDED)
    assert str(refund.amount) == "-3.00"
    assert Message.objects.filter(kind="operator_alert").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_suspends_the_line_on_a_full_refund_after_a_partial_one(
    client, paid_line, run_tasks, xui_emulator
):
    order = paid_line.order
    _post(client, _refund(order, 300, "evt_refund_part"))
    run_tasks()

    _post(client, _refund(order, 999, "evt_refund_rest"))
    run_tasks()

    order.refresh_from_db()
    paid_line.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert paid_line.status == Line.Status.SUSPENDED
    refunds = Payment.objects.filter(order=order, status=Payment.Status.REFUNDED)
    assert sorted(str(p.amount) for p in refunds) == ["-3.00", "-6.99"]


@pytest.mark.django_db(transaction=True)
def test_it_reviews_an_event_whose_session_belongs_to_another_order(
    client, stripe_order, run_tasks, xui_emulator, smtp_inbox
):
    cheap, named = stripe_order(), stripe_order()
    # The session (what Stripe charged) is `cheap`'s; the reference text names another order.
    obj = _session(cheap, client_reference_id=named.reference)

    _post(client, _event("checkout.session.completed", obj))
    run_tasks()

    named.refresh_from_db()
    cheap.refresh_from_db()
    assert named.status == Order.Status.AWAITING_PAYMENT and named.needs_review
    assert cheap.reference in named.review_reason
    assert cheap.status == Order.Status.AWAITING_PAYMENT
    assert not Line.objects.exists()
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


@pytest.mark.django_db(transaction=True)
def test_it_reviews_a_stripe_event_that_names_a_bank_transfer_order(
    client, make_order, run_tasks, xui_emulator, smtp_inbox
):
    order = make_order(gateway="manual")
    obj = _session(order, id="cs_elsewhere")

    _post(client, _event("checkout.session.completed", obj))
    run_tasks()

    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT and order.needs_review
    assert not Line.objects.exists()
