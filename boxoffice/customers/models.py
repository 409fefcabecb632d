from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Customer(models.Model):
    """A subscriber, known by e-mail address. The account belongs to whoever controls that
    address: checkout creates it without a password, and only a link sent to the address
    (`SignInLink`, password reset) lets anyone in. Portal sign-in goes through `user`, a
    customer-only login (never a staff user; see customers/services.py)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    # When someone first proved they read this address (used a link sent to it).
    email_verified_at = models.DateTimeField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    # The language chosen at checkout (or the browser's, offered first): every mail to this
    # customer is written in it.
    locale = models.CharField(
        "language", max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    marketing_opt_in = models.BooleanField(default=False)
    # Unsubscribed from marketing mail (win-back, offers): credentials, receipts, renewal
    # notices and security mail still go out. Set by the link in those mails
    # (and RFC 8058 one-click), cleared when the customer opts back in from the portal.
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Unsubscribed from the welcome sequence only (the onboarding category; its own link in
    # those mails): the marketing mail above is a separate choice.
    onboarding_unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Printed on invoices issued after they are set (issued invoices keep what they said). A
    # database default too: a migration test or an older process inserting customers without
    # these columns still works.
    billing_name = models.CharField(max_length=150, blank=True, default="", db_default="")
    billing_address = models.TextField(max_length=500, blank=True, default="", db_default="")
    vat_id = models.CharField("VAT number", max_length=30, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email


class SignInLink(models.Model):
    """A single-use sign-in link e-mailed to a customer. Only the SHA-256 of its token is
    stored, so a copy of the database opens nobody's account. A link stops working when it is
    used, when it expires, when a newer link is sent and when the password changes."""

    class Purpose(models.TextChoices):
        REQUESTED = "requested", "Requested on the sign-in page"
        WELCOME = "welcome", "In the credentials e-mail"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sign_in_links")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    # Where the customer lands after signing in (a path on this site).
    next_path = models.CharField(max_length=200, blank=True)
    # A digest of the login's password hash when the link was made: a password change since
    # then (here, in the back office or by reset) makes the link stale.
    password_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer", "used_at", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} link for {self.customer_id}"
