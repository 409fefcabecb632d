"""Underpaid crypto is never provisioned: a part-paid BTCPay invoice reaches the review queue
with the amounts shown, and the operator accepts it or asks for the rest with a new pay link
(any gateway). Over real HTTP: the BTCPay emulator, the live webhook endpoint, the local inbox."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from boxoffice.audit.models import AuditEvent
from boxoffice.billing.checkout import CheckoutData, checkout_begin
from boxoffice.billing.gateways.base import PARTIAL, PaymentUpdate
from boxoffice.billing.models import Order, Payment
from boxoffice.billing.services import order_confirm_bank_transfer, payment_update_apply
from boxoffice.billing.underpaid import (
    UnderpaymentNotActionable,
    order_accept_underpaid,
    order_ask_for_rest,
)
from boxoffice.messaging.models import Message
from boxoffice.provisioning.models import PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)

REVIEW_URL = "/backoffice/review/"


@pytest.fixture
def crypto(settings, live_server, btcpay_emulator, run_tasks):
    settings.SITE_URL = live_server.url
    settings.PAYMENT_GATEWAYS = ["stripe", "btcpay", "manual"]
    settings.BTCPAY_URL = btcpay_emulator.base_url
    settings.BTCPAY_API_KEY = btcpay_emulator.api_key
    settings.BTCPAY_STORE_ID = btcpay_emulator.store_id
    settings.BTCPAY_WEBHOOK_SECRET = btcpay_emulator.webhook_secret
    btcpay_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/btcpay/")

    def settle():
        btcpay_emulator.wait_for_deliveries()
        run_tasks()

    return settle


@pytest.fixture
def staff_client(db):
    staff = get_user_model().objects.create_user("op", "op@operator.test", "pw", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    return client


def _csrf_post(client: Client, url: str, data: dict):
    page = client.get(REVIEW_URL)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, "the review queue carries a CSRF token"
    return client.post(url, {**data, "csrfmiddlewaretoken": token.group(1)})


def _underpaid_order(plan, live_server, btcpay_emulator, settle, paid: str) -> Order:
    data = CheckoutData(
        email=f"buyer-{uuid.uuid4().hex[:8]}@example.test",
        name="Crypto Buyer",
        preferred_username="",
        preferred_password="",
        device=Order.Device.APP,
        mac_address="",
        country="DE",
        gateway="btcpay",
    )
    result = checkout_begin(
        plan=plan,
        data=data,
        status_url_for=lambda o: (
            live_server.url + reverse("storefront:order_status", args=[o.status_token])
        ),
    )
    assert result.redirect_url.startswith(btcpay_emulator.base_url + "/i/")
    order = result.order
    order.refresh_from_db()
    btcpay_emulator.pay(order.gateway_reference, Decimal(paid))  # part of the price
    settle()
    btcpay_emulator.expire(order.gateway_reference)  # ... and the invoice runs out
    settle()
    order.refresh_from_db()
    return order


def _assert_not_provisioned(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.PAYMENT_PENDING
    assert not order.lines.exists()
    assert not PanelOperation.objects.filter(order=order).exists()
    assert not PanelOperation.objects.exists()  # nothing at all went to the panel
    assert not Payment.objects.filter(order=order, status=Payment.Status.CONFIRMED).exists()


def test_a_part_paid_btcpay_invoice_reaches_review_and_asking_for_the_rest_provisions_once(
    plan, live_server, btcpay_emulator, crypto, staff_client, smtp_inbox, run_tasks
):
    order = _underpaid_order(plan, live_server, btcpay_emulator, crypto, paid="5.00")

    # In review, with the amounts; nothing provisioned.
    _assert_not_provisioned(order)
    assert order.needs_review
    assert "partial payment: 5.00 EUR of 9.99 EUR" in order.review_reason
    page = staff_client.get(REVIEW_URL).content.decode()
    assert order.reference in page
    assert "Due 9.99 EUR, received <strong>5.00 EUR</strong>, missing 4.99" in page
    assert "Accept as paid" in page and "Ask for the rest" in page
    # The customer's status page says what arrived; no line, nothing to pay again yet.
    status = Client().get(reverse("storefront:order_status", args=[order.status_token]))
    assert "Part of your payment arrived" in status.content.decode()
    assert "We received 5.00 EUR of 9.99 EUR" in status.content.decode()

    # Without the CSRF token the operator's decision is refused; an outsider is not staff.
    url = reverse("backoffice:review_order", args=[order.pk])
    assert staff_client.post(url, {"action": "ask_rest"}).status_code == 403
    assert Client().post(url, {"action": "ask_rest"}).status_code == 302  # to the login
    assert not Order.objects.filter(balance_of=order).exists()

    # "Ask for the rest", clicked twice: one balance order, one mail.
    for _ in range(2):
        assert _csrf_post(staff_client, url, {"action": "ask_rest"}).status_code == 302
    [balance] = Order.objects.filter(balance_of=order)
    assert (balance.kind, balance.amount, balance.currency) == ("balance", Decimal("4.99"), "EUR")
    order.refresh_from_db()
    assert not order.needs_review
    _assert_not_provisioned(order)
    [message] = Message.objects.filter(kind="balance_due")
    assert message.order == balance
    run_tasks()
    [mail] = [
        m
        for m in smtp_inbox.wait_for(2)
        if m["To"] == order.customer.email and "pay the rest" in m["Subject"]
    ]
    text = mail.get_body(("plain",)).get_content()
    assert "we received 5.00 EUR of 9.99 EUR" in text
    link = re.search(r"(http://\S+/balance)", text).group(1)

    # The customer opens the link, chooses BTCPay, pays the rest in full.
    customer = Client()
    page = customer.get(link.removeprefix(live_server.url))
    assert page.status_code == 200
    assert "4.99" in page.content.decode() and "Bitcoin (BTCPay)" in page.content.decode()
    answer = customer.post(link.removeprefix(live_server.url), {"gateway": "btcpay"})
    assert answer.status_code == 303
    assert answer["Location"].startswith(btcpay_emulator.base_url + "/i/")
    balance.refresh_from_db()
    assert btcpay_emulator.invoice(balance.gateway_reference)["amount"] == "4.99"
    btcpay_emulator.pay(balance.gateway_reference)
    crypto()

    # Paid: the first order has its one line; the balance order has none.
    order.refresh_from_db()
    balance.refresh_from_db()
    assert order.status == Order.Status.PAID and balance.status == Order.Status.PAID
    [line] = order.lines.all()
    assert line.operations.filter(kind="create").count() == 1
    assert not balance.lines.exists()
    ledger = Payment.objects.filter(status=Payment.Status.CONFIRMED)
    assert sorted(p.amount for p in ledger) == [Decimal("4.99"), Decimal("5.00")]

    # A redelivered settlement and a late click change nothing.
    last = btcpay_emulator.events(balance.gateway_reference)[-1]
    btcpay_emulator.redeliver(last["deliveryId"])
    crypto()
    assert _csrf_post(staff_client, url, {"action": "ask_rest"}).status_code == 302
    assert PanelOperation.objects.filter(kind="create").count() == 1
    assert Order.objects.filter(balance_of=order).count() == 1


def test_accept_as_paid_records_what_arrived_and_provisions_once(
    plan, live_server, btcpay_emulator, crypto, staff_client
):
    order = _underpaid_order(plan, live_server, btcpay_emulator, crypto, paid="9.00")
    _assert_not_provisioned(order)
    url = reverse("backoffice:review_order", args=[order.pk])
    for _ in range(2):  # a double click
        assert _csrf_post(staff_client, url, {"action": "accept_underpaid"}).status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and not order.needs_review
    [payment] = Payment.objects.filter(order=order, status=Payment.Status.CONFIRMED)
    assert payment.amount == Decimal("9.00")
    assert "underpayment accepted by op" in payment.note
    [line] = order.lines.all()
    assert line.operations.filter(kind="create").count() == 1
    assert AuditEvent.objects.filter(action="order.underpayment_accepted").count() == 1


@pytest.fixture
def underpaid(make_order, settings):
    """An order a crypto gateway reported 4.00 of 9.99 EUR for (no emulator needed)."""
    settings.PAYMENT_GATEWAYS = ["btcpay", "manual"]
    settings.BANK_TRANSFER_DETAILS = "IBAN DE00 0000"
    order = make_order(gateway="btcpay")
    update = PaymentUpdate(
        status=PARTIAL, order_reference=order.reference, amount=Decimal("4.00"), currency="EUR"
    )
    assert payment_update_apply(order=order, update=update) == "partial_payment"
    order.refresh_from_db()
    return order


def test_the_rest_can_be_paid_by_bank_transfer_too(underpaid):
    balance = order_ask_for_rest(order=underpaid, actor="op")
    link = reverse("storefront:order_balance", args=[balance.status_token])
    customer = Client()
    assert customer.post(link, {"gateway": "nope"}).status_code == 400
    answer = customer.post(link, {"gateway": "manual"})
    assert answer.status_code == 303
    balance.refresh_from_db()
    assert (balance.gateway, balance.status) == ("manual", Order.Status.PAYMENT_PENDING)
    # A second click does not start a second checkout: it shows the order's status.
    again = customer.post(link, {"gateway": "btcpay"})
    assert again.status_code == 303 and "/balance" not in again["Location"]
    balance.refresh_from_db()
    assert balance.gateway == "manual"
    _assert_not_provisioned(underpaid)

    order_confirm_bank_transfer(
        order=balance, amount=Decimal("5.99"), received_on=None, bank_reference="B1", actor="op"
    )
    underpaid.refresh_from_db()
    assert underpaid.status == Order.Status.PAID
    [line] = underpaid.lines.all()
    assert line.operations.filter(kind="create").count() == 1
    assert not balance.lines.exists()


def test_the_balance_link_of_another_order_or_a_bad_token(underpaid, make_order):
    assert Client().get("/order/not-a-token/balance").status_code == 404
    other = make_order(gateway="manual")
    answer = Client().get(reverse("storefront:order_balance", args=[other.status_token]))
    assert answer.status_code == 303 and "/balance" not in answer["Location"]


def test_decisions_on_an_order_that_is_not_underpaid_are_refused(make_order, staff_client):
    order = make_order(gateway="btcpay")
    Order.objects.filter(pk=order.pk).update(needs_review=True, review_reason="something else")
    url = reverse("backoffice:review_order", args=[order.pk])
    for action in ("accept_underpaid", "ask_rest"):
        assert _csrf_post(staff_client, url, {"action": action}).status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT and order.needs_review
    assert not Order.objects.filter(balance_of=order).exists()


def test_the_back_office_shows_a_balance_order(underpaid):
    balance = order_ask_for_rest(order=underpaid, actor="op")
    admin_user = get_user_model().objects.create_superuser("root", "root@operator.test", "pw")
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:billing_order_change", args=[balance.pk]))
    assert page.status_code == 200
    assert underpaid.reference in page.content.decode()
    assert "Balance of an underpaid order" in page.content.decode()


def test_accepting_after_asking_for_the_rest_cancels_the_unstarted_balance(underpaid):
    balance = order_ask_for_rest(order=underpaid, actor="op")
    assert order_accept_underpaid(order=underpaid, actor="op") is True
    balance.refresh_from_db()
    assert balance.status == Order.Status.CANCELLED
    underpaid.refresh_from_db()
    assert underpaid.status == Order.Status.PAID
    assert underpaid.lines.count() == 1
    with pytest.raises(UnderpaymentNotActionable):  # decided: a second click is refused
        order_accept_underpaid(order=underpaid, actor="op")


def test_a_balance_paid_after_the_order_was_accepted_goes_to_review(underpaid):
    balance = order_ask_for_rest(order=underpaid, actor="op")
    Order.objects.filter(pk=balance.pk).update(gateway="manual")  # its payment has begun
    order_accept_underpaid(order=underpaid, actor="op")
    balance.refresh_from_db()
    assert balance.status == Order.Status.AWAITING_PAYMENT  # left to its gateway
    order_confirm_bank_transfer(
        order=balance, amount=Decimal("5.99"), received_on=None, bank_reference="B2", actor="op"
    )
    balance.refresh_from_db()
    assert balance.status == Order.Status.PAID and balance.needs_review
    assert "nothing was provisioned" in balance.review_reason
    assert underpaid.lines.count() == 1 and not balance.lines.exists()
