"""In a real browser: a customer signs in, renews early by card (the Stripe emulator's page),
and the portal shows the new expiry once the panel (the XUI One emulator) has confirmed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from boxoffice.billing.services import order_create, order_mark_paid
from boxoffice.customers.services import customer_portal_user
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.storefront.tests.test_browser import SHOTS, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_renews_early_by_card_and_shows_the_new_expiry_after_the_panel_confirms(
    site,
    browser,  # noqa: F811 - the fixture imported above
    plan,
    customer,
    xui_emulator,
    smtp_inbox,
    background_worker,
    wait_until,
):
    first = order_create(customer=customer, plan=plan, gateway="manual")
    order_mark_paid(order=first, gateway_payment_id="pay_first")
    line = wait_until(
        lambda: Line.objects.filter(order=first, status="active").first(), what="the line"
    )
    before = line.expires_at
    user = customer_portal_user(customer=customer)
    user.set_password("renew-me-early-42")
    user.save()

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site + "/portal/login/")
    page.fill("input[name=username]", customer.email)
    page.fill("input[name=password]", "renew-me-early-42")
    page.click("form.card button[type=submit]")
    page.wait_for_url(site + "/portal/")
    assert f"{before:%-d %B %Y}" in page.content()

    page.click("text=Renew early")
    page.wait_for_url("**/renew/**")
    assert line.username in page.content() and line.password not in page.content()
    page.screenshot(path=str(SHOTS / "r1-renew-1280.png"), full_page=True)
    page.check("input[name=gateway][value=stripe]")
    page.click("button.checkout-submit")
    page.wait_for_url("**/pay/**")
    page.click("button.pay")
    page.wait_for_url("**/order/**")
    page.wait_for_selector("text=Your subscription is renewed", timeout=20_000)
    page.screenshot(path=str(SHOTS / "r2-renewed-1280.png"), full_page=True)

    line.refresh_from_db()
    after = before + timedelta(days=30)
    assert line.expires_at == after
    assert PanelOperation.objects.filter(kind="extend", status="succeeded").count() == 1
    [row] = xui_emulator.lines()
    assert datetime.fromtimestamp(int(row["exp_date"]), tz=UTC) == after
    page.goto(site + "/portal/")
    assert f"{after:%-d %B %Y}" in page.content()
    assert "Renew early" in page.content()
    page.screenshot(path=str(SHOTS / "r3-portal-1280.png"), full_page=True)
