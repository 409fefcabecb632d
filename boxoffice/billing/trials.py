"""Free trials: one per e-mail address, per device MAC and per client address within the
operator's window (TRIAL_WINDOW_DAYS). Claimed atomically in the checkout's transaction: a
unique row per identity (an insert) or the take-over of a claim older than the window (a
conditional UPDATE), never a check followed by an insert."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from boxoffice.billing.models import Order, TrialClaim


class TrialRefused(Exception):
    """This identity already had a trial within the window; the message is the customer's."""


def _refusal(kind: str) -> str:
    days = settings.TRIAL_WINDOW_DAYS
    when = f"in the last {days} day{'s' if days != 1 else ''}"
    refusals: dict[str, str] = {
        TrialClaim.Kind.EMAIL: f"This e-mail address has already had a free trial {when}.",
        TrialClaim.Kind.MAC: f"This box (its MAC address) has already had a free trial {when}.",
        TrialClaim.Kind.IP: f"A free trial has already been taken from your connection {when}.",
    }
    return refusals[kind] + " Choose one of our paid plans to keep watching."


# Mailboxes that ignore dots in the local part (one inbox, many spellings).
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def trial_email_identity(email: str) -> str:
    """The mailbox behind an address, for the one-trial-per-address rule: lower case, without a
    `+tag` (sub-addressing reaches the same inbox at every large provider), and for Gmail
    without dots. Only the trial claim uses it: the account keeps the address as typed."""
    local, at, domain = (email or "").strip().lower().rpartition("@")
    if not at or not local:
        return (email or "").strip().lower()
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def trial_claim(*, order: Order, email: str, mac_address: str, client_address: str) -> None:
    """Claim the trial for each identity given (empty ones are skipped), in the caller's
    transaction; raises TrialRefused (the caller's transaction then rolls back) for the first
    identity that already had one within the window."""
    now = timezone.now()
    cutoff = now - timedelta(days=settings.TRIAL_WINDOW_DAYS)
    identities = (
        (TrialClaim.Kind.EMAIL, trial_email_identity(email)),
        (TrialClaim.Kind.MAC, mac_address),
        (TrialClaim.Kind.IP, client_address),
    )
    for kind, value in identities:
        if not value:
            continue
        # An old claim is taken over only if it is still old when the row is written.
        if TrialClaim.objects.filter(kind=kind, value=value, claimed_at__lte=cutoff).update(
            claimed_at=now, order=order
        ):
            continue
        try:
            with transaction.atomic():
                TrialClaim.objects.create(kind=kind, value=value, order=order, claimed_at=now)
        except IntegrityError:
            raise TrialRefused(_refusal(kind)) from None
