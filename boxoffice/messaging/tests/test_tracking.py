"""Open and click tracking of non-transactional mail: signed per-message tokens, a redirect that
only reaches the links of that message, and tampered tokens refused without a 500."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message, MessageLink, MessageTracking
from boxoffice.messaging.tracking import click_token, open_token
from boxoffice.panels.models import Panel
from boxoffice.provisioning.emails import credentials_email_send
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.welcome_emails import welcome_email_send

SITE_URL = "https://tv.shop.test"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = "Demo TV"
    settings.SUPPORT_EMAIL = "help@shop.test"


@pytest.fixture
def line(db):
    panel = Panel.objects.create(
        name="Direct panel",
        kind="xui_one",
        api_url="http://panel.example.test:25500",
        public_url="http://tv.example.test:8080",
    )
    plan = Plan.objects.create(
        slug="monthly",
        name="Monthly",
        duration_days=30,
        price=Decimal("9.00"),
        currency="EUR",
        extra_connection_price=Decimal("3.00"),
        max_extra_connections=2,
    )
    customer = Customer.objects.create(email="ann@example.test", name="Ann")
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=panel,
        username="ann_tv",
        password="s3cret&pw",
        status=Line.Status.ACTIVE,
        panel_line_id="7",
        activated_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=30),
    )


def _hrefs(body: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body)]


def _path(url: str) -> str:
    assert url.startswith(SITE_URL), url
    return url[len(SITE_URL) :]


def test_it_rewrites_every_web_link_of_the_html_part_and_adds_the_open_image(line, smtp_inbox):
    message = welcome_email_send(line=line, step="day7")

    message.refresh_from_db()
    links = {link.url for link in MessageLink.objects.filter(message=message)}
    assert f"{SITE_URL}/portal/lines/{line.pk}/connections/" in links
    assert f"{SITE_URL}/portal/" in links
    hrefs = _hrefs(message.body_html)
    unsubscribe = message.headers["List-Unsubscribe"].strip("<>")
    for href in hrefs:
        assert (
            href.startswith(f"{SITE_URL}/m/c/") or href == unsubscribe or href.startswith("mailto:")
        ), href
    assert unsubscribe in hrefs  # the unsubscribe link works as it is
    assert f'src="{SITE_URL}/m/o/' in message.body_html
    # The plain-text part keeps the real addresses.
    assert f"{SITE_URL}/portal/lines/{line.pk}/connections/" in message.body_text
    assert "/m/c/" not in message.body_text
    [received] = smtp_inbox.wait_for(1)
    assert "/m/c/" in received.get_body(("html",)).get_content()


def test_a_click_goes_to_the_link_of_that_message_and_is_counted(line, client, smtp_inbox):
    message = welcome_email_send(line=line, step="day7")
    message.refresh_from_db()
    tracked = [h for h in _hrefs(message.body_html) if "/m/c/" in h]

    response = client.get(_path(tracked[0]))

    assert response.status_code == 302
    first = MessageLink.objects.get(message=message, number=1)
    assert response["Location"] == first.url
    first.refresh_from_db()
    tracking = MessageTracking.objects.get(message=message)
    assert (first.clicks, tracking.clicks) == (1, 1)
    assert tracking.first_clicked_at is not None
    assert tracking.first_opened_at is not None  # a click proves the mail was opened


def test_the_open_image_counts_opens(line, client, smtp_inbox):
    message = welcome_email_send(line=line, step="day3")
    message.refresh_from_db()
    pixel = re.search(r'src="([^"]+/m/o/[^"]+)"', message.body_html).group(1)

    for _ in range(2):
        response = client.get(_path(html.unescape(pixel)))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"

    tracking = MessageTracking.objects.get(message=message)
    assert tracking.opens == 2
    assert tracking.first_opened_at is not None
    assert tracking.clicks == 0


def test_it_refuses_tampered_tokens_and_links_that_were_not_in_the_message(line, smtp_inbox):
    message = welcome_email_send(line=line, step="day7")
    client = Client(raise_request_exception=False)
    good = click_token(message.pk, 1)
    count = MessageLink.objects.filter(message=message).count()
    tampered = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),  # the signature altered
        signing.dumps([message.pk, 1], salt="another salt", compress=False),
        click_token(message.pk, count + 1),  # a number the message had no link for
        click_token(message.pk + 1000, 1),  # no such message
        open_token(message.pk),  # an open token is not a click token
        signing.dumps("https://evil.test/", salt="boxoffice.messaging.click", compress=False),
        "not-a-token",
        "%00%ff",
    ]
    for token in tampered:
        response = client.get(f"/m/c/{token}/")
        assert response.status_code == 404, token
        assert "evil.test" not in response.get("Location", "")
    assert client.get("/m/o/not-a-token.gif").status_code == 404
    assert client.get(f"/m/o/{click_token(message.pk, 1)}.gif").status_code == 404
    # Nothing was counted by any of it.
    assert MessageTracking.objects.get(message=message).clicks == 0
    assert MessageTracking.objects.get(message=message).opens == 0


def test_the_credentials_mail_is_never_tracked(line, smtp_inbox):
    message = credentials_email_send(line=line)

    message.refresh_from_db()
    assert not MessageTracking.objects.filter(message=message).exists()
    assert "/m/c/" not in message.body_html and "/m/o/" not in message.body_html
    assert "List-Unsubscribe" not in message.headers


def test_a_mail_recorded_twice_is_tracked_once(line, smtp_inbox):
    first = welcome_email_send(line=line, step="day7")
    again = welcome_email_send(line=line, step="day7")

    assert first.pk == again.pk
    assert MessageTracking.objects.filter(message=first).count() == 1
    assert Message.objects.filter(dedupe_key=first.dedupe_key).count() == 1
