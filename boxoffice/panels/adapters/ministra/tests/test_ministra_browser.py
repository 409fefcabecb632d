"""A phone-width browser buys a box plan on a Ministra panel: the MAC typed at checkout, the order
paid (bank transfer, marked paid as the operator would), the status page and the HTML mail
showing the portal URL and the MAC, the account on the portal emulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxoffice.billing.models import Order
from boxoffice.billing.services import order_mark_paid
from boxoffice.provisioning.models import Line
from boxoffice.storefront.tests.test_browser import CHROMIUM_ARGS, _chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(
    os.environ.get(
        "BOXOFFICE_SCREENSHOTS",
        Path(__file__).resolve().parents[5] / "test-artifacts" / "screenshots",
    )
)


@pytest.fixture
def browser():
    executable = _chromium()
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_a_phone_buys_a_box_plan_on_a_ministra_portal(
    live_server, settings, ministra_plan, ministra_emulator, browser, smtp_inbox, background_worker
):
    settings.SITE_URL = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 360, "height": 800})

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"ministra-{name}-360.png"), full_page=True)

    page.goto(f"{live_server.url}/checkout/{ministra_plan.slug}/")
    page.fill("input[name=email]", "box.phone@example.test")
    page.fill("input[name=name]", "Phone Owner")
    page.check("input[name=device][value=mag]")
    page.fill("input[name=mac_address]", "00:1a:79:12:34:56")
    page.select_option("select[name=country]", "DE")
    page.check("input[name=gateway][value=manual]")
    shot("1-checkout")
    page.click("main button[type=submit]")
    page.wait_for_url("**/order/**")

    order = Order.objects.get(customer__email="box.phone@example.test")
    assert order.mac_address == "00:1A:79:12:34:56"
    assert order_mark_paid(order=order)
    page.reload()
    page.wait_for_selector("#cred-mag_portal_url", timeout=20_000)
    portal = f"{ministra_emulator.base_url}/stalker_portal/c/"
    assert page.inner_text("#cred-mag_portal_url") == portal
    assert page.inner_text("#cred-mac_address") == "00:1A:79:12:34:56"
    shot("2-status-ready")

    line = Line.objects.get(order=order)
    [account] = ministra_emulator.accounts()
    assert account["stb_mac"] == "00:1A:79:12:34:56" and account["account_number"] == line.username

    # The bank-transfer instructions came first; the credentials mail is the one with the login.
    [mail] = [
        m
        for m in smtp_inbox.wait_for(2)
        if m["To"] == "box.phone@example.test" and "login is ready" in m["Subject"]
    ]
    html = mail.get_body(preferencelist=("html",)).get_content()
    page.goto("about:blank")
    page.set_content(html)
    assert portal in page.inner_text("body") and "00:1A:79:12:34:56" in page.inner_text("body")
    shot("3-credentials-email")
