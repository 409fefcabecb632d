"""Sending e-mail: every message is a `Message` row; a dedupe key makes "send once" a DB fact."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.utils import timezone

from boxoffice.messaging.models import Message

logger = logging.getLogger(__name__)


def message_create(
    *,
    kind: str,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    dedupe_key: str | None = None,
    customer=None,
    order=None,
    line=None,
) -> tuple[Message, bool]:
    """Record a message to send. Returns (message, created); with a dedupe key seen before, the
    existing row comes back and nothing new is queued."""
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                kind=kind,
                to_email=to_email,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                dedupe_key=dedupe_key,
                customer=customer,
                order=order,
                line=line,
            )
    except IntegrityError:
        return Message.objects.get(dedupe_key=dedupe_key), False
    return message, True


def message_deliver(*, message: Message, headers: dict[str, str] | None = None) -> bool:
    """Hand a message to the configured backend (SMTP by default). True if it was accepted."""
    if message.status == Message.Status.SENT:
        return True
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_email],
        headers=headers or {},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    message.attempts += 1
    try:
        email.send(fail_silently=False)
    except Exception as exc:  # SMTP errors come in many classes; all mean "not accepted"
        message.status = Message.Status.FAILED
        message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        message.save(update_fields=["status", "attempts", "last_error"])
        logger.warning(
            "message %s to %s not accepted: %s", message.pk, message.to_email, message.last_error
        )
        return False
    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.last_error = ""
    message.save(update_fields=["status", "attempts", "last_error", "sent_at"])
    return True


def operator_alert_recipients() -> list[str]:
    if settings.OPERATOR_ALERT_EMAILS:
        return list(settings.OPERATOR_ALERT_EMAILS)
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    return sorted({u.email for u in users})


def operator_alert_send(*, subject: str, body: str, dedupe_key: str) -> list[Message]:
    """One alert per recipient per dedupe key, however often it is called."""
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
            message_deliver(message=message)
        sent.append(message)
    if not sent:
        logger.error("operator alert with no recipient (set OPERATOR_ALERT_EMAILS): %s", subject)
    return sent
