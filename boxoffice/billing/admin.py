from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline

from boxoffice.billing.models import Order, Payment, TrialClaim, WebhookEvent
from boxoffice.billing.renewal_view import lines_billing
from boxoffice.billing.services import order_refundable, order_transfer_refusal
from boxoffice.billing.webhooks import webhook_event_retry_now
from boxoffice.provisioning.admin import line_page_sections


def _line_payments_section(line) -> tuple[str, list[tuple[str, str]]]:
    billing = lines_billing([line])[line.pk]
    last = (
        f"{billing.last_paid_at:%Y-%m-%d %H:%M}, {billing.last_amount} {billing.last_currency}"
        f" ({billing.last_gateway})"
        if billing.last_paid_at
        else "none recorded"
    )
    return "Payments", [
        ("Renews by", billing.mode),
        ("Last payment", last),
        ("Failed payments since", str(billing.failures)),
    ]


line_page_sections.append(_line_payments_section)


class PaymentInline(TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    max_num = 0
    fields = [
        "created_at",
        "gateway",
        "status",
        "amount",
        "currency",
        "gateway_payment_id",
        "received_on",
        "bank_reference",
        "note",
    ]
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
    # Money and its state change only through payments (gateways, or the transfer page).
    readonly_fields = [
        "reference",
        "confirm_transfer",
        "refund",
        "status",
        "amount",
        "currency",
        "gateway",
        "gateway_reference",
        "created_at",
        "paid_at",
        "pending_since",
    ]
    # The status-token hash is useless to an operator and the line password is on the Line.
    exclude = ["preferred_password", "status_token_hash"]
    list_select_related = ["customer", "plan"]
    inlines = [PaymentInline]

    def get_actions(self, request):
        # Orders are the ledger's spine: never deleted by "select all".
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Bank transfer")
    def confirm_transfer(self, order: Order) -> str:
        if not order.pk or order_transfer_refusal(order):
            return "—"
        url = reverse("backoffice:confirm_transfer", args=[order.pk])
        return format_html('<a href="{}">Confirm payment received…</a>', url)

    @admin.display(description="Refund")
    def refund(self, order: Order) -> str:
        if not order.pk:
            return "—"
        left, refusal = order_refundable(order)
        if refusal:
            return "—"
        url = reverse("backoffice:refund_order", args=[order.pk])
        return format_html('<a href="{}">Refund (up to {} {})…</a>', url, left, order.currency)


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
        "attempts",
        "next_attempt_at",
        "received_at",
        "processed_at",
    ]

    actions = ["retry_processing"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry processing (events that stopped)")
    def retry_processing(self, request, queryset):
        actor = request.user.get_username()
        done = sum(webhook_event_retry_now(event=event, actor=actor) for event in queryset)
        self.message_user(
            request,
            f"{done} events sent back to processing; events that did not stop are unchanged.",
            messages.SUCCESS,
        )


@admin.register(TrialClaim)
class TrialClaimAdmin(ModelAdmin):
    """Who had a free trial: read-only; deleting a claim lets that e-mail, box or connection
    take a trial again before the window ends."""

    list_display = ["claimed_at", "kind", "value", "order"]
    list_filter = ["kind"]
    search_fields = ["value", "order__reference"]
    readonly_fields = ["kind", "value", "order", "claimed_at"]

    def has_add_permission(self, request) -> bool:
        return False
