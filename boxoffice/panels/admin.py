from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline

from boxoffice.lib.http import http_deadline
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.services import (
    incident_operations_url,
    panel_call_deadline_seconds,
    panel_probe,
)

# The editable fields, grouped as the change page shows them; the form takes the same list.
PANEL_EDITABLE_GROUPS = [
    (None, ["name", "kind", "enabled", "priority"]),
    (
        "Admin API",
        ["api_url", "access_code", "api_key", "verify_tls", "timeout_seconds", "max_concurrency"],
    ),
    ("Customers", ["public_url", "m3u_style", "epg_style"]),
    ("Routing", ["capacity", "regions"]),
]


class PanelForm(forms.ModelForm):
    # The key is write-only in the back office: shown never, replaced only when a new one is typed.
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )

    class Meta:
        model = Panel
        fields = [f for _, group in PANEL_EDITABLE_GROUPS for f in group]

    def clean_api_key(self):
        value = self.cleaned_data.get("api_key")
        if not value and self.instance.pk:
            return Panel.objects.get(pk=self.instance.pk).api_key
        return value


class IncidentInline(TabularInline):
    model = Incident
    extra = 0
    fields = [
        "kind",
        "opened_at",
        "recovered_at",
        "resolved_at",
        "alerted_at",
        "affected_operations",
        "summary",
    ]
    readonly_fields = fields
    can_delete = False
    max_num = 0


@admin.register(Panel)
class PanelAdmin(ModelAdmin):
    form = PanelForm
    list_display = [
        "name",
        "kind",
        "health",
        "enabled",
        "capacity",
        "line_count",
        "last_probe_at",
        "last_error",
    ]
    list_filter = ["kind", "health", "enabled"]
    search_fields = ["name", "api_url", "public_url"]
    readonly_fields = [
        "health",
        "consecutive_failures",
        "down_since",
        "next_probe_at",
        "last_probe_at",
        "last_error",
    ]
    actions = ["probe_now"]
    inlines = [IncidentInline]
    fieldsets = [
        *((title, {"fields": group}) for title, group in PANEL_EDITABLE_GROUPS),
        ("Health", {"fields": readonly_fields}),
    ]

    @admin.display(description="Lines")
    def line_count(self, obj):
        return obj.lines.exclude(status="cancelled").count()

    @admin.action(description="Probe now (and drain the queue if it is back)")
    def probe_now(self, request, queryset):
        # No transaction here: the probe is a network call, and SQLite would hold its one
        # write lock (every other writer waits) for as long as a slow panel takes to answer.
        for panel in queryset:
            was_down = panel.is_down
            with http_deadline(panel_call_deadline_seconds()):
                ok = panel_probe(panel=panel)
            level = messages.SUCCESS if ok else messages.ERROR
            text = f"{panel.name}: {'up' if ok else 'down — ' + panel.last_error}"
            if ok and was_down:
                text += "; its waiting operations are released"
            self.message_user(request, text, level)


@admin.register(Incident)
class IncidentAdmin(ModelAdmin):
    list_display = [
        "panel",
        "kind",
        "opened_at",
        "recovered_at",
        "resolved_at",
        "alerted_at",
        "affected_operations",
        "operations_link",
    ]
    list_filter = ["kind", "panel"]
    actions = ["resolve"]

    @admin.display(description="Operations")
    def operations_link(self, obj):
        url = incident_operations_url(obj).split("/admin/", 1)[1]
        return format_html('<a href="/admin/{}">show</a>', url)

    @admin.action(description="Mark resolved")
    def resolve(self, request, queryset):
        n = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(request, f"{n} incidents resolved")
