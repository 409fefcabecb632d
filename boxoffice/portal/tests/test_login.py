"""Password sign-in, its rate limit, sign-out, and who may see the portal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from boxoffice.customers.models import Customer

LOGIN = "/portal/login/"
PASSWORD = "correct horse 42"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(db) -> Customer:
    user = get_user_model().objects.create_user(
        username="jane.doe@example.test", email="jane.doe@example.test", password="correct horse 42"
    )
    return Customer.objects.create(email="jane.doe@example.test", name="Jane Doe", user=user)


def sign_in(client, email="jane.doe@example.test", password=PASSWORD, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_it_shows_the_sign_in_form(client):
    response = client.get(LOGIN)

    assert response.status_code == 200
    assert b'type="email"' in response.content
    assert b'type="password"' in response.content
    assert b"/portal/magic/request/" in response.content


def test_it_signs_in_with_email_and_password(client, owner):
    response = sign_in(client, email="  Jane.Doe@Example.TEST ")

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_it_goes_back_to_the_page_that_asked_for_sign_in(client, owner):
    response = client.post(
        LOGIN + "?next=/portal/",
        {"username": owner.email, "password": "correct horse 42", "next": "/portal/"},
    )

    assert response["Location"] == "/portal/"


def test_it_refuses_a_wrong_password(client, owner):
    response = sign_in(client, password="wrong")

    assert response.status_code == 200
    assert b"do not match" in response.content
    assert not signed_in(client)


def test_it_redirects_anonymous_visitors_to_sign_in(client):
    response = client.get("/portal/")

    assert response.status_code == 302
    assert response["Location"] == "/portal/login/?next=/portal/"


def test_it_blocks_an_address_after_five_failures_without_checking_the_password(client, owner):
    for _ in range(5):
        sign_in(client, password="wrong")

    with mock.patch("django.contrib.auth.forms.authenticate") as authenticate:
        response = sign_in(client)

    authenticate.assert_not_called()
    assert response.status_code == 200
    assert b"Too many attempts, try again in 15 minutes." in response.content
    assert not signed_in(client)


def test_it_counts_the_address_whatever_its_case(client, owner):
    for _ in range(5):
        sign_in(client, email="JANE.DOE@example.test", password="wrong")

    assert b"Too many attempts" in sign_in(client).content


def test_it_says_how_many_minutes_are_left_and_lets_in_after_the_window(client, owner):
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        for _ in range(5):
            sign_in(client, password="wrong")
        traveller.shift(timedelta(minutes=10, seconds=30))
        assert b"try again in 5 minutes" in sign_in(client).content
        traveller.shift(timedelta(minutes=4))
        assert b"try again in 1 minute." in sign_in(client).content
        traveller.shift(timedelta(minutes=1))

        response = sign_in(client)

        assert response.status_code == 302
        assert signed_in(client)


def test_it_forgives_earlier_failures_after_a_successful_sign_in(client, owner):
    for _ in range(4):
        sign_in(client, password="wrong")
    assert sign_in(client).status_code == 302
    client.post("/portal/logout/")

    for _ in range(4):
        sign_in(client, password="wrong")

    assert sign_in(client).status_code == 302


def test_it_blocks_a_client_address_after_twenty_failures(client, owner):
    for n in range(20):
        sign_in(client, email=f"guess{n}@example.test", password="wrong", ip="10.9.9.9")

    blocked = sign_in(client, ip="10.9.9.9")
    other_address = sign_in(client, ip="10.0.0.2")

    assert b"Too many attempts, try again in 15 minutes." in blocked.content
    assert other_address.status_code == 302


def test_it_enforces_csrf_on_sign_in(owner):
    client = Client(enforce_csrf_checks=True)

    refused = client.post(LOGIN, {"username": owner.email, "password": "correct horse 42"})
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        LOGIN,
        {"username": owner.email, "password": "correct horse 42", "csrfmiddlewaretoken": token},
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_it_signs_out_with_a_post_only(client, owner):
    sign_in(client)

    assert client.get("/portal/logout/").status_code == 405
    response = client.post("/portal/logout/")

    assert response["Location"] == "/portal/login/"
    assert client.get("/portal/").status_code == 302


def test_it_shows_staff_a_polite_message_instead_of_an_error(client, db):
    staff = get_user_model().objects.create_user(
        username="ops@operator.test", password="staff pass 42", is_staff=True
    )
    client.force_login(staff)

    response = client.get("/portal/")

    assert response.status_code == 200
    assert b"not a customer account" in response.content
    assert b"/admin/" in response.content
