"""The customer e-mails, delivered to a real SMTP server on loopback and read back."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage
from urllib.parse import urlencode

import httpx
import pytest
import time_machine
from django.utils import timezone

from boxoffice.billing.emails import (
    bank_transfer_instructions_email_send,
    payment_pending_email_send,
)
from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer, SignInLink
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import messages_deliver_due
from boxoffice.panels.models import Panel
from boxoffice.panels.services import line_access_for
from boxoffice.provisioning.emails import (
    credentials_email_send,
    provisioning_delayed_email_send,
)
from boxoffice.provisioning.models import Line

SITE_URL = "https://tv.shop.test"
# Mail goes to SMTP after commit (the outbox's fast path): these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = "Demo TV"
    settings.SUPPORT_EMAIL = "help@shop.test"


@pytest.fixture
def direct_order(db):
    """Rows made directly, no panel round-trip."""
    panel = Panel.objects.create(
        name="Direct panel",
        kind="xui_one",
        api_url="http://panel.example.test:25500",
        public_url="http://tv.example.test:8080",
    )
    plan = Plan.objects.create(
        slug="quarterly", name="Quarterly", duration_days=90, price=Decimal("24.00"), currency="EUR"
    )
    customer = Customer.objects.create(email="ann@example.test", name="Ann")
    order = Order.objects.create(
        customer=customer,
        name="Ann",
        plan=plan,
        amount=plan.price,
        currency=plan.currency,
        gateway="manual",
    )
    order.panel = panel
    return order


@pytest.fixture
def make_line(direct_order):
    def make(**kwargs) -> Line:
        fields = {
            "customer": direct_order.customer,
            "plan": direct_order.plan,
            "order": direct_order,
            "panel": direct_order.panel,
            "username": "ann_tv",
            "password": "s3cret&pw",
            "status": Line.Status.ACTIVE,
            "expires_at": timezone.now() + timedelta(days=90),
        }
        fields.update(kwargs)
        return Line.objects.create(**fields)

    return make


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",)).get_content()
    return text, html_part


def test_it_sends_the_credentials_with_a_text_and_an_html_part(make_line, smtp_inbox):
    line = make_line()

    message = credentials_email_send(line=line)

    assert message.status == Message.Status.SENT
    assert message.dedupe_key == f"credentials:line:{line.pk}"
    [received] = smtp_inbox.wait_for(1)
    assert received["To"] == "ann@example.test"
    assert received["Subject"] == "Your Demo TV login is ready"
    text, body = parts(received)
    for part in (text, html.unescape(body)):
        assert "Ann" in part
        assert "Quarterly" in part
        assert "ann_tv" in part
        assert "s3cret&pw" in part
        assert str(line.expires_at.year) in part
        assert "8080" in part
        assert "help@shop.test" in part
        for app in ("IPTV Smarters", "TiviMate", "VLC"):
            assert app in part


def test_it_puts_every_url_in_both_parts(make_line, smtp_inbox):
    line = make_line()
    access = line_access_for(line)

    credentials_email_send(line=line)

    text, body = parts(smtp_inbox.wait_for(1)[0])
    body = html.unescape(body)
    magic = re.search(rf"{re.escape(SITE_URL)}/portal/magic/[^\s<>\"]+/", text)
    assert magic, text
    for url in (
        access.m3u_url,
        access.epg_url,
        access.server_url,
        magic.group(0),
        f"{SITE_URL}/portal/",
    ):
        assert url in text
        assert url in body


def test_it_invites_a_customer_without_a_password_to_choose_one_through_a_single_use_link(
    make_line, smtp_inbox
):
    line = make_line()

    credentials_email_send(line=line)
    credentials_email_send(line=line)  # once per line: the second call sends nothing

    [received] = smtp_inbox.wait_for(1)
    text, _ = parts(received)
    assert "Your account has no password yet" in text and "within 7 days" in text
    [link] = SignInLink.objects.all()
    assert link.purpose == SignInLink.Purpose.WELCOME and link.next_path == "/portal/password/"
    token = re.search(r"/portal/magic/([^\s/]+)/", text).group(1)
    assert token not in str(SignInLink.objects.values().get())
    line.customer.refresh_from_db()
    assert not line.customer.user.has_usable_password() and not line.customer.user.is_staff


def test_it_greets_the_name_on_the_order_never_the_accounts(make_line, smtp_inbox):
    line = make_line()
    line.customer.name = "Mallory"
    line.customer.save()

    credentials_email_send(line=line)

    text, _ = parts(smtp_inbox.wait_for(1)[0])
    assert text.startswith("Hello Ann,") and "Mallory" not in text


def test_it_inlines_the_css_and_keeps_the_media_rules(make_line, smtp_inbox):
    credentials_email_send(line=make_line())

    _, body = parts(smtp_inbox.wait_for(1)[0])
    assert re.search(r'<td class="card content" style="[^"]*padding:', body)
    assert '<a class="button" href=' in body and "background: #4f46e5" in body
    assert "@media only screen and (max-width: 620px)" in body
    # Only the @media rules stay in <style>; the rest was inlined.
    style = re.search(r"<style>(.*?)</style>", body, re.S).group(1)
    assert style.strip().startswith("@media")


def test_it_gives_mag_lines_the_portal_url_and_the_mac(make_line, smtp_inbox):
    line = make_line(device="mag", mac_address="00:1A:79:12:34:56")

    credentials_email_send(line=line)

    text, body = parts(smtp_inbox.wait_for(1)[0])
    for part in (text, body):
        assert "http://tv.example.test:8080/c/" in part
        assert "00:1A:79:12:34:56" in part
        assert "MAG" in part and "Formuler" in part


def test_a_ministra_box_gets_no_login_to_type_in_its_credentials_mail(
    direct_order, make_line, smtp_inbox
):
    Panel.objects.filter(pk=direct_order.panel.pk).update(kind="ministra")
    direct_order.panel.refresh_from_db()
    line = make_line(device="mag", mac_address="00:1A:79:12:34:56")

    credentials_email_send(line=line)

    text, body = parts(smtp_inbox.wait_for(1)[0])
    for part in (text, html.unescape(body)):
        assert "http://tv.example.test:8080/stalker_portal/c/" in part
        assert "00:1A:79:12:34:56" in part
        assert "no username or password" in part
        # The account has a login on the portal, but the box never types it.
        assert "ann_tv" not in part and "s3cret&pw" not in part
        assert "Username" not in part and "Password" not in part


def test_a_ministra_login_account_keeps_its_login_in_the_credentials_mail(
    direct_order, make_line, smtp_inbox
):
    Panel.objects.filter(pk=direct_order.panel.pk).update(kind="ministra")
    direct_order.panel.refresh_from_db()

    credentials_email_send(line=make_line())

    text, body = parts(smtp_inbox.wait_for(1)[0])
    for part in (text, html.unescape(body)):
        assert "ann_tv" in part and "s3cret&pw" in part


def test_it_leaves_the_mag_portal_out_for_app_lines(make_line, smtp_inbox):
    credentials_email_send(line=make_line())

    text, body = parts(smtp_inbox.wait_for(1)[0])
    assert "/c/" not in text
    assert "MAC address" not in body


def test_it_says_plainly_that_the_requested_username_was_taken(make_line, smtp_inbox):
    line = make_line(username="ann_tv2", requested_username="ann_tv", username_adjusted=True)

    credentials_email_send(line=line)

    text, body = parts(smtp_inbox.wait_for(1)[0])
    sentence = "The username you asked for, ann_tv, was already taken, so yours is ann_tv2."
    assert sentence in text
    assert sentence in re.sub(r"<[^>]+>", "", body)


def test_it_sends_the_credentials_once(make_line, smtp_inbox):
    line = make_line()

    first = credentials_email_send(line=line)
    second = credentials_email_send(line=line)

    assert first.pk == second.pk
    smtp_inbox.wait_for(1)
    assert len(smtp_inbox.messages()) == 1
    assert Message.objects.filter(kind="credentials").count() == 1


def test_it_delivers_a_failed_message_again(make_line, smtp_inbox, settings):
    line = make_line()
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 9  # nothing listens on discard: refused
    failed = credentials_email_send(line=line)
    assert failed.status == Message.Status.FAILED

    settings.EMAIL_PORT = port
    assert credentials_email_send(line=line).pk == failed.pk  # still one row, left to the outbox
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert messages_deliver_due() == {"sent": 1}

    failed.refresh_from_db()
    assert failed.status == Message.Status.SENT
    assert len(smtp_inbox.wait_for(1)) == 1


def test_it_tells_a_pending_payment_what_happens_next(direct_order, smtp_inbox):
    Order.objects.filter(pk=direct_order.pk).update(status=Order.Status.PAYMENT_PENDING)
    direct_order.refresh_from_db()
    message = payment_pending_email_send(order=direct_order)

    assert message.dedupe_key == f"payment_pending:order:{direct_order.pk}"
    [received] = smtp_inbox.wait_for(1)
    text, body = parts(received)
    status_url = f"{SITE_URL}/order/{direct_order.status_token}/"
    for part in (text, body):
        assert "processing your payment" in part
        assert "What happens next".lower() in part.lower()
        assert status_url in part
        assert direct_order.reference in part


def test_it_sends_one_delay_notice_per_order(direct_order, make_line, smtp_inbox):
    make_line(status=Line.Status.RESERVED)  # still waiting for the panel
    provisioning_delayed_email_send(order=direct_order)
    provisioning_delayed_email_send(order=direct_order)

    [received] = smtp_inbox.wait_for(1)
    text, body = parts(received)
    assert (
        Message.objects.get(kind="provisioning_delayed").dedupe_key
        == f"delay:order:{direct_order.pk}"
    )
    for part in (text, body):
        assert "confirmed and safe" in part
        assert "arrive by e-mail on their own" in part
        assert f"{SITE_URL}/order/{direct_order.status_token}/" in part


def test_it_sends_the_bank_transfer_instructions(direct_order, smtp_inbox, run_tasks):
    instructions = "Demo TV Ltd\nIBAN: DE89 3704 0044 0532 0130 00\nBIC: COBADEFFXXX"

    message = bank_transfer_instructions_email_send(order=direct_order, instructions=instructions)
    assert smtp_inbox.messages() == []  # owed at checkout: a worker hands it to SMTP
    run_tasks()

    assert message.dedupe_key == f"bank:order:{direct_order.pk}"
    text, body = parts(smtp_inbox.wait_for(1)[0])
    assert instructions in text
    assert "IBAN: DE89 3704 0044 0532 0130 00" in body
    for part in (text, body):
        assert "24.00 EUR" in part
        assert direct_order.reference in part


@pytest.mark.django_db(transaction=True)
def test_it_mails_credentials_that_work_on_the_panel(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    from boxoffice.billing.services import order_mark_paid

    order = make_order()
    order_mark_paid(order=order)
    run_tasks()

    [received] = [m for m in smtp_inbox.wait_for(1) if "login is ready" in m["Subject"]]
    text, _ = parts(received)
    facts = dict(re.findall(r"^(Server URL|Username|Password):\s+(\S+)$", text, re.M))
    m3u_url = re.search(r"^M3U playlist:\n(\S+)$", text, re.M).group(1)
    query = urlencode({"username": facts["Username"], "password": facts["Password"]})
    player_api_url = f"{facts['Server URL']}/player_api.php?{query}"

    info = httpx.get(player_api_url, timeout=5).json()
    assert info["user_info"]["auth"] == 1
    playlist = httpx.get(m3u_url, timeout=5)
    assert playlist.status_code == 200
    assert playlist.text.startswith("#EXTM3U")
