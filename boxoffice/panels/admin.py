from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldAdminURLInputWidget,
    UnfoldBooleanSwitchWidget,
)

from boxoffice.lib.http import http_deadline
from boxoffice.panels.adapters.base import ConfigField, PanelAdapter
from boxoffice.panels.adapters.registry import ADAPTERS
from boxoffice.panels.credits import (
    credits_text,
    panel_credits_refresh,
    panel_sells_on_credits,
)
from boxoffice.panels.models import Incident, Panel
from boxoffice.panels.panel_catalog import panel_catalog_sync
from boxoffice.panels.services import (
    incident_operations_url,
    panel_call_deadline_seconds,
    panel_probe,
)

# The editable columns every kind has, grouped as the change page shows them; the kind's own
# settings (its declared `config_fields`) come after the Admin API group.
PANEL_EDITABLE_GROUPS = [
    (None, ["name", "kind", "enabled", "priority"]),
    ("Admin API", ["api_url", "verify_tls", "timeout_seconds", "max_concurrency"]),
    ("Customers", ["public_url"]),
    ("Routing", ["capacity", "regions", "fallback_rank"]),
]


def _form_field(spec: ConfigField) -> forms.Field:
    """A form field for one of the kind's declared settings, with the back office's widgets."""
    common = {"label": spec.label, "help_text": spec.help, "required": False}
    if spec.secret:
        # Write-only in the back office: shown never, replaced only when a new one is typed.
        return forms.CharField(widget=UnfoldAdminPasswordWidget(render_value=False), **common)
    if spec.kind == "bool":
        return forms.BooleanField(
            initial=spec.initial(), widget=UnfoldBooleanSwitchWidget(), **common
        )
    if spec.kind == "int":
        return forms.IntegerField(
            initial=spec.initial(), widget=UnfoldAdminIntegerFieldWidget(), **common
        )
    if spec.kind == "url":
        return forms.URLField(
            initial=spec.initial(),
            assume_scheme="https",
            widget=UnfoldAdminURLInputWidget(),
            **common,
        )
    if spec.kind == "choice":
        return forms.ChoiceField(
            choices=spec.choices,
            initial=spec.initial(),
            widget=UnfoldAdminSelectWidget(),
            **common,
        )
    return forms.CharField(initial=spec.initial(), widget=UnfoldAdminTextInputWidget(), **common)


# The same widgets for every declared field in the back office (payment gateways use it too).
config_form_field = _form_field


class PanelForm(forms.ModelForm):
    """The common columns, plus the fields the panel's kind declares (`kind_class`)."""

    kind_class: type[PanelAdapter] | None = None

    class Meta:
        model = Panel
        fields = [f for _, group in PANEL_EDITABLE_GROUPS for f in group]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "fallback_rank" in self.fields:
            self.fields["fallback_rank"].required = False  # empty: the default order
        if "kind" in self.fields:
            self.fields["kind"].help_text = (
                "Choose the kind first: its own settings below follow it once the page is "
                "saved (or opened as …/add/?kind=<kind>)."
            )
        if self.kind_class is None or not self.instance.pk:
            return
        if self.instance.kind != self.kind_class.kind:
            return  # the kind is being changed: the new kind's fields start empty
        for spec in self.kind_class.config_fields:
            if not spec.secret:
                value = self.instance.settings.get(spec.name)
                if value is not None:
                    self.initial[spec.name] = value

    def clean_fallback_rank(self):
        value = self.cleaned_data.get("fallback_rank")
        return Panel._meta.get_field("fallback_rank").default if value is None else value

    def _post_clean(self):
        # The kind's fields go into settings/secrets before the model validates them.
        cls = self.kind_class
        if cls is not None and self.cleaned_data.get("kind") == cls.kind:
            old = Panel.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
            same_kind = old is not None and old.kind == cls.kind
            settings, secrets = {}, {}
            for spec in cls.config_fields:
                value = self.cleaned_data.get(spec.name)
                if spec.secret:
                    if not value and same_kind:
                        value = old.secrets.get(spec.name)  # leave blank to keep
                    if value:
                        secrets[spec.name] = value
                elif value not in (None, ""):
                    settings[spec.name] = value
            self.instance.settings, self.instance.secrets = settings, secrets
        super()._post_clean()


def panel_form_for(kind: str | None) -> type[PanelForm]:
    cls = ADAPTERS.get(kind or "") or next(iter(ADAPTERS.values()))
    clash = {f.name for f in cls.config_fields} & set(PanelForm.Meta.fields)
    if clash:
        raise ValueError(f"{cls.label} declares fields that are common columns: {clash}")
    attrs = {"kind_class": cls, **{f.name: _form_field(f) for f in cls.config_fields}}
    return type(f"{cls.__name__}PanelForm", (PanelForm,), attrs)


def _request_kind(request, obj) -> str | None:
    return request.POST.get("kind") or request.GET.get("kind") or (obj.kind if obj else None)


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
        "credits",
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
        "reconciliation",
    ]
    actions = ["probe_now", "sync_catalog"]
    inlines = [IncidentInline]
    # Shown on the change page, read-only: what the panel last reported.
    reported_fields = ["credits", "credits_checked_at", "synced_catalog", "catalog_synced_at"]

    def get_fieldsets(self, request, obj=None):
        form = panel_form_for(_request_kind(request, obj))
        kind_fields = [f.name for f in form.kind_class.config_fields]
        groups = [(title, {"fields": group}) for title, group in PANEL_EDITABLE_GROUPS]
        if kind_fields:
            groups.insert(2, (f"{form.kind_class.label} settings", {"fields": kind_fields}))
        groups.append(("Health", {"fields": self.readonly_fields}))
        if obj is not None:
            groups.append(("Reported by the panel", {"fields": self.reported_fields}))
        return groups

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *(self.reported_fields if obj is not None else [])]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = panel_form_for(_request_kind(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="Reconciliation")
    def reconciliation(self, obj):
        # By URL name only: the drift report belongs to provisioning, which panels never import.
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:provisioning_linedrift_report")
        return format_html('<a href="{}?panel={}">Drift report for this panel</a>', url, obj.pk)

    @admin.display(description="Lines")
    def line_count(self, obj):
        # The occupied counter routing reads (no count of lines per row), and the panel's own
        # count where its kind reports one.
        if obj.lines_on_panel is not None and obj.lines_on_panel != obj.lines_held:
            return f"{obj.lines_held} (panel reports {obj.lines_on_panel})"
        return obj.lines_held

    @admin.display(description="Credits", ordering="credits_balance")
    def credits(self, obj):
        if not panel_sells_on_credits(obj):
            return "—"
        if obj.credits_balance is None:
            return "not read yet"
        low = obj.incidents.filter(kind=Incident.Kind.LOW_CREDITS, resolved_at__isnull=True)
        text = credits_text(obj.credits_balance)
        if low.exists():
            return format_html('<strong class="text-red-600">{} (low)</strong>', text)
        return text

    @admin.display(description="Bouquets and packages")
    def synced_catalog(self, obj):
        catalog = obj.catalog or {}
        rows = [("bouquet", b) for b in catalog.get("bouquets") or []]
        rows += [("package", p) for p in catalog.get("packages") or []]
        if not rows:
            return catalog.get("error") or "not synced yet (action: Sync bouquets and packages)"
        items = format_html_join(
            "",
            "<li>{} {}: {}{}</li>",
            (
                (
                    what,
                    row.get("id"),
                    row.get("name"),
                    f" — {row['credits']} credits, {row.get('duration_days')} days"
                    if row.get("credits") is not None
                    else "",
                )
                for what, row in rows
            ),
        )
        error = catalog.get("error")
        return format_html("<ul>{}</ul>{}", items, f"Last sync failed: {error}" if error else "")

    @admin.action(description="Sync bouquets and packages (and credits) from the panel")
    def sync_catalog(self, request, queryset):
        # No transaction: network calls (see probe_now).
        for panel in queryset:
            with http_deadline(panel_call_deadline_seconds() * 3):
                catalog = panel_catalog_sync(panel=panel)
                balance = panel_credits_refresh(panel=panel)
            if catalog.get("error"):
                self.message_user(request, f"{panel.name}: {catalog['error']}", messages.ERROR)
                continue
            # Only the lists this kind gives (a reseller API lists no bouquets).
            counts = [f"{len(catalog[n])} {n}" for n in ("bouquets", "packages") if n in catalog]
            text = f"{panel.name}: {', '.join(counts) or 'nothing to list'}"
            if balance is not None:
                text += f", {credits_text(balance.credits)} credits"
            self.message_user(request, text, messages.SUCCESS)

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
