from django import forms
from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline
from unfold.widgets import UnfoldAdminSelectMultipleWidget, UnfoldAdminSelectWidget

from boxoffice.catalog.models import Plan, PlanPanel, PlanPrice
from boxoffice.panels.panel_catalog import (
    MAPPING_LISTS,
    mapping_described,
    mapping_unknown_ids,
    panel_catalog_names,
)


class PlanPanelForm(forms.ModelForm):
    """The mapping as JSON, and for a saved row whose panel's bouquets/packages were synced, a
    choice by name for each of those plan fields (it wins over the JSON for that field)."""

    # One column per list that can be synced; a row whose panel has no synced names for it
    # shows the column disabled (the JSON mapping still works there).
    named_package = forms.ChoiceField(
        required=False, label="Package (by name)", widget=UnfoldAdminSelectWidget()
    )
    named_bouquets = forms.MultipleChoiceField(
        required=False, label="Bouquets (by name)", widget=UnfoldAdminSelectMultipleWidget()
    )

    class Meta:
        model = PlanPanel
        fields = ["panel", "mapping"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.named_fields: list[str] = []
        panel = self.instance.panel if self.instance.pk else None
        cls = panel.kind_class if panel is not None else None
        declared = {spec.name: spec for spec in (cls.plan_fields if cls is not None else ())}
        for name, list_name in MAPPING_LISTS.items():
            field = self.fields[f"named_{name}"]
            names = panel_catalog_names(panel, list_name) if panel and name in declared else {}
            if not names:
                field.disabled = True
                field.choices = [("", "—")]
                continue
            choices = [(i, f"{label} ({i})") for i, label in names.items()]
            current = (self.instance.mapping or {}).get(name)
            if isinstance(field, forms.MultipleChoiceField):
                field.choices = choices
                field.initial = [str(v) for v in current or []]
            else:
                field.choices = [("", "—"), *choices]
                field.initial = str(current) if current not in (None, "") else ""
            self.named_fields.append(name)

    def clean(self):
        cleaned = super().clean()
        mapping = dict(cleaned.get("mapping") or {})
        for name in self.named_fields:
            value = cleaned.get(f"named_{name}")
            if isinstance(value, list):
                mapping[name] = [int(v) for v in value]
            elif value:
                mapping[name] = int(value)
        cleaned["mapping"] = mapping
        self.instance.mapping = mapping
        return cleaned


class PlanPanelInline(TabularInline):
    model = PlanPanel
    form = PlanPanelForm
    extra = 0
    readonly_fields = ["mapped_names"]

    def get_fields(self, request, obj=None):
        # A by-name column only where some row's panel has synced names for it.
        shown = []
        for name, list_name in MAPPING_LISTS.items():
            mappings = obj.panel_mappings.select_related("panel") if obj else []
            if any(panel_catalog_names(m.panel, list_name) for m in mappings):
                shown.append(f"named_{name}")
        return ["panel", "mapping", *shown, "mapped_names"]

    @admin.display(description="On the panel")
    def mapped_names(self, obj):
        if not obj or not obj.pk:
            return ""
        text = mapping_described(obj.panel, obj.mapping or {})
        unknown = mapping_unknown_ids(obj.panel, obj.mapping or {})
        return f"{text} — not on the panel: {'; '.join(unknown)}" if unknown else text


class PlanPriceInline(TabularInline):
    model = PlanPrice
    extra = 0
    verbose_name = "price in another currency"
    verbose_name_plural = "prices in other currencies"


@admin.register(Plan)
class PlanAdmin(ModelAdmin):
    list_display = [
        "name",
        "slug",
        "duration_days",
        "duration_hours",
        "connections",
        "price",
        "currency",
        "username_strategy",
        "active",
    ]
    list_filter = ["active", "username_strategy", "is_trial"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PlanPriceInline, PlanPanelInline]
