"""Bounces and complaints from a mail provider, through django-anymail's verified webhook."""

from __future__ import annotations

import base64
import importlib
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import clear_url_caches, reverse

from boxoffice.messaging.models import AddressStatus, Message, ProviderEvent
from boxoffice.messaging.production import mail_settings_problems
from boxoffice.messaging.services import message_create, message_send

pytestmark = pytest.mark.django_db

URL = "/mail/events/postmark/tracking/"
SECRET = "hooks:s3cret-long-enough"


def _reload_urls():
    import boxoffice.messaging.provider_urls
    import boxoffice.urls

    importlib.reload(boxoffice.messaging.provider_urls)
    importlib.reload(boxoffice.urls)
    clear_url_caches()


@pytest.fixture
def postmark(settings):
    settings.ANYMAIL_ESP = "postmark"
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    _reload_urls()
    yield
    settings.ANYMAIL_ESP = ""
    settings.ANYMAIL = {}
    _reload_urls()


def _bounce(address="ana@example.net", kind="HardBounce", event_id=4323372036854775807):
    return {
        "RecordType": "Bounce",
        "ID": event_id,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": address,
        "From": "noreply@shop.example",
        "BouncedAt": "2026-12-01T16:33:54.9070259Z",
    }


def _post(payload, auth=SECRET):
    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return Client().post(URL, json.dumps(payload), content_type="application/json", **headers)


def _message(*, non_essential: bool):
    headers = {"List-Unsubscribe": "<https://shop.example/u/x>"} if non_essential else {}
    message, _ = message_create(
        kind="offer" if non_essential else "credentials",
        to_email="Ana@Example.net",
        subject="s",
        body_text="b",
        body_html="",
        dedupe_key=None,
        headers=headers,
    )
    return message


def test_a_forged_or_unauthenticated_bounce_changes_nothing(postmark):
    assert _post(_bounce(), auth=None).status_code == 400
    assert _post(_bounce(), auth="hooks:wrong").status_code == 400
    assert not AddressStatus.objects.exists() and not ProviderEvent.objects.exists()


@pytest.mark.parametrize(
    "body,expected",
    [
        (b"not json", 400),
        (b"[]", 400),
        (b"{}", 200),  # an event anymail cannot name: taken, ignored
        (b'{"RecordType": "Bounce"}', 200),  # no recipient: ignored
        (b'{"RecordType": 7, "Email": []}', 200),  # an unknown record type: ignored
    ],
)
def test_an_unreadable_event_is_a_bad_request_and_records_nothing(postmark, body, expected):
    response = Client(raise_request_exception=False).post(
        URL,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(SECRET.encode()).decode(),
    )
    assert response.status_code == expected
    assert not AddressStatus.objects.filter(suppressed_at__isnull=False).exists()


def test_without_a_webhook_secret_there_is_no_endpoint(settings):
    settings.ANYMAIL_ESP = "postmark"
    settings.ANYMAIL = {}
    _reload_urls()
    try:
        assert _post(_bounce()).status_code == 404
    finally:
        settings.ANYMAIL_ESP = ""
        _reload_urls()
    assert not AddressStatus.objects.exists()


def test_a_hard_bounce_stops_non_essential_mail_once_and_transactional_still_goes(
    postmark, smtp_inbox
):
    assert _post(_bounce()).status_code == 200
    assert _post(_bounce()).status_code == 200  # the provider redelivers
    assert ProviderEvent.objects.count() == 1
    status = AddressStatus.objects.get()
    assert status.address == "ana@example.net"
    assert status.reason == AddressStatus.Reason.BOUNCED and status.suppressed_at
    assert "550 5.1.1" in status.detail or "unknown user" in status.detail

    offer = _message(non_essential=True)  # the address typed in another case: the same mailbox
    assert message_send(message_id=offer.pk) == "dropped"
    offer.refresh_from_db()
    assert offer.status == Message.Status.DROPPED
    assert "hard bounce reported by Postmark" in offer.last_error
    credentials = _message(non_essential=False)
    assert message_send(message_id=credentials.pk) == "sent"
    assert len(smtp_inbox.wait_for(1)) == 1


def test_soft_bounces_stop_mail_only_after_the_limit(postmark):
    for n in (1, 2):
        _post(_bounce(kind="SoftBounce", event_id=n))
        assert AddressStatus.objects.get().suppressed_at is None
    _post(_bounce(kind="SoftBounce", event_id=3))
    status = AddressStatus.objects.get()
    assert status.soft_bounces == 3 and status.reason == AddressStatus.Reason.SOFT_BOUNCES


def test_a_spam_complaint_stops_non_essential_mail(postmark):
    complaint = {
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "Email": "bo@example.net",
        "BouncedAt": "2026-12-01T10:00:00Z",
        "Description": "The subscriber explicitly marked this message as spam.",
    }
    assert _post(complaint).status_code == 200
    assert AddressStatus.objects.get(address="bo@example.net").reason == "complained"


def test_the_operator_sees_why_on_the_customer_page_and_can_clear_it(postmark, customer):
    customer.email = "ana@example.net"
    customer.save()
    _post(_bounce())
    staff = get_user_model().objects.create_superuser("op", "op@shop.example", "pw-long-enough-1")
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert page.status_code == 200
    assert b"Hard bounce reported by Postmark" in page.content
    status = AddressStatus.objects.get()
    response = client.post(
        reverse("admin:messaging_addressstatus_changelist"),
        {"action": "clear", "_selected_action": [status.pk]},
    )
    assert response.status_code == 302
    status.refresh_from_db()
    assert status.suppressed_at is None and status.cleared_by == "op"
    page = client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert b"Delivered normally" in page.content


def test_production_refuses_a_provider_without_a_webhook_secret_or_unknown(settings):
    settings.ANYMAIL_ESP = "postmark"
    settings.ANYMAIL = {}
    assert any("ANYMAIL_WEBHOOK_SECRET" in p for p in mail_settings_problems(settings))
    settings.ANYMAIL_ESP = "carrier-pigeon"
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    assert any("not a provider" in p for p in mail_settings_problems(settings))
    settings.ANYMAIL_ESP = "postmark"
    assert mail_settings_problems(settings) == []
