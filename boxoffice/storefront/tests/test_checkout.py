from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from boxoffice.billing.gateways.base import UnableToTakePayment
from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.storefront.forms import mac_address_normalise


@pytest.fixture
def gateways(settings):
    settings.PAYMENT_GATEWAYS = ["manual"]


def _plan(**kwargs) -> Plan:
    """A plan carried by an XUI One panel (a kind that registers boxes); the panel is never
    called by these tests."""
    kwargs.setdefault("slug", "monthly")
    kwargs.setdefault("name", "Monthly")
    plan = Plan.objects.create(duration_days=30, price=Decimal("9.99"), currency="EUR", **kwargs)
    panel, _ = Panel.objects.get_or_create(
        name="Checkout panel",
        defaults={
            "kind": "xui_one",
            "api_url": "http://127.0.0.1:9",
            "public_url": "http://tv.example.test",
            "settings": {"access_code": "adminapi1"},
            "secrets": {"api_key": "unused"},
        },
    )
    PlanPanel.objects.create(plan=plan, panel=panel)
    return plan


def _valid(**overrides) -> dict:
    data = {
        "email": "Jane.Doe@Example.test",
        "name": "Jane  Doe",
        "preferred_username": "",
        "preferred_password": "",
        "device": "app",
        "mac_address": "",
        "country": "DE",
        "gateway": "manual",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("strategy", "shown", "required"),
    [("auto", False, False), ("customer", True, True), ("hybrid", True, False)],
)
def test_it_asks_for_a_line_username_per_strategy(client, gateways, strategy, shown, required):
    plan = _plan(username_strategy=strategy)

    response = client.get(reverse("storefront:checkout", args=[plan.slug]))

    assert response.status_code == 200
    form = response.context["form"]
    assert ("preferred_username" in form.fields) is shown
    assert ("preferred_password" in form.fields) is shown
    html = response.content.decode()
    assert ('name="preferred_username"' in html) is shown
    if shown:
        assert form.fields["preferred_username"].required is required
        assert form.fields["preferred_password"].required is False


@pytest.mark.django_db
def test_it_requires_the_username_when_the_customer_chooses_it(client, gateways):
    plan = _plan(username_strategy="customer")

    response = client.post(reverse("storefront:checkout", args=[plan.slug]), _valid())

    assert response.status_code == 200
    assert "preferred_username" in response.context["form"].errors
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_it_leaves_out_mag_for_plans_without_it(client, gateways):
    plan = _plan(allow_mag=False)

    response = client.get(reverse("storefront:checkout", args=[plan.slug]))

    assert 'name="device"' not in response.content.decode()
    assert 'name="mac_address"' not in response.content.decode()


@pytest.mark.django_db
def test_it_hides_inactive_plans_from_checkout(client, gateways):
    plan = _plan(active=False)
    assert client.get(reverse("storefront:checkout", args=[plan.slug])).status_code == 404


@pytest.mark.parametrize(
    "raw",
    [
        "00:1A:79:ab:cd:ef",
        "00-1A-79-AB-CD-EF",
        "001a79abcdef",
        "001A.79AB.CDEF",
        " 00:1a:79:AB:cd:EF ",
    ],
)
def test_it_normalises_mac_addresses(raw):
    assert mac_address_normalise(raw) == "00:1A:79:AB:CD:EF"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "invalid"),
        ("00:1A:79:AB:CD", "invalid"),
        ("00:1A:79:AB:CD:EF:01", "invalid"),
        ("00:1A-79:AB:CD:EF", "invalid"),  # mixed separators
        ("0:1A:79:AB:CD:EF", "invalid"),
        ("00:1A:79:AB:CD:EG", "invalid"),
        ("001a79abcde", "invalid"),
        ("001A.79AB.CDEF.0000", "invalid"),
        ("00:00:00:00:00:00", "zero"),
        ("000000000000", "zero"),
        ("01:00:5E:00:00:FB", "multicast"),
        ("FF:FF:FF:FF:FF:FF", "multicast"),
        ("33-33-00-00-00-01", "multicast"),
    ],
)
def test_it_refuses_invalid_mac_addresses(raw, code):
    with pytest.raises(ValidationError) as caught:
        mac_address_normalise(raw)
    assert caught.value.code == code


@pytest.mark.django_db
def test_it_keeps_every_value_and_marks_fields_when_the_form_has_errors(client, gateways):
    plan = _plan(username_strategy="hybrid")
    data = _valid(
        email="not-an-email",
        name="Jane Doe",
        preferred_username="ab!",
        preferred_password="Sunny2024Day",
        device="mag",
        mac_address="01:00:5E:00:00:FB",
        country="FR",
    )

    response = client.post(reverse("storefront:checkout", args=[plan.slug]), data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"email", "preferred_username", "mac_address"}
    assert "letters (A–Z, a–z) and digits" in errors["preferred_username"][0]
    html = response.content.decode()
    for value in ("not-an-email", "ab!", "Sunny2024Day", "01:00:5E:00:00:FB"):
        assert f'value="{value}"' in html, value
    assert 'value="mag" id="id_device_1" required checked' in html
    assert '<option value="FR" selected>' in html
    assert 'class="errorlist' in html
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_its_errors_and_gateway_names_come_in_the_pages_language(client, gateways):
    plan = _plan(username_strategy="hybrid")
    Customer.objects.create(email="jane.doe@example.test", name="Jane")

    response = client.post(
        reverse("storefront:checkout", args=[plan.slug]),
        _valid(preferred_username="ab!", device="mag", mac_address="00:00:00:00:00:00"),
        HTTP_ACCEPT_LANGUAGE="de",
    )

    html = response.content.decode()
    assert "Du hast mit dieser Adresse schon bestellt." in html  # the known address
    assert "Verwende für den Benutzernamen 4 bis 32 Zeichen" in html  # its numbers filled in
    assert "00:00:00:00:00:00 ist keine echte Adresse" in html
    assert "Banküberweisung" in html and "Bank transfer" not in html
    assert "You have ordered with this address before" not in html


@pytest.mark.django_db
def test_it_needs_a_mac_address_for_a_box_but_not_for_an_app(client, gateways):
    plan = _plan()
    url = reverse("storefront:checkout", args=[plan.slug])

    response = client.post(url, _valid(device="mag", mac_address=""))
    assert "mac_address" in response.context["form"].errors

    # A stray, hidden MAC typed before switching to an app does not block the order.
    response = client.post(url, _valid(device="app", mac_address="nonsense"))
    assert response.status_code == 303
    assert Order.objects.get().mac_address == ""


@pytest.mark.django_db
def test_it_creates_the_order_and_sends_a_bank_transfer_to_the_status_page(client, gateways):
    plan = _plan(username_strategy="hybrid")
    data = _valid(
        preferred_username="janedoe1",
        preferred_password="Sunny2024Day",
        device="mag",
        mac_address="001a.79ab.cdef",
    )

    response = client.post(reverse("storefront:checkout", args=[plan.slug]), data)

    order = Order.objects.get()
    assert response.status_code == 303
    assert response["Location"] == "http://testserver" + reverse(
        "storefront:order_status", args=[order.status_token]
    )
    assert order.status_token not in str(Order.objects.filter(pk=order.pk).values().get())
    customer = Customer.objects.get()
    assert customer.email == "jane.doe@example.test"
    assert customer.name == "Jane Doe" and order.name == "Jane Doe"
    assert customer.user is None and customer.email_verified_at is None
    assert order.customer == customer and order.plan == plan and order.gateway == "manual"
    assert order.preferred_username == "janedoe1"
    assert order.device == "mag" and order.mac_address == "00:1A:79:AB:CD:EF"
    assert order.country == "DE"


@pytest.mark.django_db
def test_it_shows_the_gateway_refusal_and_keeps_the_values(client, gateways, monkeypatch):
    plan = _plan()

    def refuse(**kwargs):
        raise UnableToTakePayment(
            "Card payments are unavailable right now. Please try bank transfer."
        )

    monkeypatch.setattr("boxoffice.storefront.views.checkout_begin", refuse)
    response = client.post(reverse("storefront:checkout", args=[plan.slug]), _valid())

    assert response.status_code == 200
    html = response.content.decode()
    assert "Card payments are unavailable right now" in html
    assert 'value="Jane.Doe@Example.test"' in html
    assert 'value="Jane  Doe"' in html


@pytest.mark.django_db
def test_it_enforces_csrf_on_the_checkout_post(gateways):
    plan = _plan()
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("storefront:checkout", args=[plan.slug]), _valid())

    assert response.status_code == 403
    assert Order.objects.count() == 0
