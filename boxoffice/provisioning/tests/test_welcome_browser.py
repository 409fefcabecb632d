"""The welcome mails in a real browser (Debian's chromium through Playwright), at phone and desktop
widths: each mail as received over SMTP, its open image fetched, its tracked links followed (ours
to the page they name, the app vendors' only as far as the redirect: no network beyond loopback)
and the unsubscribe link's page used as a customer would."""

from __future__ import annotations

import html
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client

from boxoffice.billing.services import order_mark_paid
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import MessageTracking
from boxoffice.provisioning.welcome_emails import welcome_email_send
from boxoffice.storefront.tests.test_browser import browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(
    os.environ.get(
        "BOXOFFICE_WELCOME_SCREENSHOTS",
        Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots" / "welcome",
    )
)
MAILS = [("day1", "watching"), ("day1", "not_watching"), ("day3", ""), ("day7", "")]


@pytest.fixture
def line(live_server, settings, make_order, run_tasks, xui_emulator, smtp_inbox, plan):
    settings.SITE_URL = live_server.url
    settings.SITE_NAME = "Demo TV"
    plan.extra_connection_price = Decimal("3.00")
    plan.max_extra_connections = 2
    plan.save()
    customer = Customer.objects.create(email="viewer@example.test", name="Viewer")
    order = make_order(customer=customer, name="Viewer")
    assert order_mark_paid(order=order, gateway_payment_id="pay_browser")
    run_tasks()
    return order.lines.get()


@pytest.mark.parametrize("width", [360, 1280])
def test_each_welcome_mail_renders_and_its_links_work(
    width,
    line,
    browser,  # noqa: F811 - the fixture imported above
    smtp_inbox,
    live_server,
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    site = live_server.url
    messages = []
    for step, variant in MAILS:
        message = welcome_email_send(line=line, step=step, variant=variant)
        messages.append(message)
        # One line owes one mail per step: the second day-1 variant needs its own key.
        message.dedupe_key = None
        message.save(update_fields=["dedupe_key"])
    received = smtp_inbox.wait_for(1 + len(MAILS))[1:]
    page = browser.new_page(viewport={"width": width, "height": 900})
    for (step, variant), mail, message in zip(MAILS, received, messages, strict=True):
        name = f"{step}{'-' + variant if variant else ''}"
        body = mail.get_body(("html",)).get_content()
        # Each mail on a blank page of its own, as a mail client shows it: a page of our site
        # (where the previous mail's links led) would apply the site's CSP to the mail.
        page.close()
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_content(body, wait_until="networkidle")
        page.screenshot(path=str(SHOTS / f"welcome-{name}-{width}.png"), full_page=True)
        # Nothing wider than the screen (the phone layout's @media rules apply).
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        assert MessageTracking.objects.get(message=message).opens >= 1  # the image loaded
        hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body)]
        tracked = [h for h in hrefs if "/m/c/" in h]
        assert tracked, name
        for href in tracked:
            answer = page.request.get(href, max_redirects=0)
            assert answer.status == 302, href
            target = answer.headers["location"]
            assert not target.startswith(f"{site}/m/")
            if target.startswith(site):
                # Ours (the portal, its add-on page): followed to the page, which answers.
                landed = page.goto(href)
                assert landed is not None and landed.ok, (href, target)
                assert page.url.startswith(site) and "/m/c/" not in page.url
            else:
                assert target.startswith("https://"), target  # an app vendor's page
    # The unsubscribe link of the last mail, as a customer uses it: the page, then its button.
    url = "".join(str(received[-1]["List-Unsubscribe"]).split()).strip("<>")
    assert url.startswith(f"{site}/portal/unsubscribe/")
    page.goto(url)
    page.screenshot(path=str(SHOTS / f"unsubscribe-{width}.png"), full_page=True)
    # The page's own form (the header's language switcher is a form with a button too).
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=You are unsubscribed")
    page.screenshot(path=str(SHOTS / f"unsubscribed-{width}.png"), full_page=True)
    line.customer.refresh_from_db()
    assert line.customer.onboarding_unsubscribed_at is not None
    page.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_the_operator_sees_the_report_and_previews_both_variants(
    width,
    line,
    browser,  # noqa: F811 - the fixture imported above
    live_server,
    admin_user,
):
    client = Client()
    client.force_login(admin_user)
    context = browser.new_context(viewport={"width": width, "height": 900})
    host = live_server.url.split("://", 1)[1].split(":")[0]
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": host,
                "path": "/",
            }
        ]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/backoffice/welcome/")
    page.wait_for_selector("text=By template")
    page.screenshot(path=str(SHOTS / f"backoffice-report-{width}.png"), full_page=True)
    for kind, words in [
        ("welcome_day1", "Recommended apps"),
        ("welcome_day1_start", "get you watching"),
    ]:
        page.goto(f"{live_server.url}/backoffice/welcome/preview/{kind}/")
        frame = page.frame_locator("iframe.welcome-preview-html")
        frame.get_by_text(words).first.wait_for()
        page.screenshot(path=str(SHOTS / f"backoffice-preview-{kind}-{width}.png"), full_page=True)
    context.close()
