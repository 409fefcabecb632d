"""Confirming a bank transfer by hand: only a manual order still waiting for its money, one at a
time, on its own page, with what the statement says recorded on the payment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.models import Order, Payment
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user(
        "operator", "op@operator.test", "pw", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


@pytest.fixture
def transfer(make_order):
    order = make_order(gateway="manual")
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAYMENT_PENDING, pending_since=timezone.now()
    )
    order.refresh_from_db()
    return order


def confirm_url(order: Order) -> str:
    return reverse("backoffice:confirm_transfer", args=[order.pk])


def statement(**overrides) -> dict:
    return {
        "amount": "9.99",
        "received_on": timezone.localdate().isoformat(),
        "bank_reference": "STMT-2026-0042",
        **overrides,
    }


def test_it_asks_once_more_showing_the_amount_due(staff_client, transfer):
    response = staff_client.get(confirm_url(transfer))

    assert response.status_code == 200
    page = response.content.decode()
    assert "9.99 EUR" in page and transfer.reference in page
    assert 'name="bank_reference"' in page and 'name="received_on"' in page
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAYMENT_PENDING


def test_it_records_amount_date_and_bank_reference_on_the_payment(staff_client, transfer):
    received_on = timezone.localdate()

    response = staff_client.post(
        confirm_url(transfer), statement(received_on=received_on.isoformat())
    )

    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAID
    payment = Payment.objects.get(order=transfer, status=Payment.Status.CONFIRMED)
    assert payment.amount == Decimal("9.99") and payment.currency == "EUR"
    assert payment.received_on == received_on
    assert payment.bank_reference == "STMT-2026-0042"
    assert "operator" in payment.note
    assert Line.objects.filter(order=transfer).count() == 1


@pytest.mark.parametrize("how", ["stripe", "cancelled", "paid"])
def test_it_refuses_orders_that_are_not_a_waiting_bank_transfer(how, staff_client, make_order):
    if how == "stripe":
        order = make_order(gateway="stripe")
    else:
        order = make_order(gateway="manual")
        status = Order.Status.CANCELLED if how == "cancelled" else Order.Status.PAID
        Order.objects.filter(pk=order.pk).update(status=status)
    before = Order.objects.get(pk=order.pk).status

    shown = staff_client.get(confirm_url(order))
    posted = staff_client.post(confirm_url(order), statement())
    queued = staff_client.post(
        reverse("backoffice:review_order", args=[order.pk]), {"action": "confirm"}, follow=True
    )

    assert shown.status_code == posted.status_code == 409
    assert 'name="amount"' not in shown.content.decode()
    assert "nothing to confirm" in posted.content.decode() or "not by bank" in (
        posted.content.decode()
    )
    assert queued.status_code == 409
    order.refresh_from_db()
    assert order.status == before
    assert not Payment.objects.filter(order=order).exists()
    assert not Line.objects.filter(order=order).exists()


def test_it_refuses_a_different_amount_without_a_reason(staff_client, transfer):
    response = staff_client.post(confirm_url(transfer), statement(amount="5.00"))

    assert response.status_code == 400
    assert "say why you confirm it anyway" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAYMENT_PENDING
    assert not Payment.objects.filter(order=transfer).exists()


def test_it_confirms_a_different_amount_with_the_operators_reason(staff_client, transfer):
    response = staff_client.post(
        confirm_url(transfer),
        statement(amount="9.49", reason="bank kept a 0.50 fee; customer agreed by phone"),
    )

    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAID
    payment = Payment.objects.get(order=transfer, status=Payment.Status.CONFIRMED)
    assert payment.amount == Decimal("9.49")
    assert "0.50 fee" in payment.note


@pytest.mark.parametrize(
    "field, value",
    [
        ("received_on", (timezone.localdate() + timedelta(days=2)).isoformat()),
        ("received_on", "yesterday-ish"),
        ("amount", "-9.99"),
        ("amount", "nine"),
        ("bank_reference", ""),
    ],
)
def test_it_answers_bad_input_with_the_form_not_a_500(field, value, staff_client, transfer):
    response = staff_client.post(confirm_url(transfer), statement(**{field: value}))

    assert response.status_code == 400
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAYMENT_PENDING


def test_it_offers_no_bulk_confirmation_or_deletion_in_the_order_admin(staff_client, transfer):
    response = staff_client.get(reverse("admin:billing_order_changelist"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "confirm_payment" not in page
    assert "delete_selected" not in page
    bulk = staff_client.post(
        reverse("admin:billing_order_changelist"),
        {"action": "confirm_payment", "_selected_action": [transfer.pk], "select_across": "1"},
    )
    assert bulk.status_code in (200, 302)
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAYMENT_PENDING


def test_it_shows_the_order_money_read_only_and_links_to_the_transfer_page(staff_client, transfer):
    url = reverse("admin:billing_order_change", args=[transfer.pk])

    page = staff_client.get(url).content.decode()

    assert confirm_url(transfer) in page
    for field in ("amount", "currency", "status", "gateway"):
        assert f'name="{field}"' not in page
