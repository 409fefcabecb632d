"""Chromium through the card payment with Stripe's webhook held back: the first screen after
the redirect says the payment was received; and a customer who cancels on the payment page
finds a way on (pay now, another plan, cancel the order) that works."""

from __future__ import annotations

import pytest

from boxoffice.billing.models import Order
from boxoffice.storefront.tests.test_browser import SHOTS, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _to_payment_page(page, site: str, email: str) -> None:
    page.goto(site + "/checkout/monthly/")
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", "Cara Card")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=stripe]")
    page.click("form.checkout-form button[type=submit]")
    page.wait_for_url("**/pay/**")


@pytest.fixture
def held_back(site, stripe_emulator):
    stripe_emulator.configure(webhook_url=None)  # no webhook reaches us during these tests
    return site


def test_it_says_payment_received_on_the_first_screen_after_paying(
    held_back,
    browser,  # noqa: F811 - the fixture imported above
    xui_emulator,
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 900})
    _to_payment_page(page, held_back, "cara@example.test")
    page.click("button.pay")
    page.wait_for_url("**/order/**")
    headline = page.inner_text(".progress-headline")
    page.screenshot(path=str(SHOTS / "r1-status-after-card.png"), full_page=True)
    assert headline.startswith("Payment received"), headline
    assert Order.objects.get(customer__email="cara@example.test").status == Order.Status.PAID


def test_it_leads_on_after_cancel_on_the_payment_page(
    held_back,
    browser,  # noqa: F811 - the fixture imported above
    xui_emulator,
):
    page = browser.new_page(viewport={"width": 390, "height": 900})
    _to_payment_page(page, held_back, "colin@example.test")
    first = page.url
    page.click("text=Cancel and go back")
    page.wait_for_url("**/order/**")
    assert page.inner_text(".progress-headline") == "You left the payment page"
    assert page.locator(".spinner").count() == 0
    page.screenshot(path=str(SHOTS / "r2-status-after-cancel.png"), full_page=True)

    # Pay now: a fresh payment page for the same order, which pays it.
    page.click("button:has-text('Pay now')")
    page.wait_for_url("**/pay/**")
    assert page.url != first
    page.click("text=Cancel and go back")
    page.wait_for_url("**/order/**")

    # Choose another plan: this order is closed, the plans are shown.
    page.click("button:has-text('Choose another plan')")
    page.wait_for_url(held_back + "/")
    page.wait_for_selector("text=Monthly")
    order = Order.objects.get(customer__email="colin@example.test")
    assert order.status == Order.Status.CANCELLED

    # A second order, cancelled outright from its status page.
    _to_payment_page(page, held_back, "colin2@example.test")
    page.click("text=Cancel and go back")
    page.wait_for_url("**/order/**")
    page.click("button:has-text('Cancel the order')")
    page.wait_for_selector("text=This order is cancelled")
    assert Order.objects.get(customer__email="colin2@example.test").status == Order.Status.CANCELLED

    # And pay now really pays.
    _to_payment_page(page, held_back, "colin3@example.test")
    page.click("text=Cancel and go back")
    page.wait_for_url("**/order/**")
    page.click("button:has-text('Pay now')")
    page.wait_for_url("**/pay/**")
    page.click("button.pay")
    page.wait_for_url("**/order/**")
    assert page.inner_text(".progress-headline").startswith("Payment received")
    assert Order.objects.get(customer__email="colin3@example.test").status == Order.Status.PAID
