"""The fast path's claims written with the row: a mail (or a panel operation) written claimed by
the thread that sends (runs) it right after commit is never sent (run) a second time by that
thread once the outbox (the scheduler) has given it to another, and the thread's kept SMTP
session survives a relay that dropped it."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from boxoffice.billing.tests.test_paid_ends_in_line_or_review import _completed_event
from boxoffice.billing.webhooks import webhook_event_process, webhook_event_store
from boxoffice.messaging import services
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import message_create, message_send_after_commit
from boxoffice.provisioning.engine import operation_run
from boxoffice.provisioning.models import PanelOperation
from boxoffice.provisioning.services import operations_run_inline

S = Message.Status


def _claimed_mail(to: str) -> Message:
    message, created = message_create(
        kind="notice", to_email=to, subject="Hello", body_text="Hello.", sender_claims=True
    )
    assert created and message.status == S.SENDING and message.attempts == 1
    return message


@pytest.mark.django_db(transaction=True)
def test_a_mail_the_outbox_took_over_is_not_sent_again_by_its_writer(smtp_inbox):
    with transaction.atomic():
        message = _claimed_mail("late@example.test")
        message_send_after_commit(message=message)
        # Slow after-commit steps ate most of the lease; the outbox claimed the row meanwhile.
        message.lease_expires_at = timezone.now() + timedelta(seconds=1)
        Message.objects.filter(pk=message.pk).update(
            attempts=2, lease_expires_at=timezone.now() + timedelta(minutes=1)
        )

    row = Message.objects.get(pk=message.pk)
    assert row.status == S.SENDING and row.attempts == 2  # left to the sender that holds it
    assert smtp_inbox.messages() == []


@pytest.mark.django_db(transaction=True)
def test_a_mail_whose_lease_runs_short_is_renewed_and_sent_once(smtp_inbox):
    with transaction.atomic():
        message = _claimed_mail("short@example.test")
        message_send_after_commit(message=message)
        short = timezone.now() + timedelta(seconds=1)
        message.lease_expires_at = short
        Message.objects.filter(pk=message.pk).update(lease_expires_at=short)

    assert Message.objects.get(pk=message.pk).status == S.SENT
    assert len(smtp_inbox.wait_for(1)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_kept_smtp_session_the_relay_dropped_is_reopened_before_the_next_mail(
    smtp_inbox, monkeypatch
):
    monkeypatch.setattr(services, "_RELAY_CHECK_AFTER_SECONDS", 0.0)  # ask before every mail
    first = _claimed_mail("one@example.test")
    message_send_after_commit(message=first)
    kept = services._relay.held[0]
    kept.connection.sock.shutdown(socket.SHUT_RDWR)  # the relay dropped the idle session
    second = _claimed_mail("two@example.test")
    message_send_after_commit(message=second)

    assert {m.status for m in Message.objects.all()} == {S.SENT}
    assert services._relay.held[0] is not kept
    assert sorted(m["To"] for m in smtp_inbox.wait_for(2)) == [
        "one@example.test",
        "two@example.test",
    ]


@pytest.mark.django_db(transaction=True)
def test_an_operation_the_scheduler_took_over_is_not_run_again_by_its_writer(
    make_order, panel, xui_emulator, smtp_inbox
):
    order = make_order(gateway="stripe")
    stored, _ = webhook_event_store(gateway="stripe", event=_completed_event(order, event_id="x"))
    with operations_run_inline() as queued:
        webhook_event_process(event_pk=stored.pk)
    (op,) = queued
    assert op.status == PanelOperation.Status.RUNNING and op.attempts == 1
    # Its lease all but gone, and the scheduler's re-drive gave it to another runner.
    op.lease_expires_at = timezone.now() + timedelta(seconds=1)
    PanelOperation.objects.filter(pk=op.pk).update(
        attempts=2, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    assert operation_run(operation=op) == "not_due"
    assert xui_emulator.lines() == []
    assert PanelOperation.objects.get(pk=op.pk).attempts == 2
