"""Unsubscribing from non-transactional mail: the win-back mail carries a link and the RFC 8058
headers; the link's GET changes nothing, its POST (the page's button, or the mailbox provider's
one-click POST without a cookie) stops win-back mail; a forged token does nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_unsubscribe, unsubscribe_token
from boxoffice.messaging.models import Message
from boxoffice.provisioning.lifecycle import OVERDUE, lines_lifecycle_run
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db(transaction=True)  # mail leaves after commit


def _lapsed_line(plan, customer, username: str) -> Line:
    """A line terminated for non-payment long enough ago that its win-back mail is due."""
    ago = plan.terminate_after_days + plan.winback_days + 1
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username=username,
        password="pw",
        panel_line_id=username,
        status=Line.Status.CANCELLED,
        stage=Line.Stage.TERMINATED,
        suspension_reason=OVERDUE,
        expires_at=timezone.now() - timedelta(days=ago),
    )


def test_the_winback_mail_unsubscribes_in_one_click_and_the_next_is_skipped(
    plan, customer, smtp_inbox
):
    plan.winback_text = "Come back <b>now</b>: 20 % off your next month."
    plan.save()
    _lapsed_line(plan, customer, "firsttv")
    assert lines_lifecycle_run()["winback"] == 1
    (mail,) = smtp_inbox.wait_for(1)
    url = "".join(str(mail["List-Unsubscribe"]).split()).strip("<>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in mail.get_body(("plain",)).get_content()
    # The operator's words, in both parts (escaped in the HTML one).
    assert "Come back <b>now</b>: 20 % off" in mail.get_body(("plain",)).get_content()
    assert "Come back &lt;b&gt;now&lt;/b&gt;: 20 % off" in mail.get_body(("html",)).get_content()
    path = url.split("://", 1)[1].split("/", 1)[1]

    # A mail scanner's GET changes nothing; the provider's POST has no cookie and no CSRF token.
    provider = Client(enforce_csrf_checks=True)
    assert provider.get(f"/{path}").status_code == 200
    assert Customer.objects.get(pk=customer.pk).unsubscribed_at is None
    answer = provider.post(f"/{path}", {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert Customer.objects.get(pk=customer.pk).unsubscribed_at is not None

    _lapsed_line(plan, customer, "secondtv")
    assert lines_lifecycle_run()["winback"] == 0
    assert Message.objects.filter(kind="winback").count() == 1


def test_a_winback_already_queued_is_not_sent_once_the_customer_unsubscribed(
    plan, customer, smtp_inbox
):
    _lapsed_line(plan, customer, "firsttv")
    with transaction.atomic():  # the mail is written, and leaves only after this commits
        assert lines_lifecycle_run()["winback"] == 1
        customer_unsubscribe(customer=customer, how="portal")
    message = Message.objects.get(kind="winback")
    assert message.status == Message.Status.DROPPED
    assert smtp_inbox.messages() == []


def test_transactional_mail_has_no_unsubscribe_header(plan, customer, smtp_inbox):
    line = _lapsed_line(plan, customer, "firsttv")
    Line.objects.filter(pk=line.pk).update(
        status=Line.Status.ACTIVE,
        stage=Line.Stage.ACTIVE,
        suspension_reason="",
        expires_at=timezone.now() + timedelta(days=2),
    )
    customer_unsubscribe(customer=customer, how="link")
    assert lines_lifecycle_run()["reminded"] == 1  # a renewal notice still goes out
    (mail,) = smtp_inbox.wait_for(1)
    assert mail["List-Unsubscribe"] is None


def test_a_forged_or_mangled_token_unsubscribes_nobody(client, customer):
    token = unsubscribe_token(customer)
    for bad in (token[:-2] + "xx", "1", "abc:def"):
        answer = client.post(f"/portal/unsubscribe/{bad}/")
        assert answer.status_code == 400
    assert Customer.objects.get(pk=customer.pk).unsubscribed_at is None


def test_subscribing_again_is_a_csrf_protected_form(customer):
    customer_unsubscribe(customer=customer, how="link")
    browser = Client(enforce_csrf_checks=True)
    url = f"/portal/unsubscribe/{unsubscribe_token(customer)}/"
    page = browser.get(url)
    assert "Subscribe again" in page.content.decode()
    assert browser.post(url + "again/").status_code == 403  # no token: refused
    token = page.context["csrf_token"]
    assert browser.post(url + "again/", {"csrfmiddlewaretoken": str(token)}).status_code == 200
    assert Customer.objects.get(pk=customer.pk).unsubscribed_at is None


def test_each_category_has_its_own_link_and_choice(customer):
    bare = Client(enforce_csrf_checks=True)
    onboarding = unsubscribe_token(customer, "onboarding")
    marketing = unsubscribe_token(customer)
    assert onboarding != marketing

    # A GET (a mail scanner following the link) changes nothing.
    assert bare.get(f"/portal/unsubscribe/{onboarding}/").status_code == 200
    customer.refresh_from_db()
    assert customer.onboarding_unsubscribed_at is None

    response = bare.post(
        f"/portal/unsubscribe/{onboarding}/",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "no more welcome tips" in response.content.decode()
    customer.refresh_from_db()
    assert customer.onboarding_unsubscribed_at is not None
    assert customer.unsubscribed_at is None  # offers are another choice

    bare.post(f"/portal/unsubscribe/{marketing}/", data={"List-Unsubscribe": "One-Click"})
    customer.refresh_from_db()
    assert customer.unsubscribed_at is not None


def test_a_token_naming_an_unknown_category_is_refused(client, customer):
    from django.core import signing

    token = signing.dumps(
        [customer.pk, "everything"], salt="boxoffice.customers.unsubscribe", compress=False
    )
    assert client.post(f"/portal/unsubscribe/{token}/").status_code == 400
    customer.refresh_from_db()
    assert customer.onboarding_unsubscribed_at is None and customer.unsubscribed_at is None
