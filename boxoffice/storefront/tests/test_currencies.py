"""Prices in the customer's currency: a plan's own price per currency (set by the operator),
shown on the plans and checkout pages by the customer's choice or their browser's region, and
charged exactly as shown; a line bought in a currency renews in it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan, PlanPrice
from boxoffice.provisioning.lifecycle import renewal_pay_token
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def gateways(settings):
    settings.PAYMENT_GATEWAYS = ["manual"]


@pytest.fixture
def priced(plan):
    PlanPrice.objects.create(plan=plan, currency="GBP", amount=Decimal("8.49"))
    PlanPrice.objects.create(plan=plan, currency="USD", amount=Decimal("10.99"))
    return plan


def _form(**extra) -> dict:
    data = {
        "email": "new@example.test",
        "name": "New Customer",
        "device": "app",
        "country": "GB",
        "gateway": "manual",
    }
    data.update(extra)
    return data


def test_the_browsers_region_picks_the_currency_and_the_customer_can_switch(client, priced):
    british = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").content.decode()
    assert "8.49 <small>GBP</small>" in british and "9.99 <small>EUR</small>" not in british

    switched = client.get("/?currency=usd", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert "10.99 <small>USD</small>" in switched
    later = client.get("/checkout/monthly/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert "10.99 <small>USD</small>" in later  # the choice is kept
    assert 'name="currency" value="USD"' in later

    unknown = client.get("/?currency=XYZ", HTTP_ACCEPT_LANGUAGE="fr-FR").content.decode()
    # An unknown code changes nothing (the page is in French now: a decimal comma).
    assert "10,99 <small>USD</small>" in unknown


def test_a_plan_without_a_price_in_that_currency_shows_its_own(client, priced):
    Plan.objects.create(slug="annual", name="Annual", duration_days=365, price=Decimal("79.99"))
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert "8.49 <small>GBP</small>" in page and "79.99 <small>EUR</small>" in page


def test_the_order_is_charged_in_the_currency_the_page_showed(client, priced):
    response = client.post(
        "/checkout/monthly/", _form(currency="GBP"), HTTP_ACCEPT_LANGUAGE="en-US"
    )
    order = Order.objects.get()
    assert response.status_code == 303
    assert (order.amount, order.currency) == (Decimal("8.49"), "GBP")


def test_a_currency_the_plan_has_no_price_in_falls_back_to_the_customers(client, priced):
    client.post("/checkout/monthly/", _form(currency="JPY"), HTTP_ACCEPT_LANGUAGE="en-US")
    order = Order.objects.get()
    assert (order.amount, order.currency) == (Decimal("10.99"), "USD")


def test_a_line_bought_in_pounds_renews_in_pounds(client, priced):
    client.post("/checkout/monthly/", _form(currency="GBP"))
    first = Order.objects.get()
    line = Line.objects.create(
        customer=first.customer,
        plan=priced,
        order=first,
        panel=priced.panel_mappings.get().panel,
        username="pounds",
        password="pw",
        panel_line_id="9",
        status=Line.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=3),
    )
    page = client.get(f"/renew/{renewal_pay_token(line)}/").content.decode()
    assert "8.49 <small>GBP</small>" in page
    client.post(f"/renew/{renewal_pay_token(line)}/", {"gateway": "manual"})
    renewal = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert (renewal.amount, renewal.currency) == (Decimal("8.49"), "GBP")


def test_the_checkout_page_switches_currency_too(client, priced):
    page = client.get("/checkout/monthly/?currency=GBP", HTTP_ACCEPT_LANGUAGE="en-US")
    body = page.content.decode()
    assert "8.49 <small>GBP" in body and 'href="?currency=USD"' in body
    assert 'name="currency" value="GBP"' in body
