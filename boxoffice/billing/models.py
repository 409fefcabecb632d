from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from boxoffice.billing.gateways.registry import kind_choices
from boxoffice.lib.crypto import EncryptedTextField

_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: references are read over the phone


def new_order_reference() -> str:
    return "BX-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(8))


def new_public_token() -> str:
    """The plaintext status token of the first schema; migration 0001 still names it."""
    return secrets.token_urlsafe(24)


def order_status_token(reference: str, *, secret: str | None = None) -> str:
    """The key in an order-status page's address. Derived from the order reference with the
    server's SECRET_KEY, so mails sent later can link to the page, while the database keeps only
    its SHA-256 (`Order.status_token_hash`): a copy of the database opens no status page."""
    digest = salted_hmac(
        "boxoffice.order-status", reference, secret=secret, algorithm="sha256"
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def status_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Order(models.Model):
    class Kind(models.TextChoices):
        NEW = "new", "New subscription"
        RENEWAL = "renewal", "Renewal"
        UPGRADE = "upgrade", "Upgrade"
        ADDON = "addon", "Add-on"
        CONVERSION = "conversion", "Trial converted to paid"
        # The rest of an underpaid order (`balance_of`), asked for from the review queue.
        BALANCE = "balance", "Balance of an underpaid order"

    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        PAYMENT_PENDING = "payment_pending", "Payment being processed"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        EXPIRED = "expired", "Expired unpaid"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"
        CANCELLED = "cancelled", "Cancelled"

    class Device(models.TextChoices):
        APP = "app", "App (M3U / Xtream codes)"
        MAG = "mag", "MAG / Formuler box"

    reference = models.CharField(max_length=20, unique=True, default=new_order_reference)
    # SHA-256 of order_status_token(reference), derived on save (a single-row rule).
    status_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="orders"
    )
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="orders")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NEW)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.AWAITING_PAYMENT
    )
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    # Choices from the gateway registry (callable: a new kind needs no migration).
    gateway = models.CharField(max_length=20, blank=True, choices=kind_choices)
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)

    # The name typed at checkout: this order's mails greet it (it never changes the account).
    name = models.CharField(max_length=150, blank=True)
    preferred_username = models.CharField(max_length=32, blank=True)
    preferred_password = EncryptedTextField(blank=True)
    device = models.CharField(max_length=5, choices=Device.choices, default=Device.APP)
    mac_address = models.CharField(max_length=17, blank=True)
    country = models.CharField(max_length=2, blank=True)
    # The operator may pin an order to a panel (manual override of routing).
    panel_override = models.ForeignKey(
        "panels.Panel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A renewal/upgrade extends this line instead of creating one.
    target_line = models.ForeignKey(
        "provisioning.Line", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # A balance order: the underpaid order whose rest it collects; paid, that order is paid and
    # provisioned (billing/underpaid.py).
    balance_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="balance_orders"
    )

    needs_review = models.BooleanField(default=False, db_index=True)
    review_reason = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    pending_since = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "pending_since"])]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs):
        if not self.status_token_hash:
            self.status_token_hash = status_token_hash(self.status_token)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "status_token_hash"}
        super().save(*args, **kwargs)

    @property
    def status_token(self) -> str:
        """The token whose hash is stored: after a SECRET_KEY rotation, made with the old key
        while it is listed in SECRET_KEY_FALLBACKS, so links in new mails match old pages."""
        current = order_status_token(self.reference)
        if self.status_token_hash and status_token_hash(current) != self.status_token_hash:
            for old_key in settings.SECRET_KEY_FALLBACKS:
                token = order_status_token(self.reference, secret=old_key)
                if status_token_hash(token) == self.status_token_hash:
                    return token
        return current


class Payment(models.Model):
    """Append-only ledger: every charge, pending notice, failure and refund is a new row."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    gateway = models.CharField(max_length=20, choices=kind_choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    gateway_payment_id = models.CharField(max_length=255, blank=True, db_index=True)
    source_event = models.ForeignKey(
        "billing.WebhookEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments",
    )
    note = models.CharField(max_length=255, blank=True)
    # A bank transfer confirmed by an operator: when it arrived and the bank's reference for it.
    received_on = models.DateField(null=True, blank=True)
    bank_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order} {self.status} {self.amount} {self.currency}"


class WebhookEvent(models.Model):
    """A gateway notification, stored before it is processed; (gateway, event_id) is unique."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        # Kept for rows of the first schema: processing errors are retried, then reviewed.
        FAILED = "failed", "Failed"
        NEEDS_REVIEW = "needs_review", "Needs review"

    gateway = models.CharField(max_length=20, choices=kind_choices)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    # Processing that raised is retried with backoff (the scheduler re-drives due events).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="unique_gateway_event")
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_type} {self.event_id}"


class TrialClaim(models.Model):
    """One free trial taken by one identity: an e-mail address, a device MAC or a client address
    (an IPv6 client as its /64). Unique per identity, so two concurrent checkouts can never both
    take it; a claim older than TRIAL_WINDOW_DAYS is taken over by a conditional UPDATE
    (`billing/trials.py`)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail address"
        MAC = "mac", "Device MAC"
        IP = "ip", "Client address"

    kind = models.CharField(max_length=5, choices=Kind.choices)
    value = models.CharField(max_length=254)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="trial_claims"
    )
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="unique_trial_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"
