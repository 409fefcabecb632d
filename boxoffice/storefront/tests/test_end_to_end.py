"""The whole customer path over real HTTP: storefront → checkout → Stripe (emulated) → signed
webhook → line on the panel (emulated) → e-mail over SMTP → portal."""

from __future__ import annotations

import re

import httpx
import pytest

from boxoffice.billing.models import Order, WebhookEvent
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db(transaction=True)

URL_RE = re.compile(r"https?://[^\s<>\"']+")


def _csrf(http: httpx.Client, path: str) -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text[:500]
    return http.cookies["csrftoken"]


def test_it_takes_a_customer_from_the_storefront_to_a_working_line(
    site, stripe_emulator, xui_emulator, smtp_inbox, background_worker, wait_until
):
    http = httpx.Client(base_url=site, follow_redirects=False, timeout=10)
    home = http.get("/")
    assert home.status_code == 200 and "Monthly" in home.text and "/checkout/monthly/" in home.text

    token = _csrf(http, "/checkout/monthly/")
    answer = http.post(
        "/checkout/monthly/",
        data={
            "csrfmiddlewaretoken": token,
            "email": "Viewer@Example.test",
            "name": "Val Viewer",
            "preferred_username": "valtv",
            "preferred_password": "",
            "device": "app",
            "mac_address": "",
            "country": "DE",
            "gateway": "stripe",
        },
        headers={"Referer": f"{site}/checkout/monthly/"},
    )
    assert answer.status_code in (302, 303), answer.text[:2000]
    pay_url = answer.headers["location"]
    assert pay_url.startswith(stripe_emulator.base_url + "/pay/")
    session_id = pay_url.rsplit("/", 1)[-1]
    order = Order.objects.get(gateway_reference=session_id)
    assert (
        order.status == Order.Status.AWAITING_PAYMENT
        and order.customer.email == "viewer@example.test"
    )

    # The customer pays on the hosted page; Stripe redirects them to our status page.
    hosted = httpx.get(pay_url)
    assert hosted.status_code == 200
    stripe_emulator.pay(session_id)
    stripe_emulator.wait_for_deliveries()
    event = WebhookEvent.objects.get()
    assert event.event_type == "checkout.session.completed"
    line = wait_until(
        lambda: Line.objects.filter(order=order, status="active").first(), what="the line"
    )
    assert line.username == "valtv"

    [mail] = smtp_inbox.wait_for(1)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    urls = set(URL_RE.findall(text))
    m3u = next(u for u in urls if "get.php" in u or "/playlist/" in u)
    epg = next(u for u in urls if "xmltv.php" in u or "/epg/" in u)
    portal_link = next(u for u in urls if "/portal/magic/" in u)
    assert xui_emulator.base_url in urls or any(
        u.rstrip("/") == xui_emulator.base_url for u in urls
    )
    for url in (m3u, epg, portal_link):
        assert url.replace("&", "&amp;") in html or url in html
    assert "valtv" in text and line.password in text

    info = httpx.get(
        f"{xui_emulator.base_url}/player_api.php",
        params={"username": "valtv", "password": line.password},
    ).json()
    assert info["user_info"]["auth"] == 1
    playlist = httpx.get(m3u)
    assert playlist.status_code == 200 and playlist.text.startswith("#EXTM3U")
    assert "<tv" in httpx.get(epg).text

    status = http.get(f"/order/{order.status_token}/")
    assert status.status_code == 200 and "valtv" in status.text

    # The link in the mail signs the customer in once and asks for a password (the account
    # had none: checkout never sets one).
    assert portal_link.startswith(site)
    landing = http.get(portal_link.removeprefix(site))
    assert landing.status_code == 302 and landing.headers["location"] == "/portal/magic/confirm/"
    token = _csrf(http, "/portal/magic/confirm/")
    confirm = re.search(
        r'name="confirm" value="([0-9a-f]+)"', http.get("/portal/magic/confirm/").text
    )
    signed_in = http.post(
        "/portal/magic/confirm/",
        data={"csrfmiddlewaretoken": token, "confirm": confirm.group(1)},
        headers={"Referer": f"{site}/portal/magic/confirm/", "Origin": site},
    )
    assert signed_in.status_code == 302 and signed_in.headers["location"] == "/portal/password/"
    token = _csrf(http, "/portal/password/")
    chosen = http.post(
        "/portal/password/",
        data={
            "csrfmiddlewaretoken": token,
            "new_password1": "correct-horse-battery",
            "new_password2": "correct-horse-battery",
        },
        headers={"Referer": f"{site}/portal/password/", "Origin": site},
    )
    assert chosen.status_code == 302, chosen.text[:1000]
    overview = http.get("/portal/")
    assert overview.status_code == 200
    assert "valtv" in overview.text and line.password in overview.text
    # The link worked once.
    assert http.get(portal_link.removeprefix(site)).status_code == 400

    # Signed out, the password chosen above signs in.
    http.post(
        "/portal/logout/",
        data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
        headers={"Referer": f"{site}/portal/"},
    )
    token = _csrf(http, "/portal/login/")
    login = http.post(
        "/portal/login/",
        data={
            "csrfmiddlewaretoken": token,
            "username": "viewer@example.test",
            "password": "correct-horse-battery",
        },
        headers={"Referer": f"{site}/portal/login/"},
    )
    assert login.status_code == 302, login.text[:1000]
    assert "valtv" in http.get("/portal/").text
