"""Sending e-mail through an outbox: every message owed is a `Message` row before it is owed.

The row is written (rendered, CPU only) in the transaction that creates the obligation, so a
crash after commit cannot lose it. Delivery never runs inside a transaction:

- the fast path hands the row to SMTP right after commit (`message_send_after_commit`), so
  latency does not grow;
- the worker's scheduler (`messages_deliver_due`) sends whatever the fast path did not finish:
  rows still queued after a short grace, failed rows whose next attempt is due (exponential
  backoff with jitter, capped) and rows whose sender died mid-send (lease expired);
- past an attempt or age limit a row goes to the review queue, with one operator alert per
  delivery incident, and an operator can send it again from there;
- a mail that is no longer true when its turn comes (a "payment pending" for an order paid
  meanwhile, a delay notice for a line already active) is dropped, not sent.

A dedupe key makes "send this once" a database fact.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.lib.backoff import backoff_delay
from boxoffice.lib.exists import rows_exist
from boxoffice.lib.tasks import tasks_waiting_for
from boxoffice.messaging.models import OWED_STATUSES, DeliveryIncident, Message
from boxoffice.messaging.provider_events import address_suppression
from boxoffice.messaging.tasks import send_message

logger = logging.getLogger(__name__)
S = Message.Status


def message_create(
    *,
    kind: str,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    dedupe_key: str | None = None,
    headers: dict[str, str] | None = None,
    customer=None,
    order=None,
    line=None,
    attachments: list[dict[str, str]] | None = None,
    looked_up: bool = False,
    sender_claims: bool = False,
) -> tuple[Message, bool]:
    """Record a message to send (no I/O). Returns (message, created); with a dedupe key seen
    before, the existing row comes back and nothing new is queued. Call it inside the
    transaction that creates the obligation, then `message_send_after_commit`.

    `looked_up`: the caller has just looked for the dedupe key (the unique index still decides).
    `sender_claims`: the caller hands it to SMTP in this thread right after commit
    (`message_send_after_commit` without `in_worker`), so it is written claimed by that sender
    (sending, leased, its first attempt counted) instead of claimed by a second write. Should
    the sender die first, the lease runs out and the outbox sends it."""
    if dedupe_key and not looked_up:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing:
            return existing, False
    claimed = {}
    if sender_claims:
        now = timezone.now()
        claimed = {
            "status": S.SENDING,
            "attempts": 1,
            "lease_expires_at": now + timedelta(seconds=_policy()["LEASE_SECONDS"]),
        }
    try:
        with transaction.atomic():
            message = Message.objects.create(
                kind=kind,
                to_email=to_email,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                dedupe_key=dedupe_key,
                headers=headers or {},
                customer=customer,
                order=order,
                line=line,
                attachments=attachments or [],
                **claimed,
            )
    except IntegrityError:
        return Message.objects.get(dedupe_key=dedupe_key), False
    return message, True


def message_send_after_commit(*, message: Message, in_worker: bool = False) -> None:
    """The fast path: hand the message to SMTP once the current transaction commits (at once
    outside a transaction), in this thread, or with `in_worker` in a task (for web requests, so
    a slow relay never holds a page). If this never runs (a crash), the scheduler sends the row.
    A message written claimed by this sender (`message_create(sender_claims=True)`) is sent
    from the object in memory, without a claim; the caller's object shows how it went."""
    pk = message.pk
    if in_worker:
        transaction.on_commit(lambda: send_message.enqueue(pk))
        return
    preclaimed = message.status == S.SENDING and message.attempts == 1

    def send() -> None:
        try:
            if preclaimed and not _lease_still_ours(message):
                return  # the outbox gave it to another sender meanwhile
            if preclaimed and (
                message.kind in _STALE_CHECKS or not message_is_transactional(message)
            ):
                # Its checks must see the rows as they are now, not as the objects in memory
                # were when it was written (a customer may have unsubscribed meanwhile).
                fresh = Message.objects.select_related("order", "line").get(pk=pk)
                if fresh.status != S.SENDING or fresh.attempts != 1:
                    return
                _message_deliver(fresh)
                for name in ("status", "attempts", "last_error", "sent_at"):
                    setattr(message, name, getattr(fresh, name))
            elif preclaimed:
                _message_deliver(message)
            else:
                message_send(message_id=pk)
                # The caller's object shows how delivery went (tasks return its status).
                message.refresh_from_db(fields=["status", "attempts", "last_error", "sent_at"])
        except Exception:  # the row is the truth: the scheduler finishes it
            logger.exception("fast-path delivery of message %s failed", pk)

    transaction.on_commit(send)


def _lease_still_ours(message: Message) -> bool:
    """A message written claimed by its sender: its lease counts from when it was written. With
    little of it left (slow after-commit steps before this one), it is renewed conditionally,
    so a row the outbox has meanwhile given to another sender is not sent twice."""
    lease = timedelta(seconds=_policy()["LEASE_SECONDS"])
    if message.lease_expires_at is None or message.lease_expires_at - timezone.now() >= lease / 2:
        return True
    renewed = timezone.now() + lease
    kept = Message.objects.filter(
        pk=message.pk, status=S.SENDING, attempts=1, lease_expires_at=message.lease_expires_at
    ).update(lease_expires_at=renewed)
    message.lease_expires_at = renewed
    return bool(kept)


# --- Claiming and sending ----------------------------------------------------------------------


def _policy() -> dict:
    return settings.MESSAGING


def message_claim(*, message_id: int) -> Message | None:
    """Take the message if it is due (or its previous sender's lease ran out). One winner: a
    conditional UPDATE, so two workers never send the same row at once."""
    now = timezone.now()
    lease = now + timedelta(seconds=_policy()["LEASE_SECONDS"])
    claimed = (
        Message.objects.filter(pk=message_id)
        .filter(
            Q(status__in=[S.QUEUED, S.FAILED], next_attempt_at__lte=now)
            | Q(status=S.SENDING, lease_expires_at__lt=now)
        )
        .update(status=S.SENDING, lease_expires_at=lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    return Message.objects.select_related("order", "line").get(pk=message_id)


# Mails that say something about the moment they are sent are checked again right before SMTP:
# the app that owns a kind of mail registers, for that kind, a check that returns why the mail is
# no longer true ("the order is paid now") or "" to send it. Registered when the owning app's
# `emails` module is imported (every app's, at start-up: `MessagingConfig.ready`).
StaleCheck = Callable[[Message], str]
_STALE_CHECKS: dict[str, StaleCheck] = {}


def stale_check_register(kind: str) -> Callable[[StaleCheck], StaleCheck]:
    """Decorator: `fn(message) -> reason` decides whether a queued mail of `kind` still goes."""

    def register(fn: StaleCheck) -> StaleCheck:
        _STALE_CHECKS[kind] = fn
        return fn

    return register


# Attachment providers: `fn(ref) -> (filename, content, mimetype)`, registered by the app that
# owns the file (billing renders invoice PDFs), so messaging imports no app above it.
Attachment = tuple[str, bytes, str]
AttachmentProvider = Callable[[str], Attachment]
_ATTACHMENT_PROVIDERS: dict[str, AttachmentProvider] = {}


def attachment_provider_register(
    name: str,
) -> Callable[[AttachmentProvider], AttachmentProvider]:
    def register(fn: AttachmentProvider) -> AttachmentProvider:
        _ATTACHMENT_PROVIDERS[name] = fn
        return fn

    return register


def _attachments(message: Message) -> list[Attachment]:
    """The message's files, from their providers; a missing provider or a provider that raises
    fails this attempt (retried, then review), never a mail sent without its file."""
    files = []
    for item in message.attachments or []:
        provider = _ATTACHMENT_PROVIDERS.get(str(item.get("provider", "")))
        if provider is None:
            raise LookupError(f"no attachment provider {item.get('provider')!r}")
        files.append(provider(str(item.get("ref", ""))))
    return files


def _is_permanent(exc: Exception) -> bool:
    """A 5xx refusal will be refused again; anything else (4xx, a dead relay) may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


# Failures that are the relay's own answer about one message (the session itself still works).
_RELAY_REPLIES = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)


def retry_delay(attempts: int) -> float:
    """Seconds before the next delivery attempt (MESSAGING's backoff policy)."""
    return backoff_delay(attempts, _policy())


def message_is_transactional(message: Message) -> bool:
    """Credentials, receipts, password and security notices always go out; a mail that offers
    an unsubscribe (its `List-Unsubscribe` header, see `email_send`) is non-essential."""
    return "List-Unsubscribe" not in (message.headers or {})


def message_send(*, message_id: int, connection=None) -> str:
    """One delivery attempt of a due message. Returns what happened, for logs and tests:
    sent, retry (refused by the relay), relay_unreachable (no answer; retried like a refusal),
    needs_review, dropped or not_due."""
    message = message_claim(message_id=message_id)
    if message is None:
        return "not_due"
    return _message_deliver(message, connection=connection)


def _message_deliver(message: Message, *, connection=None) -> str:
    """One delivery attempt of a message this sender holds the claim of. Without a
    `connection`, this thread's kept session to the relay (`_relay_session`). The object's
    status, attempts, last_error and sent_at follow the row."""
    check = _STALE_CHECKS.get(message.kind)
    try:
        reason = check(message) if check else ""
    except Exception as exc:  # the owning app's check is buggy: retried, then review + alert
        logger.exception("the stale check of message %s (%s) raised", message.pk, message.kind)
        return _message_failed(message, exc)
    if not reason and message.to_email.lower().rstrip(".").endswith(".invalid"):
        # RFC 6761: .invalid never resolves; imported lines' placeholder customers use it, and
        # nothing addressed there may reach a relay.
        reason = "the address is a placeholder (.invalid)"
    if not reason and not message_is_transactional(message):
        suppressed = address_suppression(message.to_email)
        if suppressed is not None:
            reason = (
                f"{suppressed.get_reason_display().lower()} reported by {suppressed.esp} "
                f"({suppressed.suppressed_at:%Y-%m-%d}); only transactional mail goes to it"
            )
    if reason:
        message.status, message.last_error = S.DROPPED, f"not sent: {reason}"[:1000]
        Message.objects.filter(pk=message.pk, status=S.SENDING).update(
            status=S.DROPPED, lease_expires_at=None, last_error=message.last_error
        )
        logger.info("message %s (%s) dropped: %s", message.pk, message.kind, reason)
        return "dropped"
    try:
        files = _attachments(message)
    except Exception as exc:
        logger.exception("the attachments of message %s (%s) failed", message.pk, message.kind)
        return _message_failed(message, exc)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_email],
        headers=message.headers or {},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    for filename, content, mimetype in files:
        email.attach(filename, content, mimetype)
    kept = connection is None
    try:
        if kept:
            _relay_send(email)
        else:
            connection.open()
            connection.send_messages([email])
    except Exception as exc:  # SMTP errors come in many classes; all mean "not accepted"
        result = _message_failed(message, exc)
        if result == "retry" and not isinstance(exc, _RELAY_REPLIES):
            return "relay_unreachable"  # no answer at all: the next ones would wait too
        return result
    # The at-most-one-duplicate window: a sender killed after the relay accepted the mail
    # and before this UPDATE commits leaves the row `sending`; once its lease runs out it is
    # sent again. The UPDATE comes straight after the relay's "250", so the window is one
    # UPDATE long.
    message.status, message.sent_at, message.last_error = S.SENT, timezone.now(), ""
    Message.objects.filter(pk=message.pk, status=S.SENDING).update(
        status=S.SENT, sent_at=message.sent_at, lease_expires_at=None, last_error=""
    )
    return "sent"


# Each thread keeps its session to the relay between mails: a new one per mail costs a
# connect, the greeting, EHLO (and STARTTLS with its handshake, and AUTH) before the mail itself.
_relay = threading.local()


def _relay_send(email: EmailMultiAlternatives) -> None:
    """Send over this thread's kept session, opened when there is none or it has been idle
    longer than MESSAGING CONNECTION_IDLE_SECONDS (relays drop idle sessions); one idle for a
    few seconds is asked first (NOOP) and reopened if the relay dropped it. A failure closes the
    session (the next mail starts a fresh one; this one is retried by the outbox, never resent
    here: a drop during DATA may come after the relay kept the mail); the relay's own refusal
    of this mail leaves it open (smtplib reset it)."""
    now = time.monotonic()
    held = getattr(_relay, "held", None)
    relay = _relay_settings()
    if held is not None and (
        now - held[1] > _policy()["CONNECTION_IDLE_SECONDS"]
        or held[2] != relay
        or (now - held[1] > _RELAY_CHECK_AFTER_SECONDS and not _relay_answers(held[0]))
    ):
        _close_quietly(held[0])
        held = None
    connection = held[0] if held is not None else get_connection(fail_silently=False)
    _relay.held = None
    try:
        connection.open()
        connection.send_messages([email])
    except _RELAY_REPLIES:
        _relay.held = (connection, time.monotonic(), relay)
        raise
    except BaseException:
        _close_quietly(connection)
        raise
    _relay.held = (connection, time.monotonic(), relay)


# A session idle longer than this is asked (NOOP) before a mail goes over it.
_RELAY_CHECK_AFTER_SECONDS = 5.0


def _relay_answers(connection) -> bool:
    session = getattr(connection, "connection", None)
    if session is None:
        return True  # not an SMTP backend (the console, an ESP's API): nothing to ask
    try:
        return session.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def _relay_settings() -> tuple:
    # A kept session serves only the relay it was opened for (settings change in tests).
    return tuple(
        getattr(settings, name, None)
        for name in (
            "EMAIL_BACKEND",
            "EMAIL_HOST",
            "EMAIL_PORT",
            "EMAIL_HOST_USER",
            "EMAIL_USE_TLS",
            "EMAIL_USE_SSL",
        )
    )


def relay_session_close() -> None:
    """Close this thread's kept session to the relay (a worker thread that stops; tests)."""
    held = getattr(_relay, "held", None)
    _relay.held = None
    if held is not None:
        _close_quietly(held[0])


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # a session that broke while closing: the rows already say how it went
        logger.info("SMTP session did not close cleanly", exc_info=True)


def _message_failed(message: Message, exc: Exception) -> str:
    now = timezone.now()
    policy = _policy()
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        error = f"{type(exc).__name__}: {exc.smtp_code} {reply}"[:1000]
    else:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    logger.warning(
        "message %s to %s not accepted (attempt %s): %s",
        message.pk,
        message.to_email,
        message.attempts,
        error,
    )
    too_many = message.attempts >= policy["MAX_ATTEMPTS"]
    too_old = now - message.queued_at > timedelta(seconds=policy["MAX_AGE_SECONDS"])
    message.last_error = error
    if _is_permanent(exc) or too_many or too_old:
        message.status = S.NEEDS_REVIEW
        # The stop and the incident's alert commit together: nothing waits in review unannounced.
        with transaction.atomic():
            Message.objects.filter(pk=message.pk, status=S.SENDING).update(
                status=S.NEEDS_REVIEW, lease_expires_at=None, last_error=error
            )
            if message.kind != "operator_alert":  # an alert about alerts would only loop
                delivery_incident_record(error=error)
        return "needs_review"
    message.status = S.FAILED
    Message.objects.filter(pk=message.pk, status=S.SENDING).update(
        status=S.FAILED,
        lease_expires_at=None,
        last_error=error,
        next_attempt_at=now + timedelta(seconds=retry_delay(message.attempts)),
    )
    return "retry"


# --- The scheduler's work ------------------------------------------------------------------------


def messages_due() -> list[int]:
    """Rows the fast path did not finish: queued past the grace, failed and due, or claimed by
    a sender whose lease ran out. Oldest first, at most one batch."""
    now = timezone.now()
    grace = now - timedelta(seconds=_policy()["FAST_PATH_GRACE_SECONDS"])
    return list(
        # The statuses first, as the partial index `message_owed` names them: only the rows
        # still owed are read, however many were sent.
        Message.objects.filter(status__literal_in=OWED_STATUSES)
        .filter(
            Q(status=S.QUEUED, next_attempt_at__lte=grace)
            | Q(status=S.FAILED, next_attempt_at__lte=now)
            | Q(status=S.SENDING, lease_expires_at__lt=now)
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[: _policy()["BATCH_SIZE"]]
    )


def _messages_owed():
    return Message.objects.filter(status__literal_in=OWED_STATUSES)


def _delivery_incidents_open():
    return DeliveryIncident.objects.filter(resolved_at__isnull=True)


def messages_deliver_due() -> dict[str, int]:
    """Send what is due over one SMTP connection; called by the worker's scheduler."""
    counts: dict[str, int] = {}
    if not rows_exist(_messages_owed) and not rows_exist(_delivery_incidents_open):
        return counts  # the idle case: two precompiled EXISTS (lib/exists.py)
    pks = messages_due()
    # A message whose send task is still queued (a web request's fast path behind a burst) is
    # not lost: that task sends it, and sending it here would leave the task nothing to do.
    queued = tasks_waiting_for(send_message, pks)
    pks = [pk for pk in pks if pk not in queued]
    if pks:
        connection = get_connection(fail_silently=False)
        try:
            for pk in pks:
                result = message_send(message_id=pk, connection=connection)
                counts[result] = counts.get(result, 0) + 1
                if result == "relay_unreachable":
                    # A relay that does not answer costs EMAIL_TIMEOUT per try: stop this pass
                    # (the rest keep their turn) so the scheduler's other work is not starved.
                    break
                if result in ("retry", "needs_review"):
                    # A refused message can leave the session in any state: start a fresh one.
                    _close_quietly(connection)
        finally:
            _close_quietly(connection)
    delivery_incident_resolve()
    return counts


def delivery_incident_record(*, error: str) -> DeliveryIncident:
    """Count a message that went to review in the open incident (opening one if none) and alert
    the operator once for the incident, not once per message."""
    try:
        with transaction.atomic():
            incident, _ = DeliveryIncident.objects.get_or_create(
                scope="smtp", resolved_at__isnull=True
            )
    except IntegrityError:  # a concurrent sender opened it first
        incident = DeliveryIncident.objects.get(scope="smtp", resolved_at__isnull=True)
    DeliveryIncident.objects.filter(pk=incident.pk).update(
        affected_messages=F("affected_messages") + 1, last_error=error
    )
    with transaction.atomic():  # the claim and the alert's rows commit together
        claimed = DeliveryIncident.objects.filter(pk=incident.pk, alerted_at__isnull=True).update(
            alerted_at=timezone.now()
        )
        if not claimed:
            return incident
        operator_alert_send(
            subject=f"[{settings.SITE_NAME}] E-mail is not being delivered",
            body=(
                "Customer e-mail could not be delivered and has stopped retrying; it waits in "
                f"the review queue: {settings.SITE_URL}/backoffice/review/\n\n"
                f"Last error: {error}\n\n"
                "Check the SMTP relay (EMAIL_HOST and its credentials), then retry the messages "
                "from the review queue. You get this alert once until mail flows again."
            ),
            dedupe_key=f"delivery_incident:{incident.pk}",
        )
    return incident


def delivery_incident_resolve() -> int:
    """Mail flows again (something was sent since the incident opened, by the fast path or the
    scheduler): the open incident ends, and the next failure alerts afresh."""
    incident = DeliveryIncident.objects.filter(resolved_at__isnull=True).first()
    if incident is None:
        return 0
    if not Message.objects.filter(status=S.SENT, sent_at__gt=incident.opened_at).exists():
        return 0
    return DeliveryIncident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


def message_retry_now(*, message: Message, actor: str = "operator") -> bool:
    """An operator sends a stopped (needs_review) or failed message again, at once."""
    now = timezone.now()
    updated = Message.objects.filter(pk=message.pk, status__in=[S.NEEDS_REVIEW, S.FAILED]).update(
        status=S.QUEUED, next_attempt_at=now, queued_at=now, attempts=0
    )
    if updated:
        audit_record(subject=message, action="message.retried", actor=actor)
        message_send_after_commit(message=message, in_worker=True)
    return bool(updated)


# --- Operator alerts -----------------------------------------------------------------------------


def operator_alert_recipients() -> list[str]:
    if settings.OPERATOR_ALERT_EMAILS:
        return list(settings.OPERATOR_ALERT_EMAILS)
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    return sorted({u.email for u in users})


def operator_alert_send(
    *, subject: str, body: str, dedupe_key: str, in_worker: bool = False
) -> list[Message]:
    """One alert per recipient per dedupe key, however often it is called: recorded as rows
    (in the caller's transaction, if any) and handed to SMTP after commit."""
    sent = []
    for address in operator_alert_recipients():
        message, created = message_create(
            kind="operator_alert",
            to_email=address,
            subject=subject,
            body_text=body,
            dedupe_key=f"{dedupe_key}:{address}"[:120],
        )
        if created:
            message_send_after_commit(message=message, in_worker=in_worker)
        sent.append(message)
    if not sent:
        logger.error("operator alert with no recipient (set OPERATOR_ALERT_EMAILS): %s", subject)
    return sent
