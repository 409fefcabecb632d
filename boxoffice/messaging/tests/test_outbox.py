"""The outbox: every owed mail is a row before it is owed, sent after commit, retried with backoff
until it is delivered, dropped when no longer true, or stopped for an operator with one alert.
Delivery goes to a real SMTP server on loopback that can refuse with 451 like a busy relay."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.emails import payment_pending_email_send
from boxoffice.billing.models import Order
from boxoffice.billing.services import order_mark_paid
from boxoffice.messaging.models import DeliveryIncident, Message
from boxoffice.messaging.services import (
    message_claim,
    message_create,
    messages_deliver_due,
    retry_delay,
)
from boxoffice.panels.models import Panel
from boxoffice.provisioning.emails import provisioning_delayed_email_send
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db(transaction=True)
S = Message.Status


@pytest.fixture(autouse=True)
def _mail_policy(settings):
    settings.MESSAGING = {
        **settings.MESSAGING,
        "RETRY_BASE_SECONDS": 5.0,
        "RETRY_CAP_SECONDS": 60.0,
        "RETRY_JITTER": 0.0,
        "MAX_ATTEMPTS": 4,
        "MAX_AGE_SECONDS": 3600,
    }


def _paid_line(make_order, run_tasks, **kwargs) -> Line:
    order = make_order(**kwargs)
    order_mark_paid(order=order)
    run_tasks()
    return Line.objects.get(order=order)


def _deliver_later(seconds: float) -> dict[str, int]:
    with time_machine.travel(timezone.now() + timedelta(seconds=seconds)):
        return messages_deliver_due()


def _subjects(inbox) -> list[str]:
    return [str(m["Subject"]) for m in inbox.messages()]


def test_it_sends_the_credentials_once_the_relay_takes_mail_again(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    smtp_inbox.refuse()
    line = _paid_line(make_order, run_tasks, preferred_username="patient")

    assert line.status == Line.Status.ACTIVE
    message = Message.objects.get(kind="credentials", line=line)
    assert message.status == S.FAILED and message.attempts == 1
    assert "451" in message.last_error
    assert smtp_inbox.refused == 1

    smtp_inbox.accept()
    assert _deliver_later(10) == {"sent": 1}
    assert _deliver_later(3600) == {}  # sent is final: nothing goes out twice
    message.refresh_from_db()
    assert message.status == S.SENT
    [mail] = smtp_inbox.messages()
    assert (
        "login is ready" in mail["Subject"] and "patient" in mail.get_body(("plain",)).get_content()
    )


def test_it_backs_off_exponentially_up_to_the_cap(settings):
    settings.MESSAGING = {**settings.MESSAGING, "RETRY_JITTER": 0.0}

    assert [retry_delay(n) for n in range(1, 8)] == [5, 10, 20, 40, 60, 60, 60]


def test_it_waits_longer_after_each_refusal(
    make_order, run_tasks, xui_emulator, smtp_inbox, settings
):
    settings.MESSAGING = {**settings.MESSAGING, "MAX_ATTEMPTS": 10}
    smtp_inbox.refuse()
    start = timezone.now()
    gaps = []
    with time_machine.travel(start, tick=False) as clock:
        line = _paid_line(make_order, run_tasks)
        message = Message.objects.get(kind="credentials", line=line)
        for _ in range(3):
            message.refresh_from_db()
            due = message.next_attempt_at
            gaps.append((due - timezone.now()).total_seconds())
            clock.move_to(due - timedelta(seconds=1))
            assert messages_deliver_due() == {}  # not due yet
            clock.move_to(due)
            assert messages_deliver_due() == {"retry": 1}

    assert gaps == [5, 10, 20]
    message.refresh_from_db()
    assert message.attempts == 4 - 0 and message.status == S.FAILED
    assert smtp_inbox.refused == 4


def test_it_stops_for_review_past_the_limit_and_alerts_once(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    smtp_inbox.refuse()
    lines = [_paid_line(make_order, run_tasks, preferred_username=f"viewer{n}") for n in range(3)]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for minutes in range(1, 6):
            clock.move_to(start + timedelta(minutes=minutes))
            messages_deliver_due()

    credentials = Message.objects.filter(kind="credentials", line__in=lines)
    assert {m.status for m in credentials} == {S.NEEDS_REVIEW}
    assert {m.attempts for m in credentials} == {4}
    incident = DeliveryIncident.objects.get()
    assert incident.affected_messages == 3 and incident.alerted_at is not None
    [alert] = Message.objects.filter(kind="operator_alert")
    assert alert.to_email == "ops@operator.test"
    assert "review" in alert.body_text

    # The relay is back: the one alert goes out; the stopped mails wait for the operator.
    smtp_inbox.accept()
    with time_machine.travel(start + timedelta(minutes=10)):
        messages_deliver_due()
    assert _subjects(smtp_inbox) == [alert.subject]
    incident.refresh_from_db()
    assert incident.resolved_at is not None


def test_it_stops_at_once_on_a_permanent_refusal(make_order, run_tasks, xui_emulator, smtp_inbox):
    smtp_inbox.refuse(reply="550 5.1.1 No such user")
    line = _paid_line(make_order, run_tasks)

    message = Message.objects.get(kind="credentials", line=line)
    assert message.status == S.NEEDS_REVIEW and message.attempts == 1
    assert Message.objects.filter(kind="operator_alert").count() == 1


def test_it_lets_the_operator_send_a_stopped_mail_again(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    smtp_inbox.refuse(reply="554 5.7.1 Relay access denied")
    line = _paid_line(make_order, run_tasks, preferred_username="rescued")
    message = Message.objects.get(kind="credentials", line=line)
    operator = get_user_model().objects.create_user(
        "operator", "op@operator.test", "pw", is_staff=True
    )
    client = Client()
    client.force_login(operator)

    page = client.get("/backoffice/review/").content.decode()
    # The credentials and the operator alert about them, both refused by the relay.
    assert "E-mails not delivered (2)" in page and "554 5.7.1 Relay access denied" in page

    smtp_inbox.accept()
    response = client.post(reverse("backoffice:review_message", args=[message.pk]), follow=True)
    run_tasks()  # the page does not wait for the relay: a worker sends it

    assert "sent again" in response.content.decode()
    message.refresh_from_db()
    assert message.status == S.SENT
    credentials = [m for m in smtp_inbox.messages() if "login is ready" in m["Subject"]]
    assert len(credentials) == 1
    again = client.post(reverse("backoffice:review_message", args=[message.pk]), follow=True)
    assert "not waiting for a retry" in again.content.decode()


def test_it_lets_one_sender_claim_a_message(make_order, smtp_inbox):
    order = make_order()
    message, _ = message_create(
        kind="test", to_email="a@example.test", subject="s", body_text="b", order=order
    )

    assert message_claim(message_id=message.pk) is not None
    assert message_claim(message_id=message.pk) is None
    # A sender killed mid-send: its lease runs out and the row is due again.
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert messages_deliver_due() == {"sent": 1}
    assert len(smtp_inbox.messages()) == 1


def test_it_drops_the_pending_mail_when_the_order_was_paid_meanwhile(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    order = make_order(gateway="stripe")
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAYMENT_PENDING)
    order.refresh_from_db()
    smtp_inbox.refuse(seconds=0.5)
    pending = payment_pending_email_send(order=order)
    assert pending.status == S.FAILED

    order_mark_paid(order=order)
    run_tasks()
    smtp_inbox.accept()
    _deliver_later(60)

    pending.refresh_from_db()
    assert pending.status == S.DROPPED and "paid" in pending.last_error
    subjects = _subjects(smtp_inbox)
    assert not [s for s in subjects if "processing your payment" in s]
    assert len([s for s in subjects if "login is ready" in s]) == 1


def test_it_drops_the_delay_notice_once_the_line_is_active(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    from boxoffice.provisioning.engine import operation_execute

    xui_emulator.set_faults(mode="down")
    order = make_order()
    order_mark_paid(order=order)
    run_tasks()
    assert Line.objects.get(order=order).status == Line.Status.RESERVED
    smtp_inbox.refuse()
    delay = provisioning_delayed_email_send(order=order)
    assert delay.status == S.FAILED

    xui_emulator.set_faults(mode="ok")
    Panel.objects.update(health=Panel.Health.UP)
    op = PanelOperation.objects.get(order=order)
    PanelOperation.objects.filter(pk=op.pk).update(next_attempt_at=timezone.now())
    assert operation_execute(operation_id=op.pk) == "succeeded"
    smtp_inbox.accept()
    _deliver_later(60)

    delay.refresh_from_db()
    assert delay.status == S.DROPPED
    subjects = _subjects(smtp_inbox)
    assert [s for s in subjects if "on its way" in s] == []
    assert len([s for s in subjects if "login is ready" in s]) == 1


def test_it_tells_the_customer_the_new_server_when_a_line_moves(
    make_order, run_tasks, xui_emulator, xui_emulator_factory, plan, smtp_inbox
):
    from boxoffice.catalog.models import PlanPanel
    from boxoffice.provisioning.services import line_move

    line = _paid_line(
        make_order, run_tasks, preferred_username="mover", preferred_password="Mv12345x"
    )
    with xui_emulator_factory(api_key="second-key") as second:
        target = Panel.objects.create(
            name="Second",
            kind="xui_one",
            api_url=second.base_url,
            settings={"access_code": "adminapi1"},
            secrets={"api_key": "second-key"},
            public_url="http://new-server.example.test:8880",
            timeout_seconds=1.0,
        )
        PlanPanel.objects.create(
            plan=plan, panel=target, mapping={"bouquets": [1, 2], "outputs": ["m3u8", "ts"]}
        )
        line_move(line=line, panel=target)
        run_tasks()
        run_tasks()  # a re-drive of the same operation sends nothing more

    moved = [m for m in smtp_inbox.messages() if "New server details" in m["Subject"]]
    assert len(moved) == 1
    text = moved[0].get_body(("plain",)).get_content()
    html = moved[0].get_body(("html",)).get_content()
    for part in (text, html):
        assert "http://new-server.example.test:8880" in part
        assert "mover" in part and "Mv12345x" in part
    assert Message.objects.get(kind="line_moved").line_id == line.pk


def test_it_tells_the_customer_why_a_line_was_suspended(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    from boxoffice.provisioning.services import line_suspend

    line = _paid_line(make_order, run_tasks, preferred_username="paused")
    line_suspend(line=line, reason="payment disputed")
    run_tasks()

    assert Line.objects.get(pk=line.pk).status == Line.Status.SUSPENDED
    assert PanelOperation.objects.get(line=line, kind="suspend").status == "succeeded"
    [mail] = [m for m in smtp_inbox.messages() if "suspended" in m["Subject"]]
    text = mail.get_body(("plain",)).get_content()
    assert "paused" in text
    assert "disputed with your bank" in text
    assert "withdraw it with your bank" in text
    assert mail["To"] == "jane.doe@example.test"


@pytest.mark.parametrize(
    ("path", "subject"),
    [("/portal/magic/request/", "sign-in link"), ("/portal/password/reset/", "Choose a password")],
)
def test_it_retries_a_refused_sign_in_link_or_password_reset(
    client, customer, smtp_inbox, run_tasks, path, subject
):
    smtp_inbox.refuse()
    client.post(path, {"email": customer.email})
    run_tasks()  # the task renders and records the mail, and the relay refuses it

    [message] = Message.objects.filter(customer=customer)
    assert message.status == S.FAILED and smtp_inbox.messages() == []

    smtp_inbox.accept()
    assert _deliver_later(10) == {"sent": 1}
    [mail] = smtp_inbox.messages()
    assert subject in mail["Subject"] and mail["To"] == customer.email


def test_it_alerts_again_for_a_new_outage_once_mail_flowed_in_between(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    smtp_inbox.refuse(reply="550 5.7.1 Sender blocked")
    _paid_line(make_order, run_tasks, preferred_username="first")
    _paid_line(make_order, run_tasks, preferred_username="second")
    assert Message.objects.filter(kind="operator_alert").count() == 1  # one per incident

    smtp_inbox.accept()
    _paid_line(make_order, run_tasks, preferred_username="third")  # sent by the fast path
    messages_deliver_due()
    assert DeliveryIncident.objects.get().resolved_at is not None

    smtp_inbox.refuse(reply="550 5.7.1 Sender blocked")
    _paid_line(make_order, run_tasks, preferred_username="fourth")
    assert DeliveryIncident.objects.count() == 2
    assert Message.objects.filter(kind="operator_alert").count() == 2


def test_it_stops_a_pass_when_the_relay_does_not_answer(
    make_order, run_tasks, xui_emulator, smtp_inbox, settings
):
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 9  # nothing listens: connection refused
    lines = [_paid_line(make_order, run_tasks, preferred_username=f"wait{n}") for n in range(3)]
    assert Message.objects.filter(kind="credentials", status=S.FAILED).count() == 3

    assert _deliver_later(60) == {"relay_unreachable": 1}  # the other two keep their turn
    assert sorted(Message.objects.filter(line__in=lines).values_list("attempts", flat=True)) == [
        1,
        1,
        2,
    ]

    settings.EMAIL_PORT = port
    assert _deliver_later(600) == {"sent": 3}
    assert len(smtp_inbox.messages()) == 3
