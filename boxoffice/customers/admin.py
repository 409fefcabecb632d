from django.contrib import admin
from unfold.admin import ModelAdmin

from boxoffice.customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(ModelAdmin):
    list_display = ["email", "name", "country", "email_verified_at", "created_at"]
    search_fields = ["email", "name"]
    list_filter = ["country"]
    readonly_fields = ["user", "email_verified_at", "created_at"]
