from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from boxoffice.catalog.models import Plan, PlanPanel, PlanPrice


class PlanPanelInline(TabularInline):
    model = PlanPanel
    extra = 0


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
