from django.contrib import admin, messages
from unfold.admin import ModelAdmin, TabularInline

from boxoffice.billing.models import Order, Payment, WebhookEvent
from boxoffice.billing.services import order_mark_paid


class PaymentInline(TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["created_at", "gateway", "status", "amount", "currency", "gateway_payment_id", "note"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ModelAdmin):
    list_display = [
        "reference",
        "customer",
        "plan",
        "status",
        "amount",
        "currency",
        "gateway",
        "needs_review",
        "created_at",
    ]
    list_filter = ["status", "gateway", "needs_review", "kind"]
    search_fields = ["reference", "customer__email", "gateway_reference"]
    readonly_fields = [
        "reference",
        "created_at",
        "paid_at",
        "pending_since",
        "amount",
        "currency",
    ]
    # The status-token hash is useless to an operator and the line password is on the Line.
    exclude = ["preferred_password", "status_token_hash"]
    list_select_related = ["customer", "plan"]
    inlines = [PaymentInline]
    actions = ["confirm_payment"]

    @admin.action(description="Confirm payment received (bank transfer) and provision")
    def confirm_payment(self, request, queryset):
        done = 0
        for order in queryset:
            if order_mark_paid(
                order=order, actor=request.user.get_username(), note="confirmed by operator"
            ):
                done += 1
        self.message_user(
            request, f"{done} orders confirmed; their lines are being created.", messages.SUCCESS
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ModelAdmin):
    list_display = ["received_at", "gateway", "event_type", "event_id", "status"]
    list_filter = ["gateway", "status", "event_type"]
    search_fields = ["event_id"]
    readonly_fields = [
        "gateway",
        "event_id",
        "event_type",
        "payload",
        "status",
        "error",
        "received_at",
        "processed_at",
    ]

    def has_add_permission(self, request):
        return False
