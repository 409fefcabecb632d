from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from boxoffice.panels.adapters.base import FieldError


def default_reminder_days() -> list[int]:
    return [7, 3, 0]


def reminder_days_validate(value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 365 for d in value
    ):
        raise ValidationError("a list of whole days before expiry, e.g. [7, 3, 0]")


class Plan(models.Model):
    """What a customer buys: a duration, a number of connections, a price."""

    class UsernameStrategy(models.TextChoices):
        AUTO = "auto", "Automatic (readable, collision-free)"
        CUSTOMER = "customer", "Customer chooses"
        HYBRID = "hybrid", "Customer may choose, otherwise automatic"

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    duration_days = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # A period shorter than a day (a 24 h or 48 h trial): when set, it is the plan's period
    # instead of duration_days.
    duration_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="When set, the period in hours instead of days (e.g. 24 for a one-day trial)",
    )
    connections = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="EUR")
    is_trial = models.BooleanField(default=False)
    username_strategy = models.CharField(
        max_length=10, choices=UsernameStrategy.choices, default=UsernameStrategy.HYBRID
    )
    # Add-on extra connections (billing/plan_changes.py): the price of one extra connection for
    # one period of the plan; empty = the plan sells none.
    extra_connection_price = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price of one extra connection per plan period (empty: no add-on offered)",
    )
    max_extra_connections = models.PositiveSmallIntegerField(
        default=0, help_text="How many extra connections one line may buy on this plan"
    )
    allow_mag = models.BooleanField(default=True, help_text="Offer MAG/Formuler boxes at checkout")
    # The renewal lifecycle of a one-time-payment line (provisioning/lifecycle.py).
    reminder_days = models.JSONField(
        default=default_reminder_days,
        blank=True,
        validators=[reminder_days_validate],
        help_text="Days before expiry a renewal reminder is mailed, e.g. [7, 3, 0]",
    )
    grace_days = models.PositiveSmallIntegerField(
        default=3, help_text="Days after expiry before the line is suspended on the panel"
    )
    terminate_after_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Days after expiry before an unpaid line is terminated on the panel",
    )
    winback_days = models.PositiveSmallIntegerField(
        default=14, help_text="Days after termination a win-back mail is sent (0: none)"
    )
    winback_text = models.TextField(
        blank=True,
        max_length=2000,
        help_text="Your words in the win-back mail (plain text; empty: the shipped text), "
        "e.g. an offer to come back",
    )
    # Sold as a subscription the gateway charges every period (Stripe Billing) where the chosen
    # gateway can (`recurring`); otherwise, and with every other gateway, renewed by hand.
    auto_renew = models.BooleanField(
        default=False,
        help_text="Renew automatically through gateways that charge every period (Stripe)",
    )
    active = models.BooleanField(default=True)
    sort_order = models.SmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price"]

    def __str__(self) -> str:
        return self.name

    def price_in(self, currency: str) -> tuple[Decimal, str]:
        """(price, currency): the plan's price in `currency` where it has one, else its own."""
        currency = (currency or "").upper()
        if currency and currency != self.currency:
            for price in self.prices.all():  # prefetched on pages that list plans
                if price.currency == currency:
                    return price.amount, price.currency
        return self.price, self.currency

    def currencies(self) -> list[str]:
        return [self.currency, *sorted(p.currency for p in self.prices.all())]

    @property
    def duration(self) -> timedelta:
        """One period of the plan."""
        if self.duration_hours:
            return timedelta(hours=self.duration_hours)
        return timedelta(days=self.duration_days)

    def mapping_on(self, panel_id: int) -> dict | None:
        """What a line of this plan holds on that panel (PlanPanel.for_line), or None when the
        plan is not sold there."""
        mapping = self.panel_mappings.select_related("panel").filter(panel_id=panel_id).first()
        return mapping.for_line() if mapping is not None else None

    @property
    def sells_extra_connections(self) -> bool:
        return self.extra_connection_price is not None and self.max_extra_connections > 0

    def clean(self) -> None:
        super().clean()
        if self.is_trial and self.sells_extra_connections:
            raise ValidationError(
                {"max_extra_connections": "A trial plan sells no extra connections."}
            )
        # A trial is free: checkout reserves its line without any payment.
        if self.is_trial and self.price is not None and self.price != 0:
            raise ValidationError({"price": "A trial plan is free: its price must be 0."})
        if self.auto_renew and (self.is_trial or self.duration_hours):
            raise ValidationError(
                {"auto_renew": "Only a paid plan counted in whole days can renew automatically."}
            )
        if self.auto_renew and self.duration_days and self.duration_days > 365:
            # Stripe's longest recurring interval is a year (interval=day, interval_count<=365).
            raise ValidationError(
                {"auto_renew": "An automatic renewal period is at most 365 days."}
            )
        if self.terminate_after_days is not None and self.grace_days is not None:
            if self.terminate_after_days <= self.grace_days:
                raise ValidationError(
                    {"terminate_after_days": "terminate after the grace period has ended"}
                )


class PlanPrice(models.Model):
    """The plan's price in another currency, set by the operator (never converted at a rate):
    customers whose currency it is see and pay this price."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3, help_text="ISO 4217, e.g. GBP")
    amount = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "currency"], name="unique_plan_currency")
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.amount} {self.currency}"

    def clean(self) -> None:
        super().clean()
        self.currency = (self.currency or "").upper()
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValidationError({"currency": "a three-letter ISO 4217 code, e.g. GBP"})
        if self.plan_id and self.currency == self.plan.currency:
            raise ValidationError({"currency": "that is already the plan's own currency"})
        if self.plan_id and self.plan.is_trial and self.amount:
            raise ValidationError({"amount": "A trial plan is free in every currency."})


class PlanPanel(models.Model):
    """How a plan maps onto one panel: exactly the panel kind's `plan_fields` (bouquets and
    stream outputs on XUI One, a package on others), validated by `clean`."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="panel_mappings")
    panel = models.ForeignKey(
        "panels.Panel", on_delete=models.CASCADE, related_name="plan_mappings"
    )
    mapping = models.JSONField(
        default=dict, blank=True, help_text='The kind\'s plan fields, e.g. {"bouquets": [1, 2]}'
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "panel"], name="unique_plan_panel")]

    def __str__(self) -> str:
        return f"{self.plan} on {self.panel}"

    def clean(self) -> None:
        super().clean()
        cls = self.panel.kind_class if self.panel_id else None
        if cls is None:
            return
        try:
            self.mapping = cls.mapping_clean(self.mapping or {})
        except FieldError as exc:
            raise ValidationError({"mapping": exc.message}) from None

    def for_line(self) -> dict:
        """The mapping a new line gets: every plan field, defaults filled in."""
        cls = self.panel.kind_class
        if cls is None:
            return dict(self.mapping)
        # An empty value is the field's default (XUI One: no outputs = m3u8 and ts).
        return {f.name: f.clean(self.mapping.get(f.name) or None) for f in cls.plan_fields}
