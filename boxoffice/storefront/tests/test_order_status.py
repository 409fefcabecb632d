from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line


@pytest.fixture
def order(db):
    plan = Plan.objects.create(
        slug="monthly", name="Monthly", duration_days=30, price=Decimal("9.99")
    )
    customer = Customer.objects.create(email="jane.doe@example.test", name="Jane Doe")
    return Order.objects.create(
        customer=customer, plan=plan, amount=plan.price, currency=plan.currency, gateway="stripe"
    )


def _activate(order: Order, *, device: str = "app", kind: str = "xui_one") -> Line:
    panel = Panel.objects.create(
        name="Panel",
        kind=kind,
        api_url="http://panel.example.test:25500",
        public_url="http://tv.example.test:8080",
    )
    order.status = Order.Status.PAID
    order.paid_at = timezone.now()
    order.save()
    return Line.objects.create(
        customer=order.customer,
        plan=order.plan,
        order=order,
        panel=panel,
        username="janedoe1",
        password="Sunny2024Day",
        status=Line.Status.ACTIVE,
        device=device,
        mac_address="00:1A:79:AB:CD:EF" if device == "mag" else "",
        activated_at=timezone.now(),
    )


def _urls(order: Order) -> tuple[str, str]:
    token = order.status_token
    return (
        reverse("storefront:order_status", args=[token]),
        reverse("storefront:order_progress", args=[token]),
    )


@pytest.mark.django_db
def test_it_polls_while_the_order_is_pending(client, order):
    page_url, progress_url = _urls(order)

    page = client.get(page_url)
    fragment = client.get(progress_url)

    assert page.status_code == 200 and fragment.status_code == 200
    for response in (page, fragment):
        html = response.content.decode()
        assert f'hx-get="{progress_url}"' in html
        assert 'hx-trigger="every 2s"' in html
        assert 'hx-swap="outerHTML"' in html
        assert 'class="spinner"' in html
    assert '<meta http-equiv="refresh"' in page.content.decode()
    assert "<html" not in fragment.content.decode()  # just the fragment, for htmx to swap in
    assert "no-cache" in page["Cache-Control"] and "no-store" in fragment["Cache-Control"]


@pytest.mark.django_db
def test_it_says_the_payment_is_being_processed(client, order):
    order.status = Order.Status.PAYMENT_PENDING
    order.save()

    html = client.get(_urls(order)[1]).content.decode()

    assert "We are processing your payment" in html


@pytest.mark.django_db
def test_it_shows_the_credentials_and_stops_polling_when_the_line_is_active(client, order):
    _activate(order)
    page_url, progress_url = _urls(order)

    page = client.get(page_url).content.decode()
    fragment = client.get(progress_url).content.decode()

    for html in (page, fragment):
        assert "hx-get" not in html and "hx-trigger" not in html
        assert "janedoe1" in html and "Sunny2024Day" in html
        assert "http://tv.example.test:8080" in html
        assert "get.php?username=janedoe1&amp;password=Sunny2024Day" in html
        assert "xmltv.php?" in html
        assert 'data-copy="cred-password"' in html
        assert 'href="/portal/"' in html
        assert "/c/" not in html  # no MAG portal for an app line
    assert 'http-equiv="refresh"' not in page
    assert '<script src="/static/storefront/order_status.js"></script>' in page  # the copy buttons


@pytest.mark.django_db
def test_it_shows_the_portal_url_and_mac_for_a_box(client, order):
    _activate(order, device="mag")

    html = client.get(_urls(order)[1]).content.decode()

    assert "http://tv.example.test:8080/c/" in html
    assert "00:1A:79:AB:CD:EF" in html


@pytest.mark.django_db
def test_it_shows_bank_transfer_instructions(client, order, settings):
    settings.BANK_TRANSFER_DETAILS = "IBAN DE02 1001 0010 0123 4567 89"
    order.gateway = "manual"
    order.status = Order.Status.PAYMENT_PENDING
    order.save()

    html = client.get(_urls(order)[0]).content.decode()

    assert "IBAN DE02 1001 0010 0123 4567 89" in html
    assert order.reference in html
    assert "hx-get" in html  # still waiting, only more slowly


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_token(client, order):
    for name in ("storefront:order_status", "storefront:order_progress"):
        assert client.get(reverse(name, args=["not-a-real-token"])).status_code == 404
    # The order reference is not a key to the page.
    assert client.get(reverse("storefront:order_status", args=[order.reference])).status_code == 404


@pytest.mark.django_db
def test_it_stores_only_a_hash_of_the_status_token(order):
    stored = str(Order.objects.filter(pk=order.pk).values().get())

    assert order.status_token not in stored
    assert order.status_token_hash in stored
    assert len(order.status_token) >= 40


@pytest.mark.django_db
def test_it_sends_no_store_on_the_page_that_shows_the_credentials(client, order):
    _activate(order)

    for url in _urls(order):
        response = client.get(url)
        assert "Sunny2024Day" in response.content.decode()
        assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_asks_to_sign_in_once_the_order_is_no_longer_fresh(client, order, settings):
    settings.ORDER_STATUS_CREDENTIALS_HOURS = 24
    line = _activate(order)
    line.activated_at = timezone.now() - timezone.timedelta(hours=23, minutes=59)
    line.save()
    assert "Sunny2024Day" in client.get(_urls(order)[0]).content.decode()

    line.activated_at = timezone.now() - timezone.timedelta(hours=24, minutes=1)
    line.save()
    html = client.get(_urls(order)[0]).content.decode()

    assert "Sunny2024Day" not in html and "janedoe1" not in html
    assert "Sign in to My account" in html
    assert "/portal/login/?email=jane.doe%40example.test" in html
    assert "hx-get" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("line_status", ["suspended", "expired"])
def test_it_never_shows_the_login_of_a_suspended_or_expired_line(client, order, line_status):
    line = _activate(order)
    line.status = line_status
    line.save()

    html = client.get(_urls(order)[0]).content.decode()

    assert "Sunny2024Day" not in html
    assert "Sign in to My account" in html


@pytest.mark.django_db
@pytest.mark.parametrize("order_status", ["refunded", "disputed"])
def test_it_never_shows_the_login_once_the_money_went_back(client, order, order_status):
    _activate(order)
    order.status = order_status
    order.save()

    html = client.get(_urls(order)[0]).content.decode()

    assert "Sunny2024Day" not in html and "janedoe1" not in html


@pytest.mark.django_db
def test_it_keeps_status_links_working_through_a_secret_key_rotation(client, order, settings):
    old_url = _urls(order)[0]
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-test-0123456789abcdef"
    order.refresh_from_db()

    assert _urls(order)[0] == old_url
    assert client.get(old_url).status_code == 200


@pytest.mark.django_db
def test_a_ministra_box_gets_no_login_rows_since_it_signs_in_by_its_mac(client, order):
    _activate(order, device="mag", kind="ministra")

    html = client.get(_urls(order)[1]).content.decode()

    assert "http://tv.example.test:8080/stalker_portal/c/" in html
    assert "00:1A:79:AB:CD:EF" in html
    assert "no username or password" in html
    assert "janedoe1" not in html and "Sunny2024Day" not in html
    assert 'id="cred-username"' not in html and 'id="cred-password"' not in html


@pytest.mark.django_db
def test_a_ministra_login_account_keeps_its_login_rows(client, order):
    _activate(order, kind="ministra")

    html = client.get(_urls(order)[1]).content.decode()

    assert 'id="cred-username"' in html and 'id="cred-password"' in html
    assert "janedoe1" in html and "Sunny2024Day" in html


@pytest.mark.django_db
def test_the_status_page_speaks_the_customers_language(client, order):
    _activate(order, device="mag", kind="ministra")

    html = client.get(_urls(order)[1], HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert "Tu línea está lista" in html  # the headline
    assert "URL del portal" in html and "Dirección MAC" in html  # the access items
    assert "Your line is ready" not in html and "Portal URL" not in html
