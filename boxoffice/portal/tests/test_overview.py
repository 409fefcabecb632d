"""The overview: a customer's own subscriptions and unpaid orders, and nobody else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line


@pytest.fixture
def panel(db) -> Panel:
    return Panel.objects.create(
        name="Portal panel",
        kind="xui_one",
        api_url="http://panel.example.test:25500",
        public_url="http://tv.example.test:8080",
    )


@pytest.fixture
def plan(db) -> Plan:
    return Plan.objects.create(
        slug="monthly", name="Monthly", duration_days=30, price=Decimal("9.99")
    )


def make_customer(email: str) -> Customer:
    user = get_user_model().objects.create_user(
        username=email, email=email, password="pw 12345 abc"
    )
    return Customer.objects.create(email=email, user=user)


@pytest.fixture
def owner(db) -> Customer:
    return make_customer("owner@example.test")


@pytest.fixture
def outsider(db) -> Customer:
    return make_customer("outsider@example.test")


@pytest.fixture
def make_line(panel, plan):
    def make(customer: Customer, username: str, **kwargs) -> Line:
        fields = {
            "status": Line.Status.ACTIVE,
            "password": f"{username}-pw",
            "expires_at": timezone.now() + timedelta(days=30),
        }
        fields.update(kwargs)
        return Line.objects.create(
            customer=customer, plan=plan, panel=panel, username=username, **fields
        )

    return make


def make_order(customer: Customer, plan: Plan, status=Order.Status.AWAITING_PAYMENT) -> Order:
    return Order.objects.create(
        customer=customer, plan=plan, amount=plan.price, currency="EUR", status=status
    )


def test_it_shows_the_credentials_of_an_active_line_with_copy_buttons(client, owner, make_line):
    make_line(owner, "owner_tv")
    client.force_login(owner.user)

    response = client.get("/portal/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Monthly" in page
    assert "badge-ok" in page and "Active" in page
    for value in (
        "owner_tv",
        "owner_tv-pw",
        "http://tv.example.test:8080",
        "8080",
        "http://tv.example.test:8080/get.php?username=owner_tv&amp;password=owner_tv-pw&amp;type=m3u_plus&amp;output=ts",
        "http://tv.example.test:8080/xmltv.php?username=owner_tv&amp;password=owner_tv-pw",
    ):
        assert value in page
    assert page.count('class="btn btn-small btn-secondary copy-btn"') == 6
    assert '<script src="/static/portal/copy_buttons.js"></script>' in page  # the copy buttons
    assert "/c/" not in page


def test_it_shows_the_mag_portal_and_mac_for_a_mag_line(client, owner, make_line):
    make_line(owner, "owner_mag", device="mag", mac_address="00:1A:79:AB:CD:EF")
    client.force_login(owner.user)

    page = client.get("/portal/").content.decode()

    assert "http://tv.example.test:8080/c/" in page
    assert "00:1A:79:AB:CD:EF" in page


def test_it_says_a_reserved_line_is_being_set_up(client, owner, make_line):
    make_line(owner, "owner_new", status=Line.Status.RESERVED, expires_at=None)
    client.force_login(owner.user)

    page = client.get("/portal/").content.decode()

    assert "Being set up" in page
    assert "being set up" in page
    assert "owner_new-pw" not in page


def test_it_shows_the_expiry_in_days(client, owner, make_line):
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False):
        make_line(owner, "soon", expires_at=timezone.now() + timedelta(days=12))
        make_line(
            owner, "gone", status=Line.Status.EXPIRED, expires_at=timezone.now() - timedelta(days=3)
        )
        client.force_login(owner.user)

        page = client.get("/portal/").content.decode()

    assert "Expires 13 March 2026" in page
    assert "in 12 days" in page
    assert "Expired 26 February 2026" in page
    assert "3 days ago" in page
    assert "gone-pw" not in page


def test_it_lists_lines_newest_first(client, owner, make_line):
    now = timezone.now()
    make_line(owner, "older_line", created_at=now - timedelta(days=40))
    make_line(owner, "newer_line", created_at=now)
    client.force_login(owner.user)

    page = client.get("/portal/").content.decode()

    assert page.index("newer_line") < page.index("older_line")


def test_it_links_orders_awaiting_payment_to_their_status_page(client, owner, plan):
    waiting = make_order(owner, plan)
    pending = make_order(owner, plan, status=Order.Status.PAYMENT_PENDING)
    paid = make_order(owner, plan, status=Order.Status.PAID)
    client.force_login(owner.user)

    page = client.get("/portal/").content.decode()

    assert f'href="/order/{waiting.status_token}/"' in page
    assert f'href="/order/{pending.status_token}/"' in page
    assert paid.status_token not in page


def test_it_shows_an_outsider_nothing_of_the_owners(client, owner, outsider, make_line, plan):
    make_line(owner, "owner_tv")
    order = make_order(owner, plan)
    make_line(outsider, "outsider_tv")
    client.force_login(outsider.user)

    page = client.get("/portal/").content.decode()

    assert "outsider_tv" in page
    assert "owner_tv" not in page
    assert "owner@example.test" not in page
    assert order.status_token not in page
    assert order.reference not in page


def test_it_invites_a_customer_without_lines_to_choose_a_plan(client, owner):
    client.force_login(owner.user)

    page = client.get("/portal/").content.decode()

    assert "no subscriptions yet" in page


def test_it_reads_the_overview_in_the_same_number_of_queries_for_many_lines(
    client, owner, make_line, django_assert_max_num_queries
):
    for n in range(8):
        make_line(owner, f"line{n}")
    client.force_login(owner.user)

    # One query more than before the renewals (the lines whose paid renewal is on its way) and
    # one for the invoices and one for the auto-renewing subscriptions; still the same for 8
    # lines as for 1.
    with django_assert_max_num_queries(9):
        response = client.get("/portal/")

    assert response.content.decode().count('class="btn btn-small btn-secondary copy-btn"') == 8 * 6


def test_it_invites_a_customer_without_a_password_to_choose_one(client, db):
    from boxoffice.customers.models import Customer
    from boxoffice.customers.services import customer_portal_user

    customer = Customer.objects.create(email="new@example.test")
    client.force_login(customer_portal_user(customer=customer))

    page = client.get("/portal/")

    assert b"Choose a password" in page.content
    assert b'href="/portal/password/"' in page.content
    assert "no-store" in page["Cache-Control"]
