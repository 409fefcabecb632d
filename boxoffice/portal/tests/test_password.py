"""Choosing and changing a password in the portal, and the password reset (Django's machinery,
its mail sent by a task to the account's address)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_tasks_db.models import DBTaskResult

from boxoffice.customers.models import Customer, SignInLink
from boxoffice.customers.services import customer_portal_user, sign_in_link_issue
from boxoffice.messaging.models import Message
from boxoffice.portal.tests.conftest import PASSWORD, signed_in_user_id

SITE = "https://tv.shop.test"
NEW = "violet-ferry-2031"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


def reset_link(smtp_inbox) -> str:
    [mail] = smtp_inbox.wait_for(1)
    text = mail.get_body(("plain",)).get_content()
    return re.search(rf"{SITE}(/portal/reset/\S+/)", text).group(1)


def test_it_lets_a_customer_without_a_password_choose_one(client, db):
    customer = Customer.objects.create(email="new@example.test")
    client.force_login(customer_portal_user(customer=customer), backend=None)

    page = client.get("/portal/password/")
    assert b"Choose a password" in page.content and b"old_password" not in page.content
    response = client.post("/portal/password/", {"new_password1": NEW, "new_password2": NEW})

    assert response.status_code == 302 and response["Location"] == "/portal/"
    customer.user.refresh_from_db()
    assert customer.user.check_password(NEW)
    assert signed_in_user_id(client) == str(customer.user.pk)  # still signed in


def test_it_asks_for_the_old_password_to_change_it_and_stops_live_links(client, owner):
    client.force_login(owner.user)
    link = sign_in_link_issue(customer=owner, purpose=SignInLink.Purpose.WELCOME)

    wrong = client.post(
        "/portal/password/",
        {"old_password": "nope", "new_password1": NEW, "new_password2": NEW},
    )
    right = client.post(
        "/portal/password/",
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )

    assert wrong.status_code == 200 and b"old password was entered incorrectly" in wrong.content
    assert right.status_code == 302
    assert Client().get(link.removeprefix(SITE)).status_code == 400


def test_it_refuses_a_weak_password(client, owner):
    client.force_login(owner.user)

    response = client.post(
        "/portal/password/",
        {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
    )

    assert response.status_code == 200 and b"too common" in response.content


def test_it_resets_a_forgotten_password_through_the_address(client, owner, smtp_inbox, run_tasks):
    response = client.post("/portal/password/reset/", {"email": "Jane.Doe@example.test"})
    run_tasks()

    assert response.status_code == 302 and response["Location"] == "/portal/password/reset/sent/"
    path = reset_link(smtp_inbox)
    assert Message.objects.get().kind == "password_reset"
    landing = client.get(path)
    assert landing.status_code == 302 and "set-password" in landing["Location"]
    form_page = client.get(landing["Location"])
    assert b"Choose a new password" in form_page.content
    done = client.post(landing["Location"], {"new_password1": NEW, "new_password2": NEW})

    assert done.status_code == 302 and done["Location"] == "/portal/"
    assert signed_in_user_id(client) == str(owner.user.pk)
    owner.user.refresh_from_db()
    owner.refresh_from_db()
    assert owner.user.check_password(NEW) and owner.email_verified_at is not None
    # The same link does not work twice.
    again = Client().get(path, follow=True)
    assert b"does not work any more" in again.content


def test_it_lets_a_passwordless_customer_set_a_first_password_by_reset(
    client, db, smtp_inbox, run_tasks
):
    customer = Customer.objects.create(email="new@example.test")

    client.post("/portal/password/reset/", {"email": "new@example.test"})
    run_tasks()
    landing = client.get(reset_link(smtp_inbox))
    client.post(landing["Location"], {"new_password1": NEW, "new_password2": NEW})

    customer.refresh_from_db()
    assert customer.user.check_password(NEW) and not customer.user.is_staff


def test_it_answers_the_same_for_an_unknown_address_and_sends_nothing(
    client, owner, smtp_inbox, run_tasks
):
    before = DBTaskResult.objects.count()
    known = client.post("/portal/password/reset/", {"email": owner.email})
    unknown = client.post("/portal/password/reset/", {"email": "nobody@example.test"})
    run_tasks()

    assert DBTaskResult.objects.count() - before == 2
    assert known["Location"] == unknown["Location"]
    assert Message.objects.filter(kind="password_reset").count() == 1


def test_it_never_resets_an_operator_password(client, db, smtp_inbox, run_tasks):
    staff = get_user_model().objects.create_superuser(
        username="ops@operator.test", email="ops@operator.test", password="staff pass 42"
    )

    client.post("/portal/password/reset/", {"email": "ops@operator.test"})
    run_tasks()

    assert Message.objects.filter(kind="password_reset").count() == 0
    staff.refresh_from_db()
    assert staff.check_password("staff pass 42")
