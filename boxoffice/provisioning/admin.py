from django import forms
from django.contrib import admin, messages
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import ActionForm
from unfold.widgets import UnfoldAdminSelectWidget

from boxoffice.panels.models import Incident, Panel
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import (
    line_move,
    operation_retry_now,
    operations_in_incident,
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


@admin.register(Line)
class LineAdmin(ModelAdmin):
    list_display = [
        "username",
        "customer",
        "plan",
        "panel",
        "status",
        "connections",
        "expires_at",
        "username_adjusted",
    ]
    list_filter = ["status", "panel", "plan", "username_adjusted"]
    search_fields = ["username", "customer__email", "order__reference", "panel_line_id"]
    readonly_fields = [
        "panel_line_id",
        "requested_username",
        "username_adjusted",
        "activated_at",
        "created_at",
        "order",
    ]
    exclude = ["password"]
    list_select_related = ["customer", "plan", "panel"]
    inlines = [OperationInline]
    action_form = LineActionForm
    actions = ["move_to_panel"]

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
