from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import ActionForm
from unfold.widgets import UnfoldAdminSelectWidget

from boxoffice.panels.models import Incident, Panel
from boxoffice.provisioning.forms import LineOperateForm
from boxoffice.provisioning.lifecycle import line_next_step
from boxoffice.provisioning.models import (
    Line,
    LineActivity,
    OnboardingSettings,
    OnboardingStep,
    PanelOperation,
    ReassignmentJob,
    SaleBlock,
    WorkerHeartbeat,
)
from boxoffice.provisioning.onboarding import onboarding_settings_apply
from boxoffice.provisioning.reassignment import reassignment_job_cancel, reassignment_job_create
from boxoffice.provisioning.reconcile import operations_in_incident
from boxoffice.provisioning.selectors import line_panel_state
from boxoffice.provisioning.services import (
    OPERATOR_ACTIONS,
    line_move,
    line_operator_request,
    operation_retry_now,
)


class IncidentFilter(admin.SimpleListFilter):
    """The operations an incident touched; the panel-down alert links here (during an outage
    they are pending, so a status filter would show nothing)."""

    title = "incident"
    parameter_name = "incident"

    def lookups(self, request, model_admin):
        recent = Incident.objects.select_related("panel").order_by("-opened_at")[:20]
        return [(str(i.pk), f"#{i.pk} {i}") for i in recent]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        incident = Incident.objects.filter(pk=value).first() if value.isdigit() else None
        if incident is None:
            return queryset.none()
        return queryset.filter(pk__in=operations_in_incident(incident=incident).values("pk"))


class LineActionForm(ActionForm):
    panel = forms.ModelChoiceField(
        queryset=Panel.objects.filter(enabled=True),
        required=False,
        label="Target panel",
        empty_label="Target panel (for “Move”)",
        widget=UnfoldAdminSelectWidget,
    )


class OperationInline(TabularInline):
    model = PanelOperation
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["kind", "status", "attempts", "next_attempt_at", "last_error", "created_at"]
    readonly_fields = fields


# Sections other apps add to a line's page, each `fn(line) -> (title, [(label, value), ...])`
# (billing adds how the line renews and its payments: it sits above provisioning).
line_page_sections: list = []


def _line_sections(line: Line) -> list[dict]:
    when, what = line_next_step(line)
    rows = [
        ("Stage", line.get_stage_display()),
        ("Expires", f"{line.expires_at:%Y-%m-%d %H:%M}" if line.expires_at else "never"),
        ("Next step", f"{what}, {when:%Y-%m-%d %H:%M}" if what and when else what or "—"),
    ]
    sections = [{"title": "Renewal", "rows": rows}]
    for section in line_page_sections:
        title, extra = section(line)
        sections.append({"title": title, "rows": extra})
    return sections


@admin.register(Line)
class LineAdmin(ModelAdmin):
    list_display = [
        "username",
        "customer",
        "plan",
        "panel",
        "status",
        "stage",
        "connections",
        "expires_at",
        "plan_change",
        "renewal_mode",
        "renews_or_expires",
        "payment_failures",
        "username_adjusted",
    ]
    list_filter = ["status", "stage", "auto_renew", "panel", "plan", "username_adjusted"]
    search_fields = ["username", "customer__email", "order__reference", "panel_line_id"]
    # What the panel holds changes only through operations (the buttons below the form), so the
    # form cannot claim a change the panel never saw.
    readonly_fields = [
        "customer",
        "plan",
        "panel",
        "routing_reason",
        "username",
        "status",
        "stage",
        "suspension_reason",
        "connections",
        "extra_connections",
        "plan_change",
        "plan_mapping",
        "device",
        "mac_address",
        "expires_at",
        "renewal_mode",
        "renews_or_expires",
        "last_payment",
        "payment_failures",
        "panel_line_id",
        "requested_username",
        "username_adjusted",
        "activated_at",
        "created_at",
        "order",
    ]
    exclude = ["password"]
    list_select_related = ["customer", "plan", "panel", "next_plan"]
    inlines = [OperationInline]
    action_form = LineActionForm
    actions = ["move_to_panel"]
    change_form_outer_after_template = "provisioning/admin/line_operations.html"

    @admin.display(description="Next renewal")
    def plan_change(self, line: Line) -> str:
        """A downgrade the customer chose (portal): applied by the line's next renewal."""
        return f"changes to {line.next_plan} at next renewal" if line.next_plan_id else ""

    def get_queryset(self, request):
        # The gateway subscription (billing's, reached through its relation) for the renewal
        # columns: one query for the whole page.
        return super().get_queryset(request).prefetch_related("subscriptions")

    @staticmethod
    def _subscription(line: Line):
        subs = sorted(line.subscriptions.all(), key=lambda s: s.created_at)
        return subs[-1] if subs else None

    @admin.display(description="Renewal")
    def renewal_mode(self, line: Line) -> str:
        sub = self._subscription(line)
        if line.auto_renew:
            return f"auto ({sub.get_gateway_display()})" if sub else "auto"
        if sub is not None and sub.cancel_at_period_end and sub.status != "canceled":
            return "manual (auto-renewal cancelled)"
        return "manual"

    @admin.display(description="Next renewal / expiry")
    def renews_or_expires(self, line: Line) -> str:
        if line.expires_at is None:
            return "—"
        when = timezone.localtime(line.expires_at).strftime("%Y-%m-%d %H:%M")
        return f"renews {when}" if line.auto_renew else f"expires {when}"

    @admin.display(description="Last payment")
    def last_payment(self, line: Line) -> str:
        # The orders that created or extended this line on its panel, newest paid first.
        paid = (
            line.operations.filter(order__status="paid", order__paid_at__isnull=False)
            .order_by("-order__paid_at")
            .values_list("order__paid_at", "order__amount", "order__currency", "order__reference")
            .first()
        )
        if paid is None:
            return "—"
        at, amount, currency, reference = paid
        return f"{timezone.localtime(at):%Y-%m-%d %H:%M} · {amount} {currency} ({reference})"

    @admin.display(description="Failed charges")
    def payment_failures(self, line: Line) -> str:
        sub = self._subscription(line)
        if sub is None:
            return "—"
        if not sub.failures:
            return "0"
        when = timezone.localtime(sub.last_failure_at) if sub.last_failure_at else None
        return f"{sub.failures} (last {when:%Y-%m-%d %H:%M})" if when else str(sub.failures)

    def get_urls(self):
        operate = self.admin_site.admin_view(require_POST(self.operate_view))
        return [
            path("<path:object_id>/operate/", operate, name="provisioning_line_operate"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The panel is asked here, before Django's change view opens its transaction.
        line = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if line is not None:
            extra_context.update(
                panel_state=line_panel_state(line=line),
                line_sections=_line_sections(line),
                operate_url=reverse("admin:provisioning_line_operate", args=[line.pk]),
                operate_actions=OPERATOR_ACTIONS,
                operate_panels=Panel.objects.filter(enabled=True).exclude(pk=line.panel_id),
                recent_operations=line.operations.order_by("-created_at", "-id")[:10],
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def operate_view(self, request, object_id):
        line = get_object_or_404(Line.objects.select_related("plan", "panel"), pk=object_id)
        if not self.has_change_permission(request, line):
            raise PermissionDenied
        back = reverse("admin:provisioning_line_change", args=[line.pk])
        form = LineOperateForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    self.message_user(request, error, messages.ERROR)
            return redirect(back)
        data = form.cleaned_data
        try:
            with transaction.atomic():
                op = line_operator_request(
                    line=line,
                    action=data["action"],
                    actor=request.user.get_username(),
                    expires_at=form.expires_at,
                    connections=data.get("connections"),
                    panel=data.get("panel"),
                )
        except ValueError as exc:
            self.message_user(request, str(exc).capitalize(), messages.ERROR)
            return redirect(back)
        self.message_user(
            request,
            f"{op.get_kind_display()} queued for {line.username}; its progress is shown below.",
            messages.SUCCESS,
        )
        return redirect(back)

    @admin.action(description="Move to the target panel (same login, same expiry)")
    def move_to_panel(self, request, queryset):
        panel = Panel.objects.filter(pk=request.POST.get("panel") or None).first()
        if panel is None:
            self.message_user(request, "Choose a target panel first.", messages.ERROR)
            return
        moved = 0
        for line in queryset.exclude(panel=panel).filter(status__in=["active", "suspended"]):
            line_move(line=line, panel=panel, actor=request.user.get_username())
            moved += 1
        self.message_user(request, f"{moved} lines are moving to {panel.name}.", messages.SUCCESS)


@admin.register(PanelOperation)
class PanelOperationAdmin(ModelAdmin):
    list_display = [
        "id",
        "kind",
        "line",
        "panel",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error_code",
        "created_at",
    ]
    list_filter = ["status", "kind", "panel", IncidentFilter]
    search_fields = ["line__username", "order__reference", "idempotency_key"]
    exclude = ["secret"]
    readonly_fields = [
        "line",
        "panel",
        "order",
        "kind",
        "status",
        "params",
        "idempotency_key",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_error",
        "last_error_code",
        "created_at",
        "started_at",
        "finished_at",
        "delay_notified_at",
    ]
    list_select_related = ["line", "panel"]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        n = sum(
            operation_retry_now(operation=op, actor=request.user.get_username()) for op in queryset
        )
        self.message_user(request, f"{n} operations sent back to the queue", messages.SUCCESS)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ModelAdmin):
    """Which `boxoffice worker` processes are alive: a stale row is a worker that stopped
    beating without saying goodbye (killed, hung, or its machine is gone)."""

    list_display = [
        "worker_id",
        "host",
        "pid",
        "state_label",
        "threads",
        "last_beat_at",
        "started_at",
    ]
    search_fields = ["worker_id", "host"]
    readonly_fields = [
        "worker_id",
        "host",
        "pid",
        "threads_alive",
        "threads_total",
        "started_at",
        "last_beat_at",
        "stopped_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="state")
    def state_label(self, obj: WorkerHeartbeat) -> str:
        return {
            "running": "running",
            "degraded": "DEGRADED (threads died)",
            "stale": "STALE (no heartbeat)",
            "stopped": "stopped",
        }[obj.state]

    @admin.display(description="task threads alive")
    def threads(self, obj: WorkerHeartbeat) -> str:
        return f"{obj.threads_alive}/{obj.threads_total}"


class ReassignmentJobForm(forms.ModelForm):
    stop_selling = forms.BooleanField(
        required=False,
        initial=True,
        label="Stop selling on the panel",
        help_text="Disable the panel first, so routing puts no new line there",
    )

    class Meta:
        model = ReassignmentJob
        fields = ["from_panel", "to_panel", "max_in_flight"]

    def clean(self):
        cleaned = super().clean()
        source, target = cleaned.get("from_panel"), cleaned.get("to_panel")
        if source is not None and source == target:
            self.add_error("to_panel", "The target panel is the panel being emptied.")
        running = (
            ReassignmentJob.objects.filter(from_panel=source, status="running").first()
            if source is not None
            else None
        )
        if running is not None:
            self.add_error(
                "from_panel", f"Job #{running.pk} is already moving the lines off {source.name}."
            )
        return cleaned


@admin.register(ReassignmentJob)
class ReassignmentJobAdmin(ModelAdmin):
    """Retiring a panel: "Add" starts moving all its lines (a durable job, resumable after a
    crash); its page shows the progress. Also `boxoffice reassign-lines`."""

    form = ReassignmentJobForm
    list_display = ["id", "from_panel", "to_panel", "status", "progress", "created_by"]
    list_filter = ["status"]
    actions = ["cancel_jobs"]
    progress_fields = [
        "status",
        "progress",
        "total",
        "queued",
        "moved",
        "failed",
        "skipped",
        "last_error",
        "created_by",
        "created_at",
        "finished_at",
    ]

    @admin.display(description="progress")
    def progress(self, job: ReassignmentJob) -> str:
        return f"{job.moved} of {job.total} moved, {job.failed} failed, {job.skipped} skipped"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["from_panel", "to_panel", "max_in_flight", *self.progress_fields]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["from_panel", "to_panel", "max_in_flight", "stop_selling"]
        return self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        # The job is made by its service (the panel disabled, the first step queued).
        job = reassignment_job_create(
            from_panel=form.cleaned_data["from_panel"],
            to_panel=form.cleaned_data.get("to_panel"),
            actor=request.user.get_username(),
            max_in_flight=form.cleaned_data["max_in_flight"],
            stop_selling=form.cleaned_data["stop_selling"],
        )
        obj.pk = job.pk
        obj.refresh_from_db()

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValueError as exc:
            text = str(exc)
            self.message_user(request, f"{text[:1].upper()}{text[1:]}.", messages.ERROR)
            return redirect(reverse("admin:provisioning_reassignmentjob_changelist"))

    @admin.action(description="Cancel (stop queueing moves)")
    def cancel_jobs(self, request, queryset):
        n = sum(
            reassignment_job_cancel(job=job, actor=request.user.get_username()) for job in queryset
        )
        self.message_user(request, f"{n} jobs cancelled", messages.SUCCESS)


@admin.register(SaleBlock)
class SaleBlockAdmin(ModelAdmin):
    """Plans checkout refused to sell, before any payment, because no panel could take them."""

    list_display = ["plan", "scope", "opened_at", "refusals", "alerted_at", "resolved_at"]
    list_filter = ["resolved_at"]
    readonly_fields = ["plan", "scope", "detail", "opened_at", "refusals", "alerted_at"]

    def has_add_permission(self, request):
        return False


# --- the welcome sequence ------------------------------------------------------------------


def _welcome_section(line: Line) -> tuple[str, list[tuple[str, str]]]:
    """The line's welcome steps on its page: when, what happened, which day-1 variant."""
    rows = []
    activity = LineActivity.objects.filter(line=line).first()
    if activity is not None:
        watched = activity.first_watched_at
        rows.append(
            (
                "First seen watching",
                f"{watched:%Y-%m-%d %H:%M}" if watched else f"not yet ({activity.checks} checks)",
            )
        )
    for step in OnboardingStep.objects.filter(line=line).order_by("due_at"):
        what = step.get_status_display()
        if step.variant:
            what += f" ({step.get_variant_display()})"
        if step.skip_reason:
            what += f": {step.skip_reason}"
        rows.append((step.get_step_display(), f"{what}, due {step.due_at:%Y-%m-%d %H:%M}"))
    return "Welcome sequence", rows or [("Steps", "none (the line was never activated)")]


line_page_sections.append(_welcome_section)


@admin.register(OnboardingSettings)
class OnboardingSettingsAdmin(ModelAdmin):
    """One row: the welcome sequence's offsets, switches and links."""

    fieldsets = [
        ("Mail 2 (day 1)", {"fields": ["day1_enabled", "day1_offset_hours"]}),
        ("Mail 3 (day 3)", {"fields": ["day3_enabled", "day3_offset_hours", "vod_plans"]}),
        ("Mail 4 (day 7)", {"fields": ["day7_enabled", "day7_offset_hours", "community_url"]}),
        ("Help", {"fields": ["knowledge_base_url", "support_url"]}),
    ]
    filter_horizontal = ["vod_plans"]

    def has_add_permission(self, request):
        return not OnboardingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            moved = onboarding_settings_apply(config=obj)
        if moved:
            messages.info(request, f"{moved} scheduled welcome mails moved to the new offsets.")


@admin.register(OnboardingStep)
class OnboardingStepAdmin(ModelAdmin):
    list_display = ["line", "step", "due_at", "status", "variant", "skip_reason", "message"]
    list_filter = ["step", "status", "variant"]
    search_fields = ["line__username", "line__customer__email"]
    readonly_fields = [
        "line",
        "step",
        "due_at",
        "status",
        "variant",
        "skip_reason",
        "message",
        "created_at",
        "decided_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(LineActivity)
class LineActivityAdmin(ModelAdmin):
    list_display = ["line", "first_watched_at", "active_connections", "checks", "last_checked_at"]
    search_fields = ["line__username", "line__customer__email"]
    readonly_fields = [
        "line",
        "first_watched_at",
        "last_active_at",
        "active_connections",
        "checks",
        "last_checked_at",
        "next_check_at",
        "watch_until",
        "last_error",
    ]

    def has_add_permission(self, request):
        return False


# The drift report and the actions on drift rows.
from boxoffice.provisioning import drift_admin  # noqa: E402, F401
