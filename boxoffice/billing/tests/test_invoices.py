"""Invoices and credit notes: one per confirmed payment, numbered without gaps, tax by the
customer's country, immutable, a PDF that prints €, Cyrillic and Arabic names, mailed with the
receipt and downloadable by its customer only."""

from __future__ import annotations

import io
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client
from pypdf import PdfReader

from boxoffice.billing.gateways import base as gw
from boxoffice.billing.invoicing import invoice_pdf, split_gross
from boxoffice.billing.models import (
    BusinessDetails,
    Invoice,
    InvoiceImmutable,
    Order,
    TaxRate,
)
from boxoffice.billing.services import order_create, order_mark_paid, payment_update_apply
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_portal_user
from boxoffice.messaging.models import Message


@pytest.fixture
def business(db):
    BusinessDetails.objects.create(
        pk=1,
        legal_name="Demo Streams GmbH",
        address="Hauptstraße 1\n10115 Berlin",
        country="DE",
        vat_id="DE123456789",
        email="billing@demo.test",
    )
    TaxRate.objects.create(country="DE", rate=Decimal("19.00"), name="VAT")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _paid(plan, customer, **kwargs) -> Order:
    order = order_create(customer=customer, plan=plan, gateway="manual", **kwargs)
    assert order_mark_paid(order=order, gateway_payment_id=f"pay_{order.reference}")
    return order


@pytest.mark.django_db
def test_the_invoice_pdf_prints_number_totals_tax_and_a_non_latin_name(business, plan):
    plan.price = Decimal("11.90")
    plan.save()
    buyer = Customer.objects.create(email="ivan@example.test", name="Иван Петров", country="DE")
    order = _paid(plan, buyer, name="Иван Петров محمد")

    invoice = Invoice.objects.get(order=order)
    text = _text(invoice_pdf(invoice))

    # By hand: 11.90 gross at 19 % is 11.90 / 1.19 = 10.00 net and 1.90 tax.
    assert (invoice.net, invoice.tax, invoice.total) == (
        Decimal("10.00"),
        Decimal("1.90"),
        Decimal("11.90"),
    )
    assert invoice.number == f"INV-{invoice.issued_at:%Y}-000001"
    assert f"Invoice {invoice.number}" in text
    assert "10.00 EUR" in text and "1.90 EUR" in text and "11.90 EUR" in text
    assert "VAT 19 % (DE)" in text
    assert "Иван Петров محمد" in text  # Cyrillic and Arabic, as typed
    assert "Demo Streams GmbH" in text and "Hauptstraße 1" in text and "DE123456789" in text


@pytest.mark.parametrize(
    ("gross", "rate", "net", "tax"),
    [
        ("9.99", "19", "8.39", "1.60"),  # 9.99 / 1.19 = 8.3949… → 8.39; 9.99 − 8.39 = 1.60
        ("9.99", "0", "9.99", "0.00"),
        ("100.00", "7.7", "92.85", "7.15"),  # 100 / 1.077 = 92.8505… → 92.85
        ("0.01", "20", "0.01", "0.00"),
    ],
)
def test_net_and_tax_always_add_up_to_what_was_paid(gross, rate, net, tax):
    assert split_gross(Decimal(gross), Decimal(rate)) == (Decimal(net), Decimal(tax))


@pytest.mark.django_db
def test_a_price_without_tax_gets_the_customers_tax_added_at_checkout(business, plan, customer):
    BusinessDetails.objects.filter(pk=1).update(prices_include_tax=False)
    order = _paid(plan, customer)  # 9.99 + 19 % (1.8981 → 1.90) = 11.89
    invoice = Invoice.objects.get(order=order)
    assert order.amount == Decimal("11.89")
    assert (invoice.net, invoice.tax, invoice.total) == (
        Decimal("9.99"),
        Decimal("1.90"),
        Decimal("11.89"),
    )
    other = Customer.objects.create(email="us@example.test", country="US")  # no rate: no tax
    assert _paid(plan, other).amount == Decimal("9.99")


@pytest.mark.django_db
def test_no_invoice_before_the_operator_has_given_a_legal_name_and_address(plan, customer):
    order = _paid(plan, customer)
    assert not Invoice.objects.filter(order=order).exists()
    assert not Message.objects.filter(kind="payment_receipt").exists()


@pytest.mark.django_db
def test_an_issued_invoice_cannot_change_or_be_deleted(business, plan, customer):
    invoice = Invoice.objects.get(order=_paid(plan, customer))
    invoice.total = Decimal("1.00")
    with pytest.raises(InvoiceImmutable):
        invoice.save()
    with pytest.raises(InvoiceImmutable):
        invoice.delete()
    invoice.refresh_from_db()
    assert invoice.total == Decimal("9.99")
    assert invoice_pdf(invoice) == invoice_pdf(Invoice.objects.get(pk=invoice.pk))  # one file


@pytest.mark.django_db
def test_refunds_are_credit_notes_and_a_second_report_adds_none(business, plan, customer):
    order = _paid(plan, customer)
    invoice = Invoice.objects.get(order=order, kind=Invoice.Kind.INVOICE)

    partial = gw.PaymentUpdate(status=gw.REFUNDED, amount=Decimal("4.00"), currency="EUR")
    assert payment_update_apply(order=order, update=partial) == "partial_refund"
    whole = gw.PaymentUpdate(status=gw.REFUNDED, amount=Decimal("9.99"), currency="EUR")
    assert payment_update_apply(order=order, update=whole) == "refunded"
    assert payment_update_apply(order=order, update=whole) == "ignored"

    notes = list(Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).order_by("sequence"))
    assert [n.total for n in notes] == [Decimal("-4.00"), Decimal("-5.99")]
    assert [n.number[-6:] for n in notes] == ["000001", "000002"]
    assert all(n.credits == invoice and n.number.startswith("CN-") for n in notes)
    assert "Credit note" in _text(invoice_pdf(notes[0])) and invoice.number in _text(
        invoice_pdf(notes[0])
    )


@pytest.mark.django_db(transaction=True)
def test_the_receipt_mail_carries_the_pdf(business, plan, customer, smtp_inbox, run_tasks):
    order = _paid(plan, customer)
    run_tasks()
    (mail,) = [m for m in smtp_inbox.wait_for(1) if "Payment received" in m["Subject"]]
    invoice = Invoice.objects.get(order=order)
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert invoice.number in _text(attachment.get_content())


@pytest.mark.django_db(transaction=True)
def test_numbers_have_no_gaps_under_concurrent_payments(business, plan):
    orders = [
        order_create(
            customer=Customer.objects.create(email=f"c{n}@example.test", country="DE"),
            plan=plan,
            gateway="manual",
        )
        for n in range(8)
    ]
    start = threading.Barrier(len(orders))
    errors: list[BaseException] = []

    def pay(order: Order) -> None:
        try:
            start.wait()
            order_mark_paid(order=order, gateway_payment_id=f"pay_{order.pk}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # A payment whose transaction rolls back gives its number back.
    rolled_back = order_create(
        customer=Customer.objects.create(email="late@example.test"), plan=plan, gateway="manual"
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        order_mark_paid(order=rolled_back, gateway_payment_id="pay_rolled_back")
        raise RuntimeError("the payment's transaction fails after the invoice was numbered")
    last = _paid(plan, Customer.objects.create(email="last@example.test"))

    assert errors == []
    sequences = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, 10))
    assert Invoice.objects.get(order=last).sequence == 9
    assert not Invoice.objects.filter(order=rolled_back).exists()


@pytest.mark.django_db
def test_a_customer_downloads_their_own_invoices_only(client, business, plan, customer):
    mine = Invoice.objects.get(order=_paid(plan, customer))
    other = Customer.objects.create(email="other@example.test", country="DE")
    theirs = Invoice.objects.get(order=_paid(plan, other))

    assert client.get(f"/portal/invoices/{mine.number}.pdf").status_code == 302  # sign in first
    client.force_login(customer_portal_user(customer=customer))
    overview = client.get("/portal/").content.decode()
    response = client.get(f"/portal/invoices/{mine.number}.pdf")

    assert mine.number in overview and theirs.number not in overview
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert mine.number in _text(response.content)
    assert client.get(f"/portal/invoices/{theirs.number}.pdf").status_code == 404
    assert client.get("/portal/invoices/..%2F..%2Fetc.pdf").status_code == 404


@pytest.mark.django_db
def test_the_back_office_downloads_any_invoice_and_cannot_edit_one(
    admin_client, client, business, plan, customer
):
    invoice = Invoice.objects.get(order=_paid(plan, customer))
    assert client.get(f"/backoffice/invoices/{invoice.pk}/pdf").status_code == 302
    response = admin_client.get(f"/backoffice/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200 and invoice.number in _text(response.content)
    order_page = admin_client.get(f"/admin/billing/order/{invoice.order.pk}/change/")
    assert invoice.number in order_page.content.decode()
    change = admin_client.post(f"/admin/billing/invoice/{invoice.pk}/change/", {"total": "1"})
    assert change.status_code == 403
    invoice.refresh_from_db()
    assert invoice.total == Decimal("9.99")


@pytest.mark.django_db
def test_billing_details_from_the_portal_go_on_the_next_invoice_only(business, plan, customer):
    first = Invoice.objects.get(order=_paid(plan, customer))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(customer_portal_user(customer=customer))
    page = browser.get("/portal/billing-details/")
    token = str(page.context["csrf_token"])

    refused = browser.post(
        "/portal/billing-details/", {"vat_id": "123", "csrfmiddlewaretoken": token}
    )
    assert refused.status_code == 400 and "starts with its country code" in refused.text
    saved = browser.post(
        "/portal/billing-details/",
        {
            "billing_name": "Петров Медиа ООО",
            "billing_address": "ул. Ленина 1\nМосква",
            "vat_id": "de 123 456 789",
            "csrfmiddlewaretoken": token,
        },
    )
    assert saved.status_code == 302
    assert browser.post("/portal/billing-details/", {"vat_id": ""}).status_code == 403  # CSRF

    second = Invoice.objects.get(order=_paid(plan, customer))
    text = _text(invoice_pdf(second))
    assert "Петров Медиа ООО" in text and "ул. Ленина 1" in text and "DE123456789" in text
    first.refresh_from_db()
    assert first.buyer["name"] == "Jane Doe" and "Петров" not in _text(invoice_pdf(first))


@pytest.mark.django_db
def test_bulk_updates_and_deletes_of_invoices_are_refused_too(business, plan, customer):
    """Review finding: queryset.update() and .delete() went around Invoice.save()."""
    invoice = Invoice.objects.get(order=_paid(plan, customer))
    with pytest.raises(InvoiceImmutable):
        Invoice.objects.filter(pk=invoice.pk).update(total=Decimal("0"))
    with pytest.raises(InvoiceImmutable):
        Invoice.objects.filter(pk=invoice.pk).delete()
    invoice.refresh_from_db()
    assert invoice.total == Decimal("9.99")


@pytest.mark.django_db
def test_odd_invoice_addresses_are_404_not_500(client, business, plan, customer):
    client.force_login(customer_portal_user(customer=customer))
    for path in (
        "/portal/invoices/%00.pdf",
        "/portal/invoices/INV-2026-1.pdf",
        "/portal/invoices/x.pdf",
    ):
        assert client.get(path).status_code == 404


@pytest.mark.django_db
def test_prices_say_plus_tax_where_they_exclude_it(client, business, plan):
    assert "9.99 <small>EUR</small>" in client.get("/").content.decode()
    BusinessDetails.objects.filter(pk=1).update(prices_include_tax=False)
    assert "9.99 <small>EUR + tax</small>" in client.get("/").content.decode()
