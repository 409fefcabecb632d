"""Stripe's subscription events as the adapter reads them: only pointers to re-fetch (API
2025-03-31+ shapes, and the older `invoice.subscription` of an endpoint pinned before)."""

from __future__ import annotations

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import VerifiedEvent
from boxoffice.billing.gateways.manual.adapter import ManualGateway
from boxoffice.billing.gateways.stripe.adapter import StripeConfig, StripeGateway


def _parse(kind: str, obj: dict):
    payload = {"id": "evt_1", "type": kind, "data": {"object": obj}}
    adapter = StripeGateway(StripeConfig(secret_key="sk_test_x", webhook_secret="whsec_x"))
    return adapter.parse_event(VerifiedEvent("evt_1", kind, payload))


def test_it_reads_invoice_paid_as_a_pointer_to_its_invoice_and_subscription():
    update = _parse(
        "invoice.paid",
        {
            "id": "in_1",
            "object": "invoice",
            "billing_reason": "subscription_cycle",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": "sub_1", "metadata": {"order": "BX-1"}},
            },
        },
    )
    assert update == base.PaymentUpdate(
        status=base.SUBSCRIPTION,
        order_reference="BX-1",
        gateway_subscription_id="sub_1",
        gateway_invoice_id="in_1",
    )


def test_it_reads_the_older_invoice_subscription_field_of_an_endpoint_pinned_before_2025():
    update = _parse("invoice.payment_failed", {"id": "in_2", "subscription": "sub_2"})
    assert (update.gateway_subscription_id, update.gateway_invoice_id) == ("sub_2", "in_2")


def test_it_reads_a_subscription_checkout_and_subscription_changes_as_pointers():
    done = _parse(
        "checkout.session.completed",
        {
            "id": "cs_1",
            "mode": "subscription",
            "client_reference_id": "BX-1",
            "subscription": "sub_1",
            "invoice": "in_1",
            "payment_status": "paid",
        },
    )
    assert (done.status, done.order_reference, done.gateway_invoice_id) == (
        base.SUBSCRIPTION,
        "BX-1",
        "in_1",
    )
    for kind in ("customer.subscription.updated", "customer.subscription.deleted"):
        changed = _parse(kind, {"id": "sub_1", "metadata": {"order": "BX-1"}})
        assert (changed.status, changed.gateway_subscription_id) == (base.SUBSCRIPTION, "sub_1")
    assert _parse("customer.subscription.created", {"id": "sub_1"}) is None
    assert _parse("invoice.upcoming", {"id": "in_3"}) is None  # a "renews on" mail at most


def test_a_gateway_without_recurring_charges_says_so():
    assert StripeGateway.recurring and not ManualGateway.recurring
    assert StripeGateway.capabilities()["recurring"] is True
