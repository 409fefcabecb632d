"""Real Chromium through the ways back into an account: a returning customer at checkout asks
for a sign-in link and comes back to the checkout signed in, and a forgotten password is reset
from the link in the real mail (parsed from the SMTP server)."""

from __future__ import annotations

import re

import pytest

from boxoffice.billing.models import Order
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_portal_user
from boxoffice.storefront.tests.test_browser import SHOTS, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _link(smtp_inbox, to: str, pattern: str, count: int = 1) -> str:
    mails = [m for m in smtp_inbox.wait_for(count) if m["To"] == to]
    html = mails[-1].get_body(preferencelist=("html",)).get_content()
    return re.search(pattern, html).group(0)


def _page(browser, width):  # noqa: F811 - the fixture imported above
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


@pytest.mark.parametrize("width", [360, 1280])
def test_it_brings_a_returning_customer_back_to_checkout_signed_in(
    width,
    site,
    browser,  # noqa: F811 - the fixture imported above
    smtp_inbox,
    background_worker,
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    email = f"back{width}@example.test"
    Customer.objects.create(email=email, name="Earlier Order")
    page, problems = _page(browser, width)

    page.goto(site + "/checkout/monthly/")
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", "Rita Returning")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=stripe]")
    page.click("form.checkout-form button[type=submit]")
    page.wait_for_selector(".known-address")
    page.screenshot(path=str(SHOTS / f"a1-known-address-{width}.png"), full_page=True)
    assert Order.objects.count() == 0

    page.click("button[form=known-address-link]")
    page.wait_for_selector("text=Check your inbox")
    link = _link(smtp_inbox, email, r"https?://[^\"<>\s]+/portal/magic/[^\"<>\s/]+/")
    page.goto(link)
    page.wait_for_url("**/portal/magic/confirm/")
    page.screenshot(path=str(SHOTS / f"a2-confirm-{width}.png"), full_page=True)
    page.click("form.card button[type=submit]")
    page.wait_for_url(site + "/checkout/monthly/")

    assert page.input_value("input[name=email]") == email
    assert page.is_disabled("input[name=email]")
    page.fill("input[name=name]", "Rita Returning")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=stripe]")
    page.screenshot(path=str(SHOTS / f"a3-checkout-signed-in-{width}.png"), full_page=True)
    page.click("form.checkout-form button[type=submit]")
    page.wait_for_url("**/pay/**")

    order = Order.objects.get()
    assert order.customer.email == email and order.name == "Rita Returning"
    assert problems == []
    page.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_it_resets_a_forgotten_password_in_the_browser(
    width,
    site,
    browser,  # noqa: F811 - the fixture imported above
    smtp_inbox,
    background_worker,
):
    email = f"forgot{width}@example.test"
    customer = Customer.objects.create(email=email)
    user = customer_portal_user(customer=customer)
    user.set_password("long-forgotten-9")
    user.save()
    page, problems = _page(browser, width)

    page.goto(site + "/portal/login/")
    page.click("text=Forgot your password?")
    page.wait_for_url("**/portal/password/reset/")
    page.fill("input[name=email]", email)
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=Check your inbox")

    link = _link(smtp_inbox, email, r"https?://[^\"<>\s]+/portal/reset/[^\"<>\s]+/")
    page.goto(link)
    page.wait_for_url("**/set-password/")
    page.fill("input[name=new_password1]", "brand-new-ferry-77")
    page.fill("input[name=new_password2]", "brand-new-ferry-77")
    page.screenshot(path=str(SHOTS / f"b1-reset-{width}.png"), full_page=True)
    page.click("form.card button[type=submit]")
    page.wait_for_url(site + "/portal/")
    assert "Your password is saved" in page.content()

    page.click("form.nav-form button")
    page.wait_for_url(site + "/portal/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", "brand-new-ferry-77")
    page.click("form.card button[type=submit] >> text=Sign in")
    page.wait_for_url(site + "/portal/")
    page.goto(link)
    assert "does not work any more" in page.content()
    assert problems == []
    page.close()
