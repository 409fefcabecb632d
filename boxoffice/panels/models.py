from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from boxoffice.lib.crypto import EncryptedTextField
from boxoffice.panels.adapters.base import PanelConfig
from boxoffice.panels.adapters.registry import KIND_CHOICES, adapter_for


class Panel(models.Model):
    """One IPTV panel Boxoffice creates lines on."""

    class M3uStyle(models.TextChoices):
        GET_PHP = "get_php", "get.php?username=…&password=…"
        PLAYLIST = "playlist", "/playlist/USER/PASS/m3u_plus"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        UP = "up", "Up"
        DOWN = "down", "Down"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=30, choices=KIND_CHOICES)
    api_url = models.URLField(help_text="Admin API origin, e.g. https://panel.example.com:25500")
    access_code = models.CharField(
        max_length=100, blank=True, help_text="XUI One Admin API access code"
    )
    api_key = EncryptedTextField(blank=True)
    verify_tls = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1)])
    public_url = models.URLField(
        help_text="Streaming URL customers use (scheme://host:port), e.g. http://tv.example.com:8080"
    )
    m3u_style = models.CharField(max_length=20, choices=M3uStyle.choices, default=M3uStyle.GET_PHP)
    epg_style = models.CharField(max_length=20, choices=M3uStyle.choices, default=M3uStyle.GET_PHP)
    capacity = models.PositiveIntegerField(
        default=1000, help_text="Most lines this panel should hold"
    )
    regions = models.JSONField(default=list, blank=True, help_text="Region codes this panel serves")
    max_concurrency = models.PositiveSmallIntegerField(
        default=4, help_text="Most calls in flight to this panel from one worker"
    )
    enabled = models.BooleanField(default=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher wins when routing ties")

    # Circuit breaker state.
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    down_since = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_down(self) -> bool:
        return self.health == self.Health.DOWN

    def adapter_config(self) -> PanelConfig:
        return PanelConfig(
            api_url=self.api_url,
            api_key=self.api_key or "",
            access_code=self.access_code,
            timeout=self.timeout_seconds,
            verify_tls=self.verify_tls,
        )

    def adapter(self):
        return adapter_for(self.kind, self.adapter_config())


class Incident(models.Model):
    """A period of trouble on one panel. The operator is alerted once per incident."""

    class Kind(models.TextChoices):
        PANEL_DOWN = "panel_down", "Panel down"
        OPERATIONS_FAILING = "operations_failing", "Operations need review"

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
