from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


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
    connections = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="EUR")
    is_trial = models.BooleanField(default=False)
    username_strategy = models.CharField(
        max_length=10, choices=UsernameStrategy.choices, default=UsernameStrategy.HYBRID
    )
    allow_mag = models.BooleanField(default=True, help_text="Offer MAG/Formuler boxes at checkout")
    active = models.BooleanField(default=True)
    sort_order = models.SmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price"]

    def __str__(self) -> str:
        return self.name


class PlanPanel(models.Model):
    """How a plan maps onto one panel: its bouquets and stream outputs there."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="panel_mappings")
    panel = models.ForeignKey(
        "panels.Panel", on_delete=models.CASCADE, related_name="plan_mappings"
    )
    bouquets = models.JSONField(default=list, blank=True, help_text="Bouquet ids on this panel")
    outputs = models.JSONField(default=list, blank=True, help_text='e.g. ["m3u8", "ts"]')

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "panel"], name="unique_plan_panel")]

    def __str__(self) -> str:
        return f"{self.plan} on {self.panel}"
