from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from boxoffice.catalog.models import Plan, PlanPanel


class PlanPanelInline(TabularInline):
    model = PlanPanel
    extra = 0


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
    inlines = [PlanPanelInline]
