from django.contrib import admin
from unfold.admin import ModelAdmin

from boxoffice.messaging.models import AddressStatus, Message
from boxoffice.messaging.provider_events import address_suppression_clear


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


@admin.register(AddressStatus)
class AddressStatusAdmin(ModelAdmin):
    """Addresses a mail provider reported (bounces, complaints): what stopped and why."""

    list_display = ["address", "suppressed_at", "reason", "esp", "soft_bounces", "last_event_at"]
    list_filter = ["reason", "esp"]
    search_fields = ["address"]
    readonly_fields = [
        "address",
        "suppressed_at",
        "reason",
        "detail",
        "esp",
        "soft_bounces",
        "last_event_at",
        "cleared_at",
        "cleared_by",
    ]
    actions = ["clear"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Let non-essential mail go to these addresses again")
    def clear(self, request, queryset):
        actor = request.user.get_username()
        cleared = sum(
            address_suppression_clear(address=status.address, actor=actor) for status in queryset
        )
        self.message_user(request, f"{cleared} address(es) cleared.")
