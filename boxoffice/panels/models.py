from __future__ import annotations

import json
import threading

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from boxoffice.lib.crypto import EncryptedJSONField
from boxoffice.panels.adapters.base import FieldError, PanelAdapter, PanelConfig
from boxoffice.panels.adapters.registry import (
    ADAPTERS,
    adapter_class,
    adapter_for,
    kind_choices,
    line_password,
)

# This thread's kept adapters, by panel id (`Panel.adapter`).
_kept_adapters = threading.local()


def panel_adapters_forget() -> None:
    """Close and forget this thread's kept adapters (tests; a thread that stops)."""
    for _key, adapter in _kept_adapters.__dict__.pop("by_panel", {}).values():
        _close_quietly(adapter)


def panel_adapter_release(adapter: PanelAdapter) -> None:
    """A caller is done with an adapter from `Panel.adapter`: a kept one stays open for the
    thread's next call, any other is closed (its HTTP client and connections)."""
    if not getattr(adapter, "_kept", False):
        _close_quietly(adapter)


def _close_quietly(adapter: PanelAdapter) -> None:
    close = getattr(adapter, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: S110 - a client that cannot close cleanly is dropped anyway
            pass


class Panel(models.Model):
    """One IPTV panel Boxoffice creates lines on.

    The columns are what every kind has; a kind's own settings (its `config_fields`) live in
    `settings` (plain JSON) and `secrets` (one encrypted JSON object), validated by `clean`.
    """

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        UP = "up", "Up"
        DOWN = "down", "Down"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=30, choices=kind_choices)
    api_url = models.URLField(help_text="Admin API origin, e.g. https://panel.example.com:25500")
    settings = models.JSONField(default=dict, blank=True, help_text="The kind's own settings")
    secrets = EncryptedJSONField(help_text="The kind's secret settings, encrypted")
    verify_tls = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1)])
    public_url = models.URLField(
        help_text="Streaming URL customers use (scheme://host:port), e.g. http://tv.example.com:8080"
    )
    capacity = models.PositiveIntegerField(
        default=1000, help_text="Most lines this panel should hold"
    )
    regions = models.JSONField(default=list, blank=True, help_text="Region codes this panel serves")
    max_concurrency = models.PositiveSmallIntegerField(
        default=4, help_text="Most calls in flight to this panel from all workers together"
    )
    enabled = models.BooleanField(default=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher wins when routing ties")
    fallback_rank = models.PositiveSmallIntegerField(
        default=100,
        help_text="When no panel serves the customer's region, panels are tried in this order "
        "(lower first)",
    )
    # Lines of ours this panel holds (every line not cancelled), kept by the writes that create,
    # move and end lines, in their transactions: routing reads it instead of counting lines per
    # order. `panels_lines_held_recount` repairs any drift.
    lines_held = models.PositiveIntegerField(default=0, editable=False)

    # Circuit breaker state.
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    down_since = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    # What the panel itself last reported (refreshed by the kinds that can: `credit_balance`,
    # `line_count`); routing and the back office read these columns, never the panel, per order.
    credits_balance = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="A reseller account's credits as the panel last reported them",
    )
    credits_checked_at = models.DateTimeField(null=True, blank=True)
    lines_on_panel = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many lines the panel last reported holding"
    )
    lines_counted_at = models.DateTimeField(null=True, blank=True)
    # The panel's bouquets and packages (names and ids) as it last listed them, so plan mappings
    # show names an operator recognises and `apply` can check ids (`panel_catalog_sync`):
    # {"bouquets": [{"id", "name"}], "packages": [{"id", "name", "credits", ...}], "error": ""}.
    catalog = models.JSONField(
        default=dict, blank=True, help_text="Bouquets and packages as the panel last listed them"
    )
    catalog_synced_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_down(self) -> bool:
        return self.health == self.Health.DOWN

    @property
    def kind_class(self) -> type[PanelAdapter] | None:
        return ADAPTERS.get(self.kind)

    def kind_settings(self) -> dict:
        """The kind's declared fields with their values (secrets decrypted), nothing else."""
        cls = adapter_class(self.kind)
        return {
            f.name: (self.secrets if f.secret else self.settings).get(f.name)
            for f in cls.config_fields
        }

    def setting_set(self, name: str, value) -> None:
        """Set one of the kind's declared fields, in `secrets` if it is secret."""
        cls = adapter_class(self.kind)
        declared = {f.name: f for f in cls.config_fields}
        if name not in declared:
            raise FieldError(name, f"{cls.label} panels have no setting {name!r}")
        target = self.secrets if declared[name].secret else self.settings
        target[name] = value

    def clean(self) -> None:
        super().clean()
        regions = self.regions or []
        if not isinstance(regions, list) or not all(
            isinstance(r, str) and 2 <= len(r.strip()) <= 8 for r in regions
        ):
            raise ValidationError(
                {"regions": 'a list of region or country codes, like ["DE", "AT"]'}
            )
        cls = self.kind_class
        if cls is None:
            return  # the kind itself is reported as "not a valid choice"
        errors: dict[str, list[str]] = {}
        settings, secrets = {}, {}
        for f in cls.config_fields:
            raw = (self.secrets if f.secret else self.settings).get(f.name)
            try:
                value = f.clean(raw)
            except FieldError as exc:
                errors.setdefault(f.name, []).append(exc.message)
                continue
            (secrets if f.secret else settings)[f.name] = value
        declared = {f.name for f in cls.config_fields}
        unknown = sorted((set(self.settings) | set(self.secrets)) - declared)
        if unknown:
            errors.setdefault(NON_FIELD_ERRORS, []).append(
                f"{cls.label} panels have no setting {', '.join(unknown)} "
                f"(allowed: {', '.join(sorted(declared))})"
            )
        if errors:
            raise ValidationError(errors)
        self.settings, self.secrets = settings, secrets

    def adapter_config(self) -> PanelConfig:
        """The adapter's config: exactly its declared fields, validated (FieldError)."""
        return adapter_class(self.kind).config_for(
            api_url=self.api_url,
            public_url=self.public_url,
            timeout=self.timeout_seconds,
            verify_tls=self.verify_tls,
            settings=self.kind_settings(),
            line_passwords=lambda username: line_password(self.pk, username),
        )

    def adapter(self) -> PanelAdapter:
        """The panel's adapter. A kind that holds no session (`keep_between_calls`) is kept per
        thread while the panel's settings stay the same, so its HTTP client keeps connections
        to the panel open between calls (no TCP and TLS handshake per call, nor a new client)."""
        cls = adapter_class(self.kind)
        if self.pk is None or not cls.keep_between_calls:
            return adapter_for(self.kind, self.adapter_config())
        key = (
            adapter_for,  # a test that swaps the factory gets a new adapter
            self.kind,
            self.api_url,
            self.public_url,
            self.timeout_seconds,
            self.verify_tls,
            json.dumps(self.kind_settings(), sort_keys=True, default=str),
        )
        kept = _kept_adapters.__dict__.setdefault("by_panel", {})
        held = kept.get(self.pk)
        if held is not None and held[0] == key:
            return held[1]
        adapter = adapter_for(self.kind, self.adapter_config())
        adapter._kept = True  # type: ignore[attr-defined] - see panel_adapter_release
        kept[self.pk] = (key, adapter)
        if held is not None:
            _close_quietly(held[1])
        return adapter


class Incident(models.Model):
    """A period of trouble on one panel. The operator is alerted once per incident."""

    class Kind(models.TextChoices):
        PANEL_DOWN = "panel_down", "Panel down"
        OPERATIONS_FAILING = "operations_failing", "Operations need review"
        LOW_CREDITS = "low_credits", "Reseller credits running low"

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # A panel-down incident whose panel answers again stays open for the hold-down
    # (PANEL_INCIDENT_HOLD_DOWN_SECONDS): a flapping panel is one incident, one alert.
    recovered_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    affected_operations = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["panel", "kind"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_incident_per_panel_and_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.panel}"
