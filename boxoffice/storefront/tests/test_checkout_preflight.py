"""Pre-flight before payment: when no panel can take the plan's line for this customer now,
checkout says so before any money is asked for (no order, no account, no gateway session),
and the operator hears about it once per incident, not once per visitor."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from boxoffice.billing.models import Order
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import SaleBlock

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_checkout(settings, stripe_emulator):
    settings.PAYMENT_GATEWAYS = ["stripe"]
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_SECRET_KEY = stripe_emulator.api_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_emulator.webhook_secret
    return stripe_emulator


def _buy(plan, email: str):
    data = {
        "email": email,
        "name": "A Buyer",
        "country": "DE",
        "gateway": "stripe",
        "device": "app",
    }
    return Client().post(reverse("storefront:checkout", args=[plan.slug]), data)


def _alerts() -> list[Message]:
    return list(Message.objects.filter(kind="operator_alert").order_by("pk"))


def test_it_refuses_before_payment_when_every_panel_is_full_and_alerts_once(
    plan, panel, stripe_checkout
):
    Panel.objects.filter(pk=panel.pk).update(capacity=5, lines_held=5)

    first = _buy(plan, "first@example.test")
    second = _buy(plan, "second@example.test")

    for response in (first, second):
        assert response.status_code == 200
        assert "Nothing has been charged" in response.content.decode()
    assert stripe_checkout.sessions() == []  # no gateway session was ever opened
    assert not Order.objects.exists() and not Customer.objects.exists()
    [block] = SaleBlock.objects.all()
    assert (block.plan, block.scope, block.refusals) == (plan, "DE:app", 2)
    assert "Test panel: full (5 of 5)" in block.detail
    [alert] = _alerts()  # two visitors, one alert
    assert alert.to_email == "ops@operator.test"
    assert "Cannot sell Monthly" in alert.subject and "full (5 of 5)" in alert.body_text

    # Room again: the block closes with the next checkout, which goes to the gateway.
    Panel.objects.filter(pk=panel.pk).update(capacity=6)
    third = _buy(plan, "third@example.test")
    assert third.status_code == 303
    assert len(stripe_checkout.sessions()) == 1
    block.refresh_from_db()
    assert block.resolved_at is not None

    # Full again later: a new incident, and one new alert for it.
    Panel.objects.filter(pk=panel.pk).update(capacity=5)
    _buy(plan, "fourth@example.test")
    _buy(plan, "fifth@example.test")
    assert SaleBlock.objects.filter(resolved_at__isnull=True).count() == 1
    assert len(_alerts()) == 2


def test_it_refuses_when_the_only_panel_is_disabled_or_out_of_credits(plan, panel, stripe_checkout):
    Panel.objects.filter(pk=panel.pk).update(enabled=False)

    response = _buy(plan, "x@example.test")

    assert response.status_code == 200 and not Order.objects.exists()
    assert "Test panel: disabled" in SaleBlock.objects.get().detail


def test_it_still_sells_when_the_only_panel_is_down_and_the_line_waits(
    plan, panel, stripe_checkout
):
    Panel.objects.filter(pk=panel.pk).update(health=Panel.Health.DOWN)

    response = _buy(plan, "patient@example.test")

    assert response.status_code == 303
    assert Order.objects.count() == 1 and len(stripe_checkout.sessions()) == 1
    assert not SaleBlock.objects.exists() and _alerts() == []
