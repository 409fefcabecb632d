"""Real Chromium under the Content-Security-Policy: every public page works with no inline
script or style (the copy buttons too), and the back office stays inside its looser policy."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from boxoffice.customers.services import customer_portal_user
from boxoffice.provisioning.models import Line
from boxoffice.storefront.tests.test_browser import browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watched_page(browser):  # noqa: F811 - the fixture imported above
    """A page and the Content-Security-Policy violations it reports in its console."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused: list[str] = []

    def collect(message):
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(f"{page.url}: {message.text}")

    page.on("console", collect)
    return page, refused


def _copy_works(page, button_selector: str) -> None:
    button = page.locator(button_selector).first
    before = button.inner_text()
    button.click()
    page.wait_for_function(
        "([button, before]) => button.textContent !== before",
        arg=[button.element_handle(), before],
    )
    assert button.inner_text() in ("Copied", "Selected", "Selected: copy it now")


def test_it_runs_the_public_pages_without_a_policy_violation(
    site,
    browser,  # noqa: F811 - the fixture imported above
    xui_emulator,
    smtp_inbox,
    background_worker,
):
    page, refused = _watched_page(browser)

    page.goto(site + "/")
    page.wait_for_selector("text=Monthly")
    page.click("a[href='/checkout/monthly/']")
    page.fill("input[name=email]", "csp@example.test")
    page.fill("input[name=name]", "Cora Policy")
    page.fill("input[name=preferred_username]", "cora")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=stripe]")
    page.click("form.checkout-form button[type=submit]")
    page.wait_for_url("**/pay/**")  # the gateway's own origin: no form-action in the policy
    page.click("button.pay")
    page.wait_for_url("**/order/**")
    assert page.evaluate("document.documentElement.classList.contains('js')")
    page.wait_for_selector("#cred-username", timeout=20_000)  # htmx polling, in a static file
    _copy_works(page, "button[data-copy=cred-password]")

    line = Line.objects.get(customer__email="csp@example.test")
    user = customer_portal_user(customer=line.customer)
    user.set_password("correct-horse-battery")
    user.save()
    page.goto(site + "/portal/login/")
    page.fill("input[name=username]", "csp@example.test")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("form.card button[type=submit] >> text=Sign in")
    page.wait_for_url(site + "/portal/")
    page.wait_for_selector(".copy-btn:not([hidden])")  # the script un-hides them
    _copy_works(page, ".copy-btn")

    assert refused == []
    page.close()


def test_it_keeps_the_back_office_within_its_own_policy(
    site,
    browser,  # noqa: F811 - the fixture imported above
    make_order,
):
    get_user_model().objects.create_superuser(
        username="ops", email="ops@operator.test", password="operator-password-1"
    )
    order = make_order()
    page, refused = _watched_page(browser)

    page.goto(site + "/admin/login/?next=/admin/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "operator-password-1")
    page.click("[type=submit]")
    page.wait_for_url(site + "/admin/")
    for path in (
        "/admin/billing/order/",
        f"/admin/billing/order/{order.pk}/change/",
        "/admin/catalog/plan/add/",
        "/backoffice/review/",
        f"/backoffice/review/orders/{order.pk}/confirm-transfer/",
        "/backoffice/inbox/",
    ):
        response = page.goto(site + path)
        assert response.ok, path
        page.wait_for_load_state("networkidle")

    assert refused == []
    page.close()
