from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from boxoffice.lib.crypto import EncryptedTextField


class Line(models.Model):
    """A subscriber line on a panel. Username and password are decided before any panel call."""

    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved (being created)"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    class Stage(models.TextChoices):
        ACTIVE = "active", "Active"
        REMINDED = "reminded", "Reminded"
        GRACE = "grace", "Grace period"
        SUSPENDED = "suspended", "Suspended"
        TERMINATED = "terminated", "Terminated"

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="lines"
    )
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="lines")
    order = models.ForeignKey(
        "billing.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="lines"
    )
    panel = models.ForeignKey("panels.Panel", on_delete=models.PROTECT, related_name="lines")
    panel_line_id = models.CharField(max_length=64, blank=True)
    username = models.CharField(max_length=64)
    password = EncryptedTextField()
    requested_username = models.CharField(max_length=64, blank=True)
    username_adjusted = models.BooleanField(
        default=False, help_text="The requested name was taken, so a suffix was added"
    )
    connections = models.PositiveSmallIntegerField(default=1)
    # Extra connections bought as an add-on on top of the plan's (connections = plan's + these).
    extra_connections = models.PositiveSmallIntegerField(default=0)
    # A downgrade the customer chose: the next renewal is of this plan, and its extend changes
    # the line to it on the panel (billing/plan_changes.py). Null: renews as it is.
    next_plan = models.ForeignKey(
        "catalog.Plan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The plan's mapping onto the panel as reserved: exactly the panel kind's plan fields.
    plan_mapping = models.JSONField(default=dict, blank=True)
    is_trial = models.BooleanField(default=False)
    device = models.CharField(max_length=5, default="app")
    mac_address = models.CharField(max_length=17, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    # Where the line is in the renewal lifecycle (provisioning/lifecycle.py); every change is
    # in the audit trail. The suspension reason tells a non-payment apart from a dispute.
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.ACTIVE)
    suspension_reason = models.CharField(max_length=100, blank=True)
    # The gateway charges this line every period (a live Stripe subscription, set by billing):
    # no renewal reminders with a pay link, the charge renews it. Cleared when the subscription
    # is cancelled or ends; the line then follows the one-time lifecycle from its expiry.
    auto_renew = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "username"], name="unique_username_per_panel"),
        ]
        indexes = [
            models.Index(fields=["customer", "status"]),
            # Panels compare usernames without case: the allocator looks names up by lower().
            models.Index(F("panel"), Lower("username"), name="line_panel_username_ci"),
            # The scheduler's expiry pass reads only the active lines already past expiry.
            models.Index(fields=["status", "expires_at"], name="line_status_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.panel_id}"

    @property
    def panel_notes(self) -> str:
        """What goes into the panel's admin notes: lets a retry recognise a line as ours."""
        ref = self.order.reference if self.order_id else f"line-{self.pk}"
        return f"boxoffice order {ref}"


class PanelOperation(models.Model):
    """The durable job row: one change to make on a panel, retried until it succeeds or a human
    looks at it. Rows are claimed with a conditional UPDATE, so a task delivered twice, a second
    worker or a re-drive after a crash can never run the same operation twice at once."""

    class Kind(models.TextChoices):
        CREATE = "create", "Create line"
        EXTEND = "extend", "Extend expiry"
        CHANGE_PASSWORD = "change_password", "Change password"
        SET_CONNECTIONS = "set_connections", "Change connections"
        END_TRIAL = "end_trial", "Convert trial to paid"
        CHANGE_PLAN = "change_plan", "Change plan"
        SUSPEND = "suspend", "Suspend"
        RESUME = "resume", "Resume"
        DELETE = "delete", "Delete"
        MOVE = "move", "Move to another panel"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        NEEDS_REVIEW = "needs_review", "Needs review"
        CANCELLED = "cancelled", "Cancelled"

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="operations")
    panel = models.ForeignKey("panels.Panel", on_delete=models.PROTECT, related_name="operations")
    order = models.ForeignKey(
        "billing.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="operations"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.PENDING)
    # Parameters of the change (new expiry, connections, target panel); no secrets here.
    params = models.JSONField(default=dict, blank=True)
    # A secret parameter (a new password), encrypted like the line's.
    secret = EncryptedTextField(blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True, default=uuid.uuid4)

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    delay_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["panel", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.line} ({self.status})"


class WorkerHeartbeat(models.Model):
    """One row per `boxoffice worker` process, written by its scheduler: the back office sees
    which workers are alive, how many of their task threads still run, and which went quiet."""

    worker_id = models.CharField(max_length=120, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    threads_alive = models.PositiveSmallIntegerField(default=0)
    threads_total = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    last_beat_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_beat_at"]

    def __str__(self) -> str:
        return self.worker_id

    @property
    def state(self) -> str:
        if self.stopped_at:
            return "stopped"
        age = (timezone.now() - self.last_beat_at).total_seconds()
        if age > settings.WORKER_HEARTBEAT_STALE_SECONDS:
            return "stale"
        if self.threads_alive < self.threads_total:
            return "degraded"
        return "running"
