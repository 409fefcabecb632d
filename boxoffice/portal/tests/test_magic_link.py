"""Single-use sign-in links: stored hashed, GET changes nothing, one POST signs in, and a link
stops working when used, when a newer one is sent, when the password changes and when it
expires. Requests for a link answer the same for every address."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django_tasks_db.models import DBTaskResult

from boxoffice.customers.models import Customer, SignInLink
from boxoffice.customers.services import (
    customer_change_email,
    sign_in_link_issue,
    sign_in_links_purge,
)
from boxoffice.messaging.models import Message
from boxoffice.portal.tests.conftest import press_sign_in, signed_in_user_id

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SITE = "https://tv.shop.test"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


@pytest.fixture
def newcomer(db) -> Customer:
    """A customer who ordered and never signed in: no login, no password."""
    return Customer.objects.create(email="new.viewer@example.test", name="New Viewer")


def link_for(customer, purpose=SignInLink.Purpose.REQUESTED, next_path="") -> str:
    return sign_in_link_issue(customer=customer, purpose=purpose, next_path=next_path).removeprefix(
        SITE
    )


def use(client, path: str):
    """What a browser does: open the link, then press the button on the page it lands on."""
    landing = client.get(path)
    if landing.status_code != 302:
        return landing
    assert landing["Location"] == "/portal/magic/confirm/"
    return press_sign_in(client)


def page_without(response, email: bytes) -> bytes:
    # CSRF tokens are masked differently in every response.
    return re.sub(rb"[A-Za-z0-9]{64}", b"TOKEN", response.content.replace(email, b"EMAIL"))


def test_it_stores_only_a_hash_of_the_token(newcomer):
    path = link_for(newcomer)

    token = re.fullmatch(r"/portal/magic/([\w-]{40,})/", path).group(1)
    stored = SignInLink.objects.values().get()
    assert token not in str(stored)
    assert len(stored["token_hash"]) == 64


def test_it_does_not_sign_in_on_get_and_keeps_the_token_out_of_the_next_address(client, newcomer):
    path = link_for(newcomer)

    landing = client.get(path)
    confirm = client.get("/portal/magic/confirm/")

    assert landing.status_code == 302 and landing["Location"] == "/portal/magic/confirm/"
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert 'method="post"' in html and "Sign in</button>" in html
    assert path.split("/")[3] not in html
    assert "no-store" in confirm["Cache-Control"]
    assert confirm.get("Referrer-Policy", "same-origin") != "no-referrer"
    assert signed_in_user_id(client) is None
    newcomer.refresh_from_db()
    assert newcomer.email_verified_at is None
    assert SignInLink.objects.get().used_at is None


def test_it_signs_in_on_post_with_a_login_of_the_customers_own(client, newcomer):
    response = use(client, link_for(newcomer))

    assert response.status_code == 302 and response["Location"] == "/portal/"
    newcomer.refresh_from_db()
    user = newcomer.user
    assert str(user.pk) == signed_in_user_id(client)
    assert not user.has_usable_password() and not user.is_staff
    assert user.username != newcomer.email  # never found by e-mail among staff users
    assert newcomer.email_verified_at is not None
    assert client.get("/portal/").status_code == 200


def test_it_posts_the_confirmation_with_csrf_and_the_sites_origin(newcomer):
    client = Client(enforce_csrf_checks=True)
    client.get(link_for(newcomer))
    client.get("/portal/magic/confirm/")
    token = client.cookies["csrftoken"].value

    response = press_sign_in(
        client,
        data={"csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://testserver",
        HTTP_REFERER="http://testserver/portal/magic/confirm/",
    )

    assert response.status_code == 302


def test_it_lands_on_the_page_the_link_was_asked_for(client, newcomer):
    response = use(client, link_for(newcomer, next_path="/checkout/monthly/"))

    assert response["Location"] == "/checkout/monthly/"


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test/x", "/\\evil.test"])
def test_it_never_lands_off_site(client, newcomer, target):
    response = use(client, link_for(newcomer, next_path=target))

    assert response["Location"] == "/portal/"


def test_it_works_only_once(client, newcomer):
    path = link_for(newcomer)
    assert use(client, path).status_code == 302

    again = use(Client(), path)

    assert again.status_code == 400
    assert b"already been used" in again.content
    assert b'action="/portal/magic/request/"' in again.content


def test_it_does_not_work_after_logout(client, newcomer):
    path = link_for(newcomer)
    use(client, path)
    client.post("/portal/logout/")

    response = use(client, path)

    assert response.status_code == 400
    assert signed_in_user_id(client) is None


def test_it_signs_in_once_when_two_tabs_press_the_button(newcomer):
    path = link_for(newcomer)
    first, second = Client(), Client()
    first.get(path)
    second.get(path)

    answers = [press_sign_in(first), press_sign_in(second)]

    assert sorted(a.status_code for a in answers) == [302, 400]


def test_it_stops_an_older_link_when_a_newer_one_is_sent(client, newcomer):
    older = link_for(newcomer, purpose=SignInLink.Purpose.WELCOME)
    newer = link_for(newcomer)

    refused = use(client, older)
    accepted = use(Client(), newer)

    assert refused.status_code == 400 and b"newer sign-in link" in refused.content
    assert accepted.status_code == 302


def test_it_stops_a_link_when_the_password_changes(client, owner):
    path = link_for(owner)
    user = owner.user
    user.set_password("a brand new one 7")
    user.save()

    response = use(client, path)

    assert response.status_code == 400
    assert b"changed since this link was sent" in response.content


def test_it_lets_a_requested_link_live_for_minutes(client, newcomer):
    with time_machine.travel(START, tick=False) as traveller:
        fine, late = link_for(newcomer), None
        traveller.shift(timedelta(minutes=29))
        assert use(client, fine).status_code == 302
        late = link_for(newcomer)
        traveller.shift(timedelta(minutes=31))

        response = use(Client(), late)

    assert response.status_code == 400 and b"expired" in response.content


def test_it_lets_the_credentials_mail_link_live_for_days_but_once(client, newcomer):
    with time_machine.travel(START, tick=False) as traveller:
        path = link_for(newcomer, purpose=SignInLink.Purpose.WELCOME)
        traveller.shift(timedelta(days=6, hours=23))
        assert use(client, path).status_code == 302
        assert use(Client(), path).status_code == 400
        path = link_for(newcomer, purpose=SignInLink.Purpose.WELCOME)
        traveller.shift(timedelta(days=7, minutes=1))

        assert use(Client(), path).status_code == 400


@pytest.mark.parametrize("token", ["x", "A" * 43, "A" * 500])
def test_it_refuses_a_forged_link(client, newcomer, token):
    link_for(newcomer)

    response = use(client, f"/portal/magic/{token}/")

    assert response.status_code == 400
    assert b"This link does not work" in response.content
    assert signed_in_user_id(client) is None


def test_it_signs_in_only_to_the_account_the_page_showed(client, newcomer, db):
    attacker = Customer.objects.create(email="attacker@example.test")
    client.get(link_for(newcomer))
    shown = client.get("/portal/magic/confirm/")
    code = re.search(rb'name="confirm" value="([0-9a-f]+)"', shown.content).group(1).decode()
    assert b"new.viewer@example.test" in shown.content
    # Another page navigates the same browser to the attacker's own link meanwhile.
    client.get(link_for(attacker))

    response = client.post("/portal/magic/confirm/", {"confirm": code})

    assert response.status_code == 400 and b"no longer matches" in response.content
    assert signed_in_user_id(client) is None


def test_it_refuses_the_confirm_page_without_a_link(client, newcomer):
    assert client.post("/portal/magic/confirm/").status_code == 400
    assert signed_in_user_id(client) is None


def test_it_never_hands_an_operator_account_to_a_link(client, db):
    staff = get_user_model().objects.create_superuser(
        username="ops@operator.test", email="ops@operator.test", password="staff pass 42"
    )
    customer = Customer.objects.create(email="ops@operator.test")

    use(client, link_for(customer))

    customer.refresh_from_db()
    assert customer.user != staff and not customer.user.is_staff
    assert signed_in_user_id(client) == str(customer.user.pk)
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")


def test_it_refuses_a_link_for_a_login_that_became_staff(client, owner):
    path = link_for(owner)
    get_user_model().objects.filter(pk=owner.user.pk).update(is_staff=True)

    assert use(client, path).status_code == 400
    assert signed_in_user_id(client) is None


def test_it_emails_a_fresh_link_that_signs_in(client, newcomer, smtp_inbox, run_tasks):
    response = client.post(
        "/portal/magic/request/", {"email": "NEW.viewer@example.test", "next": "/portal/"}
    )
    run_tasks()

    assert b"Check your inbox" in response.content and b"30 minutes" in response.content
    [mail] = smtp_inbox.wait_for(1)
    assert mail["To"] == "new.viewer@example.test"
    text = mail.get_body(("plain",)).get_content()
    assert "Hello," in text and "once, within the next 30 minutes" in text
    url = re.search(rf"{SITE}/portal/magic/\S+/", text).group(0)
    assert url in mail.get_body(("html",)).get_content()
    assert Message.objects.get().kind == "magic_link"

    assert use(client, url.removeprefix(SITE)).status_code == 302
    assert signed_in_user_id(client) is not None


def test_it_answers_the_same_and_does_the_same_work_for_an_unknown_address(
    client, newcomer, smtp_inbox, run_tasks
):
    before = DBTaskResult.objects.count()
    known = client.post("/portal/magic/request/", {"email": "new.viewer@example.test"})
    queued_for_known = DBTaskResult.objects.count() - before
    unknown = client.post("/portal/magic/request/", {"email": "nobody@example.test"})
    queued_for_unknown = DBTaskResult.objects.count() - before - queued_for_known
    run_tasks()

    assert queued_for_known == queued_for_unknown == 1
    assert unknown.status_code == known.status_code == 200
    assert page_without(unknown, b"nobody@example.test") == page_without(
        known, b"new.viewer@example.test"
    )
    assert Message.objects.filter(to_email__iexact="nobody@example.test").count() == 0
    assert Message.objects.filter(kind="magic_link").count() == 1


def test_it_caps_link_requests_per_address(client, newcomer, smtp_inbox, run_tasks):
    for n in range(7):
        response = client.post(
            "/portal/magic/request/", {"email": newcomer.email}, REMOTE_ADDR=f"10.0.0.{n}"
        )
    run_tasks()

    assert b"Check your inbox" in response.content
    assert Message.objects.filter(kind="magic_link").count() == 5


def test_it_caps_link_requests_per_client(client, newcomer, settings, run_tasks, smtp_inbox):
    settings.SIGN_IN_LIMITS = {**settings.SIGN_IN_LIMITS, "LINKS_PER_IP": 2}
    for _ in range(3):
        response = client.post("/portal/magic/request/", {"email": newcomer.email})
    run_tasks()

    assert b"Check your inbox" in response.content
    assert Message.objects.filter(kind="magic_link").count() == 2


def test_it_purges_links_a_month_past_their_expiry(newcomer):
    with time_machine.travel(START, tick=False) as traveller:
        link_for(newcomer)
        traveller.shift(timedelta(days=31))
        link_for(newcomer)

        assert sign_in_links_purge() == 1

    assert SignInLink.objects.count() == 1


def test_it_stops_links_sent_to_an_address_the_account_no_longer_has(client, owner):
    path = link_for(owner)
    customer_change_email(customer=owner, email="Jane.New@example.test", actor="ops")

    response = use(client, path)

    assert response.status_code == 400
    owner.refresh_from_db()
    owner.user.refresh_from_db()
    assert owner.email == owner.user.email == "jane.new@example.test"
    assert owner.email_verified_at is None
