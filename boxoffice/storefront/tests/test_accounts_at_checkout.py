"""Checkout never sets a password, never joins an account its buyer does not control, and never
attaches a customer to a staff user. The takeover that used to work: an attacker orders first
with the victim's address and a password of their choosing, the victim orders second."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, TestCase
from django.urls import reverse

from boxoffice.billing.emails import payment_pending_email_send
from boxoffice.billing.models import Order
from boxoffice.customers.models import Customer
from boxoffice.portal.tests.conftest import press_sign_in

SITE = "https://tv.shop.test"
VICTIM = "victim@example.test"


@pytest.fixture(autouse=True)
def _setup(settings, plan):
    # `plan`: monthly at 9.99 EUR on the test panel (checkout sells only what a panel can take).
    settings.PAYMENT_GATEWAYS = ["manual"]
    settings.SITE_URL = SITE


def checkout(client, **overrides):
    data = {
        "email": VICTIM,
        "name": "Vic Tim",
        "country": "DE",
        "gateway": "manual",
        "device": "app",
    }
    data.update(overrides)
    return client.post(reverse("storefront:checkout", args=["monthly"]), data)


def portal_login(client, email, password):
    return client.post("/portal/login/", {"username": email, "password": password})


def link_from_inbox(smtp_inbox, to: str) -> str:
    mail = [m for m in smtp_inbox.wait_for(1) if m["To"] == to][-1]
    text = mail.get_body(("plain",)).get_content()
    return re.search(rf"{SITE}(/portal/magic/\S+/)", text).group(1)


def test_it_creates_a_passwordless_account_whatever_the_form_posts(client):
    response = checkout(client, portal_password="attacker-chosen-42")

    assert response.status_code == 303
    customer = Customer.objects.get()
    assert customer.user is None and customer.email_verified_at is None
    assert get_user_model().objects.count() == 0


def test_it_ends_the_takeover_with_the_attacker_out_and_the_owner_in(
    smtp_inbox, run_tasks, settings
):
    attacker, owner = Client(), Client()
    assert (
        checkout(attacker, name="Mallory", portal_password="attacker-chosen-42").status_code == 303
    )

    # The owner orders second: recognised, offered to sign in or to get a link, nothing merged.
    offered = checkout(owner)
    assert offered.status_code == 200
    html = offered.content.decode()
    assert "You have ordered with this address before" in html
    assert 'href="/portal/login/?next=/checkout/monthly/&amp;email=victim%40example.test"' in html
    assert 'form="known-address-link"' in html and 'action="/portal/magic/request/"' in html
    assert Order.objects.count() == 1

    # The owner asks for the link (the form on that page) and opens it from their inbox.
    owner.post("/portal/magic/request/", {"email": VICTIM, "next": "/checkout/monthly/"})
    run_tasks()
    landing = owner.get(link_from_inbox(smtp_inbox, VICTIM))
    assert landing["Location"] == "/portal/magic/confirm/"
    assert press_sign_in(owner)["Location"] == "/checkout/monthly/"

    # Signed in, the owner's order goes to their account, in their name.
    page = owner.get("/checkout/monthly/")
    assert b"You are signed in" in page.content
    assert checkout(owner, email="someone.else@example.test").status_code == 303
    customer = Customer.objects.get()
    mine = Order.objects.exclude(name="Mallory").get()
    assert mine.customer == customer and mine.name == "Vic Tim"
    Order.objects.filter(pk=mine.pk).update(status=Order.Status.PAYMENT_PENDING)
    mine.refresh_from_db()
    with TestCase.captureOnCommitCallbacks(execute=True):  # the mail goes out after commit
        payment_pending_email_send(order=mine)
    assert (
        "Hello Vic Tim,"
        in [m for m in smtp_inbox.wait_for(2) if m["To"] == VICTIM][-1]
        .get_body(("plain",))
        .get_content()
    )

    # The attacker cannot sign in with the password they typed, nor with any other.
    for guess in ("attacker-chosen-42", "", "password"):
        portal_login(attacker, VICTIM, guess)
    assert "_auth_user_id" not in attacker.session
    assert owner.get("/portal/").status_code == 200


def test_it_never_attaches_a_customer_to_a_staff_user(client, smtp_inbox, run_tasks):
    staff = get_user_model().objects.create_superuser(
        username="ops@operator.test", email="ops@operator.test", password="staff pass 42"
    )

    assert checkout(client, email="ops@operator.test").status_code == 303
    customer = Customer.objects.get()
    assert customer.user is None
    client.post("/portal/magic/request/", {"email": "ops@operator.test"})
    run_tasks()
    client.get(link_from_inbox(smtp_inbox, "ops@operator.test"))
    press_sign_in(client)

    customer.refresh_from_db()
    assert customer.user is not None and customer.user != staff
    assert not customer.user.is_staff and not customer.user.is_superuser
    assert client.get("/admin/").status_code == 302  # the customer session is not the operator
    staff.refresh_from_db()
    assert staff.check_password("staff pass 42") and not hasattr(staff, "customer")


def test_it_treats_a_signed_in_operator_as_a_guest_at_checkout(client):
    staff = get_user_model().objects.create_superuser(
        username="ops@operator.test", email="ops@operator.test", password="staff pass 42"
    )
    client.force_login(staff)

    response = checkout(client, email="buyer@example.test")

    assert response.status_code == 303
    assert Order.objects.get().customer.email == "buyer@example.test"
    assert Customer.objects.get().user is None


def test_it_offers_the_same_way_in_when_two_checkouts_race_for_a_new_address(client, monkeypatch):
    # The form saw a new address; by the time the order is written another checkout took it.
    monkeypatch.setattr("boxoffice.storefront.forms.customer_find", lambda **kw: None)
    Customer.objects.create(email=VICTIM)

    response = checkout(client)

    assert response.status_code == 200
    assert b"You have ordered with this address before" in response.content
    assert Order.objects.count() == 0


def test_it_caps_checkouts_per_client_so_addresses_cannot_be_probed_in_bulk(client, settings):
    settings.CHECKOUT_LIMIT_PER_IP = 3
    Customer.objects.create(email=VICTIM)
    for n in range(3):
        assert checkout(client, email=f"probe{n}@example.test").status_code == 303

    response = checkout(client)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Too many orders from your network" in html
    assert "You have ordered with this address before" not in html
    assert 'value="victim@example.test"' in html  # what was typed comes back
    assert Customer.objects.count() == 4 and Order.objects.count() == 3
    other_client = checkout(Client(REMOTE_ADDR="198.51.100.8"), email="fresh@example.test")
    assert other_client.status_code == 303
