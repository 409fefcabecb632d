"""The demo's way through, automated: the storefront checkout offers every enabled gateway, and a
customer who picks BTCPay or NOWPayments, clicks "Pay in full" on the emulator's page and comes
back ends with a line on the panel (the XUI One emulator), all over real HTTP."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from boxoffice.billing.checkout import CheckoutData, checkout_begin, order_checkout_restart
from boxoffice.billing.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(settings, live_server, btcpay_emulator, nowpayments_emulator):
    settings.SITE_URL = live_server.url
    settings.PAYMENT_GATEWAYS = ["stripe", "btcpay", "nowpayments", "manual"]
    settings.BTCPAY_URL = btcpay_emulator.base_url
    settings.BTCPAY_API_KEY = btcpay_emulator.api_key
    settings.BTCPAY_STORE_ID = btcpay_emulator.store_id
    settings.BTCPAY_WEBHOOK_SECRET = btcpay_emulator.webhook_secret
    btcpay_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/btcpay/")
    settings.NOWPAYMENTS_API_BASE = nowpayments_emulator.base_url
    settings.NOWPAYMENTS_API_KEY = nowpayments_emulator.api_key
    settings.NOWPAYMENTS_IPN_SECRET = nowpayments_emulator.ipn_secret
    return {"btcpay": btcpay_emulator, "nowpayments": nowpayments_emulator, "url": live_server.url}


@pytest.mark.parametrize("kind", ["btcpay", "nowpayments"])
def test_a_customer_clicks_through_to_a_line(kind, site, plan, xui_emulator, run_tasks):
    browser = httpx.Client(base_url=site["url"], follow_redirects=False, timeout=10)
    form = browser.get(f"/checkout/{plan.slug}/").text
    for offered in ("stripe", "btcpay", "nowpayments", "manual"):
        assert f'name="gateway" value="{offered}"' in form
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    email = f"click-{uuid.uuid4().hex[:6]}@example.test"
    answer = browser.post(
        f"/checkout/{plan.slug}/",
        data={
            "csrfmiddlewaretoken": token,
            "email": email,
            "name": "Click Through",
            "device": "app",
            "country": "DE",
            "gateway": kind,
        },
        headers={"Referer": f"{site['url']}/checkout/{plan.slug}/"},
    )
    assert answer.status_code == 303, answer.text[:500]
    pay_page = answer.headers["location"]
    assert pay_page.startswith(site[kind].base_url)

    page = httpx.get(pay_page).text
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    back = httpx.post(site[kind].base_url + action.replace("&amp;", "&"), data={"action": "pay"})
    assert back.status_code == 303 and back.headers["location"].startswith(site["url"])
    site[kind].wait_for_deliveries()
    run_tasks()

    order = Order.objects.get(customer__email=email)
    assert order.status == Order.Status.PAID
    [line] = order.lines.all()
    line.refresh_from_db()
    assert line.status == "active"
    assert [r["username"] for r in xui_emulator.lines()] == [line.username]
    status = browser.get(back.headers["location"].removeprefix(site["url"])).text
    assert line.username in status


def test_paying_again_from_the_status_page_closes_the_old_btcpay_invoice(site, plan, run_tasks):
    emulator = site["btcpay"]
    data = CheckoutData(
        email="again@example.test",
        name="Again",
        preferred_username="",
        preferred_password="",
        device=Order.Device.APP,
        mac_address="",
        country="DE",
        gateway="btcpay",
    )
    order = checkout_begin(plan=plan, data=data, status_url_for=lambda o: site["url"]).order
    order.refresh_from_db()
    first = order.gateway_reference
    target = order_checkout_restart(order=order, status_url=site["url"], replacing=first)
    order.refresh_from_db()
    assert order.gateway_reference != first and target.startswith(emulator.base_url)
    assert emulator.invoice(first)["status"] == "Invalid"  # can no longer be paid
    emulator.wait_for_deliveries()
    run_tasks()
    emulator.pay(order.gateway_reference)
    emulator.wait_for_deliveries()
    run_tasks()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.lines.count() == 1
