from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse

from boxoffice_dev.smtp_inbox import (
    MESSAGE_ID_RE,
    MessageNotFound,
    list_messages,
    read_message,
)

TEST_URLS = "boxoffice_dev.tests.inbox_test_urls"
HTML = (
    '<p>Your line is ready: <a href="https://tv.example.test/portal/">open the portal</a></p>'
    "<script>alert('x')</script>"
)


def send(subject: str = "Your subscription is active", *, bcc: list[str] | None = None) -> None:
    message = EmailMultiAlternatives(
        subject=subject,
        body="Your line is ready.\nPortal: https://tv.example.test/portal/\n",
        from_email="Demo TV <noreply@boxoffice.test>",
        to=["viewer@example.test"],
        bcc=bcc or [],
    )
    message.attach_alternative(HTML, "text/html")
    message.send()


def test_it_receives_mail_sent_by_django_over_smtp(smtp_inbox):
    send(bcc=["ops@operator.test"])

    [message] = smtp_inbox.wait_for(1)

    assert message["Subject"] == "Your subscription is active"
    assert message["To"] == "viewer@example.test"
    assert "ops@operator.test" in message["X-RcptTo"]
    assert "Portal: https://tv.example.test/portal/" in message.get_body(("plain",)).get_content()
    assert "open the portal" in message.get_body(("html",)).get_content()


def test_it_stores_each_message_as_an_eml_file_named_by_time(smtp_inbox):
    send()
    smtp_inbox.wait_for(1)

    [path] = list(smtp_inbox.directory.iterdir())

    assert path.suffix == ".eml"
    assert MESSAGE_ID_RE.fullmatch(path.stem)


def test_it_lists_messages_newest_first(smtp_inbox):
    send("first")
    smtp_inbox.wait_for(1)
    send("second")
    smtp_inbox.wait_for(2)

    listed = list_messages(smtp_inbox.directory)

    assert [m.subject for m in listed] == ["second", "first"]
    assert [m["Subject"] for m in smtp_inbox.messages()] == ["first", "second"]
    assert listed[0].from_ == "Demo TV <noreply@boxoffice.test>"
    assert listed[0].has_html is True


def test_it_reads_a_message_with_its_parts_and_links(smtp_inbox):
    send()
    smtp_inbox.wait_for(1)
    [summary] = list_messages(smtp_inbox.directory)

    detail = read_message(smtp_inbox.directory, summary.id)

    assert detail.summary == summary
    assert detail.text.startswith("Your line is ready.")
    assert "<script>" in detail.html
    assert detail.links == ["https://tv.example.test/portal/"]


@pytest.mark.parametrize(
    "message_id",
    ["../../etc/passwd", "..", "20250101T000000.000000Z-" + "0" * 32, ""],
)
def test_it_refuses_ids_that_are_not_stored_messages(tmp_path, message_id):
    (tmp_path / "inbox").mkdir()

    with pytest.raises(MessageNotFound):
        read_message(tmp_path / "inbox", message_id)


def test_it_times_out_waiting_for_mail_that_never_comes(smtp_inbox):
    with pytest.raises(TimeoutError):
        smtp_inbox.wait_for(1, timeout=0.2)


@pytest.mark.urls(TEST_URLS)
def test_it_lists_the_inbox_for_staff(smtp_inbox, admin_client):
    send()
    smtp_inbox.wait_for(1)

    response = admin_client.get(reverse("inbox:list"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Your subscription is active" in body
    assert "viewer@example.test" in body
    assert "noreply@boxoffice.test" in body


@pytest.mark.urls(TEST_URLS)
def test_it_shows_a_message_with_its_html_in_a_sandboxed_frame(smtp_inbox, admin_client):
    send()
    smtp_inbox.wait_for(1)
    [summary] = list_messages(smtp_inbox.directory)

    response = admin_client.get(reverse("inbox:detail", args=[summary.id]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<pre" in body and "Portal: https://tv.example.test/portal/" in body
    assert "sandbox" in body and 'srcdoc="&lt;p&gt;Your line is ready' in body
    assert "<script>alert" not in body
    assert 'href="https://tv.example.test/portal/"' in body


@pytest.mark.urls(TEST_URLS)
def test_it_pages_the_inbox_by_fifty(smtp_inbox, admin_client):
    for number in range(51):
        smtp_inbox.store(f"Subject: message {number}\r\n\r\nbody\r\n".encode())

    first = admin_client.get(reverse("inbox:list")).content.decode()
    second = admin_client.get(reverse("inbox:list") + "?page=2").content.decode()

    assert "message 50" in first and "message 1<" in first
    assert "message 0<" in second and "message 50" not in second


@pytest.mark.urls(TEST_URLS)
def test_it_sends_a_non_staff_user_to_the_login_page(smtp_inbox, client, db):
    user = get_user_model().objects.create_user("viewer", "viewer@example.test", "pw")
    client.force_login(user)

    response = client.get(reverse("inbox:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.urls(TEST_URLS)
@pytest.mark.parametrize("message_id", ["..%2F..%2Fetc%2Fpasswd", "....etc", "x" * 60])
def test_it_answers_404_for_a_crafted_id(smtp_inbox, admin_client, message_id):
    response = admin_client.get(f"/backoffice/inbox/{message_id}/")

    assert response.status_code == 404


@pytest.mark.urls(TEST_URLS)
def test_it_answers_404_for_a_path_that_climbs_out(smtp_inbox, admin_client):
    response = admin_client.get("/backoffice/inbox/../../etc/passwd")

    assert response.status_code == 404
