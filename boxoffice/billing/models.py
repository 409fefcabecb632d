from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from boxoffice.billing.gateways.base import FieldError, GatewayConfig
from boxoffice.billing.gateways.registry import GATEWAYS, Account, account_problems, kind_choices
from boxoffice.lib.crypto import EncryptedJSONField, EncryptedTextField, UnreadableSecrets
from boxoffice.lib.exists import rows_exist

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
    # The language the customer bought in (checkout's selector): this order's mails are in it.
    language = models.CharField(
        max_length=10, choices=settings.LANGUAGES, blank=True, default="", db_default=""
    )
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

    # An upgrade's, add-on's or plan-changing renewal's figures, frozen at checkout (the amount
    # is computed from them once): what was quoted, for which expiry (billing/plan_changes.py).
    quote = models.JSONField(default=dict, blank=True)
    # A renewal charged by a subscription: its gateway_reference is that invoice's id, one order
    # per invoice (the constraint), the key of its one "extend by one period".
    subscription = models.ForeignKey(
        "billing.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
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
        indexes = [
            models.Index(fields=["status", "pending_since"]),
            # The scheduler's looks: pending payments past their timeout (partial: a few), and
            # recently paid orders without a line.
            models.Index(
                fields=["pending_since"],
                condition=models.Q(status__in=["payment_pending"]),
                name="order_payment_pending",
            ),
            models.Index(fields=["status", "paid_at"], name="order_status_paid"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "gateway_reference"],
                condition=models.Q(subscription__isnull=False),
                name="one_order_per_subscription_invoice",
            )
        ]

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
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            # The re-drive reads only events still to process: partial, so it stays empty
            # whatever the number processed.
            models.Index(
                fields=["next_attempt_at", "received_at"],
                condition=models.Q(status__in=["received"]),
                name="webhookevent_received",
            ),
        ]
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


# --- invoices ----------------------------------------------------------------------------------


class BusinessDetails(models.Model):
    """The operator's legal details, printed on every invoice (one row, edited in the back
    office). An issued invoice keeps the details it was issued with."""

    legal_name = models.CharField(max_length=200, blank=True)
    address = models.TextField(blank=True, help_text="Postal address, as it prints")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    vat_id = models.CharField("VAT number", max_length=40, blank=True)
    registration = models.CharField(
        max_length=200, blank=True, help_text="Company register and number, if any"
    )
    email = models.EmailField(blank=True)
    prices_include_tax = models.BooleanField(
        default=True,
        help_text="Plan prices include tax (consumer prices). Off: tax is added at checkout.",
    )
    invoice_footer = models.TextField(blank=True, help_text="Printed at the foot of invoices")

    class Meta:
        verbose_name = verbose_name_plural = "business details"

    def __str__(self) -> str:
        return self.legal_name or "Business details"

    @classmethod
    def current(cls) -> BusinessDetails:
        details = cls.objects.filter(pk=1).first()
        if details is None:
            details = cls(pk=1, legal_name=settings.SITE_NAME, email=settings.SUPPORT_EMAIL)
        return details

    @property
    def issues_invoices(self) -> bool:
        """An invoice names its issuer: none is issued before the legal name and address are
        filled in (`boxoffice check` and the back office say so)."""
        return bool(self.pk and self.legal_name.strip() and self.address.strip())


class TaxRate(models.Model):
    """The tax charged to customers in one country (VAT, GST…); none: no tax on invoices."""

    country = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2")
    rate = models.DecimalField(max_digits=5, decimal_places=2, help_text="Percent, e.g. 19.00")
    name = models.CharField(max_length=20, default="VAT")

    class Meta:
        ordering = ["country"]

    def __str__(self) -> str:
        return f"{self.country} {self.name} {self.rate} %"


class InvoiceSeries(models.Model):
    """The counter of one numbering series (e.g. INV-2026): the next number is taken under a
    row lock in the transaction that issues the invoice, so numbers have no gaps — a rolled
    back payment gives its number back."""

    key = models.CharField(max_length=20, unique=True)
    next_number = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return self.key


class InvoiceImmutable(Exception):
    """An issued invoice is never changed: corrections are credit notes."""


class InvoiceQuerySet(models.QuerySet):
    """Issued invoices are not updated or deleted in bulk either: only the rendered PDF may be
    stored once (`update(pdf=…)` on rows that have none)."""

    def update(self, **kwargs):
        if set(kwargs) != {"pdf"}:
            raise InvoiceImmutable("issued invoices cannot change (corrections are credit notes)")
        return super().update(**kwargs)

    def delete(self):
        raise InvoiceImmutable("issued invoices cannot be deleted")


class Invoice(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    series = models.CharField(max_length=20)
    sequence = models.PositiveIntegerField()
    number = models.CharField(max_length=32, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="invoices")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="invoices"
    )
    # The payment this invoice is for (or the refund a credit note is for): one each.
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice"
    )
    credits = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    issued_at = models.DateTimeField(default=timezone.now)
    currency = models.CharField(max_length=3)
    net = models.DecimalField(max_digits=10, decimal_places=2)
    tax = models.DecimalField(max_digits=10, decimal_places=2)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    tax_name = models.CharField(max_length=20, blank=True)
    tax_country = models.CharField(max_length=2, blank=True)
    prices_include_tax = models.BooleanField(default=True)
    # Snapshots: what the invoice says, whatever changes later.
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    items = models.JSONField(default=list)
    # Rendered once, on first use, from the snapshot; kept so every copy is the same file.
    pdf = models.BinaryField(null=True, blank=True, editable=False)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["series", "sequence"], name="unique_invoice_number")
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs):
        # Issued once; afterwards only the rendered file may be stored (by invoicing.py).
        if self.pk is not None and set(kwargs.get("update_fields") or ()) != {"pdf"}:
            raise InvoiceImmutable(f"invoice {self.number} is issued and cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise InvoiceImmutable(f"invoice {self.number} is issued and cannot be deleted")


# --- coupons -----------------------------------------------------------------------------------


def coupon_code_normalise(code: str) -> str:
    """What a code is, however it was typed: upper case, letters, digits, - and _ only."""
    return "".join(c for c in (code or "").upper() if c.isascii() and (c.isalnum() or c in "-_"))[
        :40
    ]


class Coupon(models.Model):
    """A discount code: a percentage or a fixed amount, for a time, for some plans, for first
    purchases or renewals, with a use limit overall and per customer. Uses are counted under a
    lock on this row (`billing/coupons.py`), so limits hold under concurrent checkouts."""

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percentage"
        FIXED = "fixed", "Fixed amount"

    class AppliesTo(models.TextChoices):
        ANY = "any", "Any purchase"
        FIRST = "first", "First purchase only"
        RENEWALS = "renewals", "Renewals only"

    code = models.CharField(max_length=40, unique=True, help_text="Customers type it; any case")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PERCENT)
    value = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="Percent (1–100) or an amount in the currency"
    )
    currency = models.CharField(
        max_length=3, blank=True, help_text="For a fixed amount: the currency it is in"
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit")
    max_uses_per_customer = models.PositiveIntegerField(default=1)
    plans = models.ManyToManyField(
        "catalog.Plan", blank=True, related_name="coupons", help_text="None: every plan"
    )
    applies_to = models.CharField(max_length=8, choices=AppliesTo.choices, default=AppliesTo.ANY)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        self.code = coupon_code_normalise(self.code)
        self.currency = self.currency.strip().upper()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.code = coupon_code_normalise(self.code)
        if not self.code:
            raise ValidationError({"code": "letters, digits, - and _ only"})
        if Coupon.objects.filter(code=self.code).exclude(pk=self.pk).exists():
            raise ValidationError({"code": f"{self.code} exists already (codes ignore case)"})
        if self.kind == self.Kind.PERCENT and not (0 < (self.value or 0) <= 100):
            raise ValidationError({"value": "a percentage from 1 to 100"})
        if self.kind == self.Kind.FIXED:
            if not self.value or self.value <= 0:
                raise ValidationError({"value": "an amount above zero"})
            if len(self.currency.strip()) != 3:
                raise ValidationError({"currency": "a fixed amount needs its currency, e.g. EUR"})
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "after the start"})


class CouponRedemption(models.Model):
    """One use of a coupon by one order, written with the order. It counts while the order is
    paid or may still be paid; a failed, expired or cancelled order gives the use back."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="coupon_redemption")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="coupon_redemptions"
    )
    # The mailbox behind the customer's address (billing/trials.trial_email_identity): limits
    # per customer and "first purchase" count it, so jane+1@ and jane+2@ are one customer.
    identity = models.CharField(max_length=254, db_index=True, blank=True)
    discount = models.DecimalField(max_digits=10, decimal_places=2)
    full_price = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.coupon} on {self.order}"


# --- refunds from the back office ---------------------------------------------------------------


class RefundRequest(models.Model):
    """An operator's refund, written before the gateway is asked (a durable claim): one open
    request per order, sent with its own idempotency key, so a double click, a retry after a
    timeout or a crash between the gateway's answer and our write never refunds twice."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        DONE = "done", "Refunded"
        FAILED = "failed", "Refused by the gateway"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refund_requests")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255)
    # For a partial refund: suspend the line too (a full refund always does).
    suspend_line = models.BooleanField(default=False)
    actor = models.CharField(max_length=150)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    idempotency_key = models.CharField(max_length=64, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(status="requested"),
                name="one_open_refund_per_order",
            )
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} {self.currency} of {self.order}"


class Subscription(models.Model):
    """A line renewed by its gateway every period (Stripe Billing), mirrored from the gateway:
    every field but `cancel_reason` is written from a re-fetched subscription or invoice, never
    from a webhook's copy. The first order (`order`) paid its first invoice; each later paid
    invoice is a renewal order of its own (`Order.subscription`, keyed by the invoice id)."""

    gateway = models.CharField(max_length=20, choices=kind_choices)
    gateway_subscription_id = models.CharField(max_length=255, unique=True)
    gateway_customer_id = models.CharField(max_length=255, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="subscriptions"
    )
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="subscription_of")
    line = models.ForeignKey(
        "provisioning.Line",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscriptions",
    )
    # The gateway's word: active, past_due, unpaid, canceled, incomplete, ...
    status = models.CharField(max_length=30, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=500, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    last_invoice_id = models.CharField(max_length=255, blank=True)
    last_paid_at = models.DateTimeField(null=True, blank=True)
    # Failed charges since the last paid invoice (each retry Stripe reports counts once).
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # When the gateway was asked for the state mirrored here: a view fetched earlier (an event
    # processed late) never overwrites a newer one.
    fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.gateway} {self.gateway_subscription_id}"

    @property
    def renews(self) -> bool:
        """The gateway will charge again at the period end."""
        return self.status in ("active", "past_due", "trialing") and not self.cancel_at_period_end


class GatewayAccount(models.Model):
    """A payment gateway as the back office (or `boxoffice apply`) configures it: the kind's
    own settings (its config class's `config_fields`) in `settings` (plain JSON) and `secrets`
    (one encrypted JSON object), validated by `clean` as a Panel's are. A kind without an
    account is configured from the environment as before (billing.gateways.registry)."""

    kind = models.CharField(max_length=30, unique=True, choices=kind_choices)
    enabled = models.BooleanField(
        default=True,
        help_text="Offered at checkout, and its notifications accepted (unless the "
        "PAYMENT_GATEWAYS environment variable names the gateways)",
    )
    position = models.SmallIntegerField(default=0, help_text="Lower comes first at checkout")
    label = models.CharField(
        max_length=60, blank=True, help_text="What customers see; empty: the kind's own name"
    )
    settings = models.JSONField(default=dict, blank=True, help_text="The kind's own settings")
    secrets = EncryptedJSONField(help_text="The kind's secret settings, encrypted")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "kind"]
        verbose_name = "payment gateway"

    def __str__(self) -> str:
        return self.label or str(dict(kind_choices()).get(self.kind, self.kind))

    @property
    def config_class(self) -> type[GatewayConfig] | None:
        cls = GATEWAYS.get(self.kind)
        return cls.config_class if cls else None

    def kind_settings(self) -> dict:
        """The kind's declared fields with their values (secrets decrypted), nothing else."""
        config_class = self.config_class
        return {
            f.name: (self.secrets if f.secret else self.settings).get(f.name)
            for f in (config_class.config_fields if config_class else ())
        }

    def setting_set(self, name: str, value) -> None:
        """Set one of the kind's declared fields, in `secrets` if it is secret."""
        config_class = self.config_class
        declared = {f.name: f for f in (config_class.config_fields if config_class else ())}
        if name not in declared:
            raise FieldError(name, f"{self} has no setting {name!r}")
        (self.secrets if declared[name].secret else self.settings)[name] = value

    def clean(self) -> None:
        super().clean()
        config_class = self.config_class
        if config_class is None:
            return  # the kind itself is reported as "not a valid choice"
        errors: dict[str, list[str]] = {}
        settings_out, secrets_out = {}, {}
        for f in config_class.config_fields:
            raw = (self.secrets if f.secret else self.settings).get(f.name)
            try:
                value = f.clean(raw)
            except FieldError as exc:
                errors.setdefault(f.name, []).append(exc.message)
                continue
            if value not in (None, ""):
                (secrets_out if f.secret else settings_out)[f.name] = value
        declared = {f.name for f in config_class.config_fields}
        unknown = sorted((set(self.settings) | set(self.secrets)) - declared)
        if unknown:
            errors.setdefault(NON_FIELD_ERRORS, []).append(
                f"{self} has no setting {', '.join(unknown)} "
                f"(allowed: {', '.join(sorted(declared))})"
            )
        if errors:
            raise ValidationError(errors)
        self.settings = settings_out
        if not isinstance(self.secrets, UnreadableSecrets) or secrets_out:
            self.secrets = secrets_out
        if settings.PRODUCTION and self.enabled:
            # Production takes real money: what `boxoffice check` refuses is refused here, in
            # the back office and in `boxoffice apply`, before it is saved.
            problems = account_problems(self.account(), settings)
            if problems:
                raise ValidationError({NON_FIELD_ERRORS: problems})

    def account(self) -> Account:
        """The registry's plain view of this row."""
        return Account(
            kind=self.kind,
            enabled=self.enabled,
            position=self.position,
            label=self.label,
            values=self.kind_settings(),
            unreadable=isinstance(self.secrets, UnreadableSecrets),
        )

    def config(self) -> GatewayConfig:
        return self.account().config(settings)


def _gateway_accounts_all():
    return GatewayAccount.objects.all()


def gateway_accounts() -> dict[str, Account]:
    """Every back-office account, kind -> Account: the registry's source (BillingConfig.ready).
    A shop configured by its settings alone has none: one precompiled EXISTS says so."""
    if not rows_exist(_gateway_accounts_all):
        return {}
    return {row.kind: row.account() for row in GatewayAccount.objects.all()}
