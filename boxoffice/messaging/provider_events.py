"""Bounces and complaints from a mail provider (django-anymail's normalised `tracking` signal).

The provider's webhook is verified by anymail (HTTP basic auth with ANYMAIL_WEBHOOK_SECRET, plus
the provider's own signature where it has one) before the signal fires; each event is recorded
once (`ProviderEvent`, unique per provider and event id) and may mark the address
(`AddressStatus`): a hard bounce, a complaint, a provider refusal or an unsubscribe at the
provider stop every non-essential mail to it; soft bounces only after `SOFT_BOUNCE_LIMIT`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from boxoffice.messaging.models import AddressStatus, ProviderEvent

logger = logging.getLogger(__name__)

SOFT_BOUNCE_LIMIT = 3
R = AddressStatus.Reason
# anymail's normalised event types (anymail.signals.EventType values) we act on.
_SUPPRESSING = {"bounced": R.BOUNCED, "complained": R.COMPLAINED, "unsubscribed": R.UNSUBSCRIBED}
# `rejected` (the provider would not even try) suppresses for these reject reasons only; a
# rejection for a reason of ours (e.g. a bad attachment) says nothing about the address.
_REJECT_REASONS = {"invalid", "bounced", "blocked", "spam", "unsubscribed"}
_HANDLED = {*_SUPPRESSING, "rejected"}


def _is_soft_bounce(esp_name: str, esp_event: Any) -> bool:
    """anymail reports some providers' temporary bounces as `bounced` too; their payloads say
    which (Postmark `Type`, SES `bounceType`, SendGrid `type`)."""
    if not isinstance(esp_event, dict):
        return False
    name = esp_name.lower()
    if name == "postmark":
        return esp_event.get("Type") in {"SoftBounce", "Transient", "DnsError"}
    if name == "amazon ses":
        bounce = esp_event.get("bounce") if isinstance(esp_event.get("bounce"), dict) else {}
        return bounce.get("bounceType") == "Transient"
    if name == "sendgrid":
        return esp_event.get("type") == "blocked"
    return False


def _event_key(esp_name: str, event: Any, address: str) -> str:
    if event.event_id:
        return str(event.event_id)[:200]
    # Some providers send no event id: the same facts twice are the same event.
    facts = f"{event.event_type}|{address}|{event.timestamp}|{event.message_id}"
    return "sha256:" + hashlib.sha256(facts.encode()).hexdigest()


def provider_event_record(*, esp_name: str, event: Any) -> AddressStatus | None:
    """Record one normalised anymail event; returns the address's status if it changed."""
    if event.event_type not in _HANDLED:
        return None
    address = (event.recipient or "").strip().lower()
    if not address or "@" not in address or len(address) > 254:
        logger.info("%s %s event without a usable recipient: ignored", esp_name, event.event_type)
        return None
    detail = (event.description or event.mta_response or "")[:1000]
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                esp=esp_name[:30],
                event_id=_event_key(esp_name, event, address),
                event_type=event.event_type,
                address=address,
                occurred_at=event.timestamp,
                detail=detail,
            )
            return _address_mark(esp_name, event, address, detail)
    except IntegrityError:
        return None  # delivered before: recorded once


def _address_mark(esp_name: str, event: Any, address: str, detail: str) -> AddressStatus | None:
    now = timezone.now()
    status, _ = AddressStatus.objects.get_or_create(address=address)
    status = AddressStatus.objects.select_for_update().get(pk=status.pk)
    status.last_event_at = now
    reason = None
    if event.event_type == "rejected":
        if (event.reject_reason or "") in _REJECT_REASONS:
            reason = R.REJECTED
    elif event.event_type == "bounced" and _is_soft_bounce(esp_name, event.esp_event):
        status.soft_bounces += 1
        if status.soft_bounces >= SOFT_BOUNCE_LIMIT:
            reason = R.SOFT_BOUNCES
    else:
        reason = _SUPPRESSING[event.event_type]
    if reason is not None and status.suppressed_at is None:
        status.suppressed_at = now
        status.reason = reason
        status.detail = detail
        status.esp = esp_name[:30]
        logger.info("mail to %s stopped (non-essential): %s via %s", address, reason, esp_name)
    status.save()
    return status


def address_suppression(address: str) -> AddressStatus | None:
    """The status that stops non-essential mail to `address`, or None."""
    return AddressStatus.objects.filter(
        address=(address or "").strip().lower(), suppressed_at__isnull=False
    ).first()


def address_suppression_clear(*, address: str, actor: str) -> bool:
    """An operator lets non-essential mail go to the address again (its owner fixed it)."""
    return bool(
        AddressStatus.objects.filter(
            address=(address or "").strip().lower(), suppressed_at__isnull=False
        ).update(
            suppressed_at=None,
            soft_bounces=0,
            cleared_at=timezone.now(),
            cleared_by=actor[:150],
        )
    )


def tracking_received(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """anymail's `tracking` signal receiver (connected in MessagingConfig.ready)."""
    provider_event_record(esp_name=esp_name, event=event)
