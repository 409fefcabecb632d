from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from boxoffice.lib.crypto import EncryptedTextField

# The renewal lifecycle's late stages (provisioning/lifecycle.py): a look at lines in them
# filters on exactly this list, so the partial index `line_lifecycle_late` serves it.
LATE_STAGES = ["grace", "suspended", "terminated"]


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
    # Why routing put the line on its panel ("region DE, most free capacity", "manual override
    # by ops@x"), written with the reservation and with every move.
    routing_reason = models.CharField(max_length=300, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # When reconciliation last found the line on its panel (a pass that did not is "missing").
    panel_seen_at = models.DateTimeField(null=True, blank=True)
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
            # The renewal lifecycle's lines in grace, suspended or terminated (a few of all):
            # partial, so the planner sees how few they are (lifecycle.py names the stages).
            models.Index(
                fields=["expires_at"],
                condition=models.Q(stage__in=LATE_STAGES),
                name="line_lifecycle_late",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.panel_id}"

    @property
    def panel_notes(self) -> str:
        """What goes into the panel's admin notes: lets a retry recognise a line as ours."""
        ref = self.order.reference if self.order_id else f"line-{self.pk}"
        return f"boxoffice order {ref}"


# The statuses of an operation not finished; the scheduler's looks filter on exactly these (the
# partial index `paneloperation_open` serves a query only when its WHERE names the same list).
OPEN_STATUSES = ["pending", "running", "needs_review"]


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
            # An incident's affected count (reconcile.operations_in_incident, each pass while a
            # panel is down): the panel's unfinished operations and those finished since it
            # began, not every operation the panel ever had.
            models.Index(fields=["panel", "finished_at"], name="paneloperation_panel_finished"),
            # The scheduler's passes read only open operations (a few among millions done):
            # partial, so an idle pass reads an empty index whatever the history.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="paneloperation_open",
            ),
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


class SaleBlock(models.Model):
    """A plan that no panel can sell right now for one kind of customer (`scope`: region and
    device), found by checkout's pre-flight: open until a pre-flight for that scope finds a
    panel again, and the operator is alerted once per block, not once per visitor."""

    plan = models.ForeignKey("catalog.Plan", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=40)
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    refusals = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "scope"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_sale_block_per_plan_and_scope",
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan} cannot be sold ({self.scope})"


class ReassignmentJob(models.Model):
    """Moving every line off one panel (a panel retired): a durable job. Each line's move is a
    `PanelOperation(move)` keyed `reassign:<job>:<line>`, written with the job's cursor in one
    transaction, so a crash anywhere resumes where it stopped and never moves a line twice; at
    most `max_in_flight` moves of the job are queued at once (the rate bound)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    from_panel = models.ForeignKey("panels.Panel", on_delete=models.PROTECT, related_name="+")
    to_panel = models.ForeignKey(
        "panels.Panel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: routing chooses a panel for each line",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    created_by = models.CharField(max_length=150, default="system")
    max_in_flight = models.PositiveSmallIntegerField(
        default=20, help_text="Most moves of this job queued or running at once"
    )
    total = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # Lines with a pk above this are still to be queued (pk order is stable).
    cursor = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_step_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_step_at"])]

    def __str__(self) -> str:
        target = self.to_panel.name if self.to_panel_id else "routed panels"
        return f"Lines of {self.from_panel} to {target}"

    @property
    def key_prefix(self) -> str:
        return f"reassign:{self.pk}:"


# --- the welcome sequence (provisioning/onboarding.py) -----------------------------------------


class OnboardingSettings(models.Model):
    """The operator's welcome sequence: one row (pk 1), edited in the back office. Offsets count
    from the line's activation; a step switched off is skipped when its time comes (a step
    already sent stays sent). Changing an offset moves the steps still scheduled."""

    day1_enabled = models.BooleanField("Mail 2 (apps and set-up) on", default=True)
    day1_offset_hours = models.PositiveIntegerField("Mail 2 after (hours)", default=24)
    day3_enabled = models.BooleanField("Mail 3 (portal, more to watch) on", default=True)
    day3_offset_hours = models.PositiveIntegerField("Mail 3 after (hours)", default=72)
    day7_enabled = models.BooleanField("Mail 4 (check-in and add-ons) on", default=True)
    day7_offset_hours = models.PositiveIntegerField("Mail 4 after (hours)", default=168)
    community_url = models.URLField(
        blank=True, help_text="Your community (forum, Telegram, Discord…) for mail 4; empty: none"
    )
    knowledge_base_url = models.URLField(
        blank=True, help_text="Your help articles for mails 2 and 4; empty: the portal"
    )
    support_url = models.URLField(
        blank=True,
        help_text="Where 'talk to us' leads in the not-yet-watching mail; empty: e-mail support",
    )
    vod_plans = models.ManyToManyField(
        "catalog.Plan",
        blank=True,
        related_name="+",
        help_text="Plans that include films and series on demand and catch-up (mail 3 shows them)",
    )

    class Meta:
        verbose_name = "welcome sequence settings"
        verbose_name_plural = "welcome sequence settings"

    def __str__(self) -> str:
        return "Welcome sequence"


class OnboardingStep(models.Model):
    """One welcome mail a line is owed: written with the line's activation (one row per line
    and step), sent once by the scheduler's pass when due, or skipped with the reason."""

    class Step(models.TextChoices):
        DAY1 = "day1", "Mail 2: apps and set-up"
        DAY3 = "day3", "Mail 3: portal and more to watch"
        DAY7 = "day7", "Mail 4: check-in and add-ons"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"

    class Variant(models.TextChoices):
        NONE = "", "—"
        WATCHING = "watching", "Already watching: tips"
        NOT_WATCHING = "not_watching", "Not watching yet: let's get you watching"

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="onboarding_steps")
    step = models.CharField(max_length=10, choices=Step.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    variant = models.CharField(max_length=15, choices=Variant.choices, blank=True, default="")
    skip_reason = models.CharField(max_length=200, blank=True)
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["line", "step"], name="one_onboarding_step_per_line")
        ]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.get_step_display()} for line {self.line_id} ({self.status})"


class LineActivity(models.Model):
    """What the panel says about a new line's use, polled gently in its first week: when the
    customer was first seen watching (active connections or a last-active time)."""

    line = models.OneToOneField(Line, on_delete=models.CASCADE, related_name="activity")
    first_watched_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    active_connections = models.PositiveSmallIntegerField(default=0)
    checks = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Due for a poll from then (also the claim: a poller moves it forward before calling).
    next_check_at = models.DateTimeField(null=True, blank=True)
    # Polled until then (the first week); after it, or once watching, never again.
    watch_until = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "line activity"
        indexes = [models.Index(fields=["first_watched_at", "next_check_at"])]

    def __str__(self) -> str:
        return f"activity of line {self.line_id}"


class PanelSweep(models.Model):
    """Where the reconciliation walk of one panel's lines stands (provisioning/drift.py).

    A pass reads the panel's lines a page at a time; the cursor after each page is stored here,
    so a worker that dies mid-pass loses at most the page it was on (redone from the stored
    cursor), and `next_page_at` spaces the pages so a big panel is read slowly. A task holds the
    row by its lease while it reads a page (claimed with a conditional UPDATE)."""

    panel = models.OneToOneField(
        "panels.Panel", on_delete=models.CASCADE, related_name="line_sweep"
    )
    cursor = models.CharField(max_length=200, blank=True)  # "" with a pass open: its first page
    pass_started_at = models.DateTimeField(null=True, blank=True)  # null: between passes
    last_pass_finished_at = models.DateTimeField(null=True, blank=True)
    next_page_at = models.DateTimeField(default=timezone.now, db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)  # of the current (or last) pass
    lines_seen = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)  # failed page reads in a row
    last_error = models.TextField(blank=True)
    # Why this panel is not reconciled (its kind cannot list lines), shown in the drift report.
    note = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"sweep of {self.panel_id} at {self.cursor or 'start'}"


class LineDrift(models.Model):
    """One difference between our line and the panel's, found by reconciliation.

    Repaired (a panel operation) where our record is the truth, flagged for the operator where
    it is not. One open (or ignored) row per panel line and kind; later passes update it."""

    class Kind(models.TextChoices):
        FOREIGN = "foreign", "On the panel, never sold here"
        MISSING = "missing", "Ours, gone from the panel"
        EXPIRY = "expiry", "Expiry differs"
        ENABLED = "enabled", "Enabled/disabled differs"
        CONNECTIONS = "connections", "Connections differ"
        PLAN = "plan", "Bouquets or package differ"
        TRIAL = "trial", "Trial flag differs"
        MAC = "mac", "MAC differs"

    class Status(models.TextChoices):
        OPEN = "open", "Needs a decision"
        REPAIRING = "repairing", "Repair queued"
        REPAIRED = "repaired", "Repaired"
        IGNORED = "ignored", "Ignored"
        IMPORTED = "imported", "Imported"
        RESOLVED = "resolved", "Gone by itself"

    ACTIVE_STATUSES = (Status.OPEN, Status.REPAIRING, Status.IGNORED)

    panel = models.ForeignKey("panels.Panel", on_delete=models.CASCADE, related_name="drifts")
    line = models.ForeignKey(
        Line, null=True, blank=True, on_delete=models.CASCADE, related_name="drifts"
    )
    panel_line_id = models.CharField(max_length=64)
    username = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    ours = models.JSONField(default=dict, blank=True)  # our value(s), no secrets
    theirs = models.JSONField(default=dict, blank=True)  # the panel's value(s), no secrets
    detail = models.CharField(max_length=300, blank=True)
    operation = models.ForeignKey(
        PanelOperation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["panel", "panel_line_id", "kind"],
                condition=models.Q(status__in=["open", "repairing", "ignored"]),
                name="one_live_drift_per_panel_line_and_kind",
            )
        ]
        indexes = [models.Index(fields=["panel", "status", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.username or self.panel_line_id}"


class ImportedLine(models.Model):
    """A line brought in from a panel by `boxoffice import-lines`: the key that makes a second
    import a no-op (panel + the panel's line id), and whether its customer is a placeholder."""

    panel = models.ForeignKey("panels.Panel", on_delete=models.CASCADE, related_name="+")
    panel_line_id = models.CharField(max_length=64)
    line = models.OneToOneField(Line, on_delete=models.CASCADE, related_name="import_record")
    placeholder_customer = models.BooleanField(default=False)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["panel", "panel_line_id"], name="one_import_per_panel_line"
            )
        ]

    def __str__(self) -> str:
        return f"import of line {self.panel_line_id} from panel {self.panel_id}"
