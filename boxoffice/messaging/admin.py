from django.contrib import admin
from unfold.admin import ModelAdmin

from boxoffice.messaging.models import Message


@admin.register(Message)
class MessageAdmin(ModelAdmin):
    list_display = ["created_at", "kind", "to_email", "subject", "status", "attempts"]
    list_filter = ["kind", "status"]
    search_fields = ["to_email", "subject"]
    exclude = ["body_text", "body_html"]  # credential mail carries passwords
    readonly_fields = [
        "kind",
        "to_email",
        "subject",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "queued_at",
        "lease_expires_at",
        "headers",
        "dedupe_key",
        "customer",
        "order",
        "line",
        "created_at",
        "sent_at",
    ]

    def has_add_permission(self, request):
        return False
