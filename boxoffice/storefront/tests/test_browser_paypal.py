"""Chromium through a PayPal checkout: storefront → checkout (PayPal) → the PayPal emulator's
approval page → back on our status page, where the line turns up active with its credentials
(the worker provisions it on the panel emulator). Once with PayPal's webhooks arriving, once
with them held back (the return captures)."""

from __future__ import annotations

import pytest

from boxoffice.billing.gateways.paypal.client import tokens_forget
from boxoffice.billing.models import Order, Payment
from boxoffice.provisioning.models import Line
from boxoffice.storefront.tests.test_browser import SHOTS, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def paypal_site(site, settings, paypal_emulator):
    tokens_forget()
    settings.PAYMENT_GATEWAYS = ["stripe", "paypal", "manual"]
    settings.PAYPAL_API_BASE = paypal_emulator.base_url
    settings.PAYPAL_CLIENT_ID = paypal_emulator.client_id
    settings.PAYPAL_CLIENT_SECRET = paypal_emulator.client_secret
    settings.PAYPAL_WEBHOOK_ID = paypal_emulator.webhook_id
    paypal_emulator.configure(webhook_url=f"{site}/billing/webhooks/paypal/")
    yield site
    tokens_forget()


@pytest.mark.parametrize("webhooks", ["delivered", "held back"])
def test_it_pays_with_paypal_and_shows_the_active_line(
    webhooks,
    paypal_site,
    paypal_emulator,
    browser,  # noqa: F811 - the fixture imported above
    xui_emulator,
    background_worker,
):
    if webhooks == "held back":
        paypal_emulator.configure(webhook_url=None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 900})
    email = f"pia-{webhooks.replace(' ', '-')}@example.test"
    page.goto(paypal_site + "/checkout/monthly/")
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", "Pia PayPal")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=paypal]")
    page.click("form.checkout-form button[type=submit]")
    page.wait_for_url("**/checkoutnow?token=**")
    assert paypal_emulator.base_url in page.url
    page.screenshot(path=str(SHOTS / "paypal-1-approve.png"), full_page=True)
    page.click("button.pay")
    page.wait_for_url("**/order/**")
    # The first screen acknowledges the payment; with the webhook delivered the line may even
    # be ready by the time the page renders (the worker takes well under a second).
    headline = page.inner_text(".progress-headline")
    assert headline.startswith(("Payment received", "Your line is ready")), headline
    page.wait_for_selector("#cred-username", timeout=20_000)
    page.screenshot(path=str(SHOTS / "paypal-2-line.png"), full_page=True)
    order = Order.objects.get(customer__email=email)
    assert order.status == Order.Status.PAID
    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    assert page.inner_text("#cred-username") == line.username
    assert Payment.objects.filter(order=order, status=Payment.Status.CONFIRMED).count() == 1
