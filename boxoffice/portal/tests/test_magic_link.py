"""Magic sign-in links: GET shows a button, POST signs in; expired or forged links are refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache

from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message
from boxoffice.portal.services import portal_magic_link_url

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://tv.shop.test"
    cache.clear()


@pytest.fixture
def owner(db) -> Customer:
    return Customer.objects.create(email="Jane.Doe@example.test", name="Jane Doe")


def path_of(url: str) -> str:
    return url.removeprefix("https://tv.shop.test")


def signed_in_as(client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


def page_without(response, email: bytes) -> bytes:
    # CSRF tokens are masked differently in every response.
    return re.sub(rb"[A-Za-z0-9]{64}", b"TOKEN", response.content.replace(email, b"EMAIL"))


def test_it_builds_the_link_on_the_site_url(owner):
    url = portal_magic_link_url(owner)

    assert re.fullmatch(r"https://tv\.shop\.test/portal/magic/[\w:-]+/", url)


def test_it_does_not_sign_in_on_get(client, owner):
    response = client.get(path_of(portal_magic_link_url(owner)))

    assert response.status_code == 200
    assert b'method="post"' in response.content
    assert b"Sign in</button>" in response.content
    assert response["Referrer-Policy"] == "no-referrer"
    assert signed_in_as(client) is None
    owner.refresh_from_db()
    assert owner.user is None


def test_it_signs_in_on_post_and_creates_a_passwordless_user(client, owner):
    response = client.post(path_of(portal_magic_link_url(owner)))

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    owner.refresh_from_db()
    assert owner.user.username == "jane.doe@example.test"
    assert not owner.user.has_usable_password()
    assert signed_in_as(client) == owner.user
    assert client.get("/portal/").status_code == 200


def test_it_signs_in_the_customers_existing_user(client, owner):
    user = get_user_model().objects.create_user(
        username="jane.doe@example.test", password="pw 1234 abc"
    )
    owner.user = user
    owner.save()

    client.post(path_of(portal_magic_link_url(owner)))

    assert signed_in_as(client) == user
    assert get_user_model().objects.count() == 1


def test_it_still_works_just_before_seven_days(client, owner):
    with time_machine.travel(START, tick=False) as traveller:
        url = path_of(portal_magic_link_url(owner))
        traveller.shift(timedelta(days=6, hours=23))

        response = client.post(url)

    assert response.status_code == 302


def test_it_refuses_an_expired_link(client, owner):
    with time_machine.travel(START, tick=False) as traveller:
        url = path_of(portal_magic_link_url(owner))
        traveller.shift(timedelta(days=7, minutes=1))

        shown = client.get(url)
        posted = client.post(url)

    assert shown.status_code == 400
    assert b"This link has expired" in shown.content
    assert b'action="/portal/magic/request/"' in shown.content
    assert posted.status_code == 400
    assert signed_in_as(client) is None


def test_it_reads_the_lifetime_from_settings(client, owner, settings):
    settings.PORTAL_MAGIC_LINK_MAX_AGE_DAYS = 1
    with time_machine.travel(START, tick=False) as traveller:
        url = path_of(portal_magic_link_url(owner))
        traveller.shift(timedelta(days=1, minutes=1))

        response = client.post(url)

    assert response.status_code == 400


def test_it_refuses_a_forged_link(client, owner, db):
    outsider = Customer.objects.create(email="mallory@example.test")
    token = path_of(portal_magic_link_url(outsider)).split("/")[3]
    forged = token.replace(str(outsider.pk), str(owner.pk), 1)

    response = client.post(f"/portal/magic/{forged}/")

    assert response.status_code == 400
    assert b"This link does not work" in response.content
    assert signed_in_as(client) is None


def test_it_never_hands_an_operator_account_to_a_link(client, owner):
    get_user_model().objects.create_user(username="jane.doe@example.test", is_staff=True)

    response = client.post(path_of(portal_magic_link_url(owner)))

    assert response.status_code == 400
    assert signed_in_as(client) is None


def test_it_emails_a_fresh_link_that_signs_in(client, owner, smtp_inbox):
    response = client.post("/portal/magic/request/", {"email": "JANE.DOE@example.test"})

    assert b"Check your inbox" in response.content
    [mail] = smtp_inbox.wait_for(1)
    assert mail["To"] == "Jane.Doe@example.test"
    text = mail.get_body(("plain",)).get_content()
    url = re.search(r"https://tv\.shop\.test/portal/magic/\S+/", text).group(0)
    assert url in mail.get_body(("html",)).get_content()
    assert Message.objects.get().kind == "magic_link"

    client.post(path_of(url))

    assert signed_in_as(client).username == "jane.doe@example.test"


def test_it_answers_the_same_for_an_unknown_address(client, owner, smtp_inbox):
    known = client.post("/portal/magic/request/", {"email": "jane.doe@example.test"})
    unknown = client.post("/portal/magic/request/", {"email": "nobody@example.test"})

    assert unknown.status_code == known.status_code == 200
    assert page_without(unknown, b"nobody@example.test") == page_without(
        known, b"jane.doe@example.test"
    )
    assert Message.objects.filter(to_email__iexact="nobody@example.test").count() == 0


def test_it_caps_link_requests_per_address(client, owner, smtp_inbox):
    for _ in range(7):
        response = client.post("/portal/magic/request/", {"email": "jane.doe@example.test"})

    assert b"Check your inbox" in response.content
    assert Message.objects.filter(kind="magic_link").count() == 5
