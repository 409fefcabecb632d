"""Password sign-in, its limits (counted before the password is checked, per client, per account
and client, per account), sign-out, and who may use the portal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.auth import base_user, get_user_model
from django.db import connection
from django.test import Client

from boxoffice.customers.models import Customer
from boxoffice.portal.tests.conftest import PASSWORD

LOGIN = "/portal/login/"


def sign_in(client, email="jane.doe@example.test", password=PASSWORD, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def password_checks():
    """Counts every real password comparison, from any thread."""
    real = base_user.check_password
    calls = []
    lock = threading.Lock()

    def counting(*args, **kwargs):
        with lock:
            calls.append(1)
        return real(*args, **kwargs)

    with mock.patch.object(base_user, "check_password", counting):
        yield calls


def test_it_shows_the_sign_in_form_with_the_ways_back_in(client):
    response = client.get(LOGIN + "?email=jane.doe@example.test")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'type="email"' in html and 'type="password"' in html
    assert 'value="jane.doe@example.test"' in html
    assert 'action="/portal/magic/request/"' in html
    assert 'href="/portal/password/reset/"' in html


def test_it_signs_in_with_email_and_password(client, owner):
    response = sign_in(client, email="  Jane.Doe@Example.TEST ")

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_it_goes_back_to_the_page_that_asked_for_sign_in(client, owner):
    response = client.post(
        LOGIN + "?next=/checkout/monthly/",
        {"username": owner.email, "password": PASSWORD, "next": "/checkout/monthly/"},
    )

    assert response["Location"] == "/checkout/monthly/"


def test_it_refuses_a_wrong_password_and_offers_a_link(client, owner):
    response = sign_in(client, password="wrong")

    assert response.status_code == 200
    assert b"do not match" in response.content
    assert b"link-offer-strong" in response.content
    assert not signed_in(client)


def test_it_lets_nobody_in_to_an_account_without_a_password(client, db):
    Customer.objects.create(email="new@example.test")

    for guess in ("", "password", "new@example.test"):
        sign_in(client, email="new@example.test", password=guess)

    assert not signed_in(client)


def test_it_redirects_anonymous_visitors_to_sign_in(client):
    response = client.get("/portal/")

    assert response.status_code == 302
    assert response["Location"] == "/portal/login/?next=/portal/"


def test_it_stops_checking_passwords_after_five_guesses_from_one_client(
    client, owner, password_checks
):
    for _ in range(5):
        sign_in(client, password="wrong")
    assert len(password_checks) == 5

    response = sign_in(client)

    assert len(password_checks) == 5
    assert b"Too many attempts. Try again in 15 minutes" in response.content
    assert not signed_in(client)


def test_it_lets_the_owner_in_from_elsewhere_after_five_wrong_guesses(client, owner):
    for _ in range(5):
        sign_in(client, password="wrong", ip="203.0.113.66")

    owner_client = Client()
    response = sign_in(owner_client, ip="198.51.100.7")

    assert response.status_code == 302
    assert signed_in(owner_client)


def test_it_lets_the_owner_in_while_an_attacker_hammers_their_address(owner, password_checks):
    attacker = Client()
    for n in range(60):
        sign_in(attacker, password=f"guess{n}", ip="203.0.113.66")
        if n % 10 == 0:
            owner_client = Client()
            assert sign_in(owner_client, ip=f"198.51.100.{n}").status_code == 302
            assert signed_in(owner_client)

    assert not signed_in(attacker)
    # Five of the attacker's guesses reached a password check; six were the owner's.
    assert len(password_checks) == 5 + 6


def test_it_counts_the_address_whatever_its_case(client, owner):
    for _ in range(5):
        sign_in(client, email="JANE.DOE@example.test", password="wrong")

    assert b"Too many attempts" in sign_in(client).content


def test_it_says_how_many_minutes_are_left_and_lets_in_after_the_window(client, owner):
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        for _ in range(5):
            sign_in(client, password="wrong")
        traveller.shift(timedelta(minutes=10, seconds=30))
        assert b"Try again in 5 minutes" in sign_in(client).content
        traveller.shift(timedelta(minutes=4))
        assert b"Try again in 1 minute," in sign_in(client).content
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


def test_it_blocks_a_client_address_after_twenty_attempts(client, owner):
    for n in range(20):
        sign_in(client, email=f"guess{n}@example.test", password="wrong", ip="10.9.9.9")

    blocked = sign_in(client, ip="10.9.9.9")
    other_address = sign_in(client, ip="10.0.0.2")

    assert b"Too many sign-in attempts from your network" in blocked.content
    assert other_address.status_code == 302


def test_it_pauses_passwords_for_an_address_guessed_from_many_places_and_offers_a_link(
    client, owner, settings
):
    settings.SIGN_IN_LIMITS = {**settings.SIGN_IN_LIMITS, "PER_ADDRESS": 10}
    for n in range(10):
        sign_in(Client(), password="wrong", ip=f"203.0.113.{n}")

    response = sign_in(client, ip="198.51.100.1")

    assert response.status_code == 200
    assert b"signing in with a password is paused" in response.content
    assert b"link-offer-strong" in response.content
    assert not signed_in(client)


def test_it_reads_only_remote_addr_unless_a_proxy_is_trusted(client, owner, settings):
    for n in range(5):
        client.post(
            LOGIN,
            {"username": owner.email, "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert b"Too many attempts" in sign_in(client, ip="10.0.0.1").content

    settings.TRUSTED_PROXY_COUNT = 1
    response = client.post(
        LOGIN,
        {"username": owner.email, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="spoofed, 192.0.2.200",
    )
    assert response.status_code == 302


def test_it_enforces_csrf_on_sign_in(owner):
    client = Client(enforce_csrf_checks=True)

    refused = client.post(LOGIN, {"username": owner.email, "password": PASSWORD})
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        LOGIN, {"username": owner.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
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


def test_it_never_signs_an_operator_in_to_the_portal(client, db):
    get_user_model().objects.create_user(
        username="ops@operator.test",
        email="ops@operator.test",
        password="staff pass 42",
        is_staff=True,
    )
    Customer.objects.create(email="ops@operator.test")

    response = sign_in(client, email="ops@operator.test", password="staff pass 42")

    assert b"do not match" in response.content
    assert not signed_in(client)


def test_it_limits_the_admin_login_too(client, db, password_checks):
    get_user_model().objects.create_user(
        username="ops@operator.test", password="staff pass 42", is_staff=True
    )
    for _ in range(6):
        response = client.post(
            "/admin/login/",
            {"username": "ops@operator.test", "password": "wrong"},
            REMOTE_ADDR="203.0.113.9",
        )

    assert len(password_checks) == 5
    assert b"Too many attempts" in response.content
    elsewhere = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ops@operator.test", "password": "staff pass 42", "next": "/admin/"},
        REMOTE_ADDR="198.51.100.3",
    )
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/admin/"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
@pytest.mark.parametrize("path", [LOGIN, "/admin/login/"])
def test_it_holds_the_limit_under_forty_concurrent_wrong_logins(path, password_checks):
    customer = Customer.objects.create(email="jane.doe@example.test")
    user = get_user_model().objects.create_user(
        username="ops@operator.test" if "admin" in path else "customer-jane",
        password=PASSWORD,
        is_staff="admin" in path,
    )
    if "admin" not in path:
        customer.user = user
        customer.save()
    username = "ops@operator.test" if "admin" in path else customer.email
    start = threading.Barrier(40)
    answers: list[bytes] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        try:
            start.wait()
            response = Client().post(
                path, {"username": username, "password": f"wrong{n}"}, REMOTE_ADDR="203.0.113.5"
            )
            with lock:
                answers.append(response.content)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == 40
    assert len(password_checks) == 5
    # The other 35 were refused before any password check (per account and client, then per
    # client once the client passed twenty attempts).
    assert sum(b"Too many" in a for a in answers) == 35


def test_it_never_locks_an_operator_out_however_many_places_guess(client, db, settings):
    settings.SIGN_IN_LIMITS = {**settings.SIGN_IN_LIMITS, "PER_ADDRESS": 10}
    get_user_model().objects.create_user(
        username="ops@operator.test", password="staff pass 42", is_staff=True
    )
    for n in range(12):
        for _ in range(5):
            Client().post(
                "/admin/login/",
                {"username": "ops@operator.test", "password": "wrong"},
                REMOTE_ADDR=f"203.0.113.{n}",
            )

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ops@operator.test", "password": "staff pass 42", "next": "/admin/"},
        REMOTE_ADDR="198.51.100.3",
    )

    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_it_counts_an_ipv6_client_by_its_64_not_by_each_address(client, owner, password_checks):
    for n in range(30):
        sign_in(Client(), password="wrong", ip=f"2001:db8:5:6::{n + 1:x}")

    assert len(password_checks) == 5
    assert sign_in(client, ip="2001:db8:9:9::1").status_code == 302
