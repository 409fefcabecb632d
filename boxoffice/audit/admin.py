from django.contrib import admin
from unfold.admin import ModelAdmin

from boxoffice.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ModelAdmin):
    list_display = ["created_at", "subject_type", "subject_id", "action", "actor"]
    list_filter = ["subject_type", "action"]
    search_fields = ["subject_id", "action"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
