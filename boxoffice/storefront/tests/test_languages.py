"""The customer's pages and mails in their language: the browser's offered first, chosen at
checkout, kept on the customer and the order, and used for every mail to them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from boxoffice.billing.emails import payment_pending_email_send
from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer


@pytest.fixture(autouse=True)
def _setup(settings, plan):
    # `plan` (conftest): "monthly", carried by a panel, so checkout's pre-flight can sell it.
    settings.PAYMENT_GATEWAYS = ["manual"]
    settings.SITE_URL = "https://tv.shop.test"


@pytest.mark.parametrize(
    ("language", "heading", "direction"),
    [
        ("en", "Choose your plan", "ltr"),
        ("es", "Elige tu plan", "ltr"),
        ("fr", "Choisissez votre offre", "ltr"),
        ("de", "Wähle deinen Tarif", "ltr"),
        ("ar", "اختر باقتك", "rtl"),
    ],
)
def test_the_storefront_speaks_the_browsers_language(client, language, heading, direction):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE=f"{language},en;q=0.5").content.decode()
    assert f'<html lang="{language}" dir="{direction}">' in page
    assert heading in page
    checkout = client.get(
        reverse("storefront:checkout", args=["monthly"]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    # The checkout offers the browser's language first for the customer's mails.
    assert f'<option value="{language}" selected>' in checkout


def test_the_language_switch_needs_csrf_and_sticks():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/")
    token = page.cookies["csrftoken"].value
    assert client.post("/i18n/setlang/", {"language": "de", "next": "/"}).status_code == 403
    switched = client.post(
        "/i18n/setlang/", {"language": "de", "next": "/", "csrfmiddlewaretoken": token}
    )
    assert switched.status_code == 302
    assert "Wähle deinen Tarif" in client.get("/").content.decode()


def test_the_language_chosen_at_checkout_is_kept_and_used_for_mail(client):
    response = client.post(
        reverse("storefront:checkout", args=["monthly"]),
        {
            "email": "amal@example.test",
            "name": "Amal",
            "country": "DE",
            "gateway": "manual",
            "device": "app",
            "language": "ar",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 303
    customer = Customer.objects.get(email="amal@example.test")
    order = Order.objects.get(customer=customer)
    assert (customer.locale, order.language) == ("ar", "ar")

    message = payment_pending_email_send(order=order)
    assert message.subject == f"نعالج دفعتك ({order.reference})"
    assert '<html lang="ar" dir="rtl">' in message.body_html
    assert 'dir="rtl"' in message.body_html.split("<body", 1)[1][:40]
    assert "مرحبًا Amal،" in message.body_text
    assert "نعالج دفعتك" in message.body_html
    assert "We are processing" not in message.body_text


def test_a_mail_to_an_english_customer_stays_english(client):
    customer = Customer.objects.create(email="en@example.test", locale="en")
    order = Order.objects.create(
        customer=customer,
        plan=Plan.objects.get(),
        amount=Decimal("9.99"),
        currency="EUR",
        gateway="manual",
    )
    message = payment_pending_email_send(order=order)
    assert message.subject.startswith("We are processing your payment")
    assert '<html lang="en" dir="ltr">' in message.body_html
