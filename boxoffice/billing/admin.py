from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import ActionForm
from unfold.widgets import UnfoldAdminSelectWidget

from boxoffice.billing.models import (
    BusinessDetails,
    Coupon,
    CouponRedemption,
    Invoice,
    Order,
    Payment,
    Subscription,
    TaxRate,
    TrialClaim,
    WebhookEvent,
)
from boxoffice.billing.panel_override import order_route_to_panel
from boxoffice.billing.refunds import refund_refusal
from boxoffice.billing.renewal_view import lines_billing
from boxoffice.billing.services import order_transfer_refusal
from boxoffice.billing.webhooks import webhook_event_retry_now
from boxoffice.panels.models import Panel
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


class OrderActionForm(ActionForm):
    panel = forms.ModelChoiceField(
        queryset=Panel.objects.all(),
        required=False,
        label="Panel",
        empty_label="Panel (for “Send to panel”)",
        widget=UnfoldAdminSelectWidget,
    )


@admin.register(Order)
class OrderAdmin(ModelAdmin):
    list_display = [
        "reference",
        "customer",
        "plan",
        "kind",
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
        "refund_link",
        "invoice_links",
        "status",
        "amount",
        "currency",
        # An upgrade's or add-on's figures, frozen at checkout (billing/plan_changes.py).
        "quote",
        "gateway",
        "gateway_reference",
        "created_at",
        "paid_at",
        "pending_since",
        "balance_of",  # set by "Ask for the rest" in the review queue
        "panel_override",  # set by the "Send to panel" action (audited: who chose it)
    ]
    # The status-token hash is useless to an operator and the line password is on the Line.
    exclude = ["preferred_password", "status_token_hash"]
    list_select_related = ["customer", "plan"]
    inlines = [PaymentInline]
    action_form = OrderActionForm
    actions = ["send_to_panel"]

    @admin.action(description="Send to panel (manual routing override, before the line exists)")
    def send_to_panel(self, request, queryset):
        panel = Panel.objects.filter(pk=request.POST.get("panel") or None).first()
        if panel is None:
            self.message_user(request, "Choose the panel first.", messages.ERROR)
            return
        actor = request.user.get_username()
        for order in queryset.select_related("plan"):
            try:
                outcome = order_route_to_panel(order=order, panel=panel, actor=actor)
            except ValueError as exc:
                self.message_user(request, f"{order.reference}: {exc}.", messages.ERROR)
                continue
            what = (
                "its line is reserved there now"
                if outcome == "reserved"
                else "its line goes there when it is paid"
            )
            self.message_user(request, f"{order.reference} → {panel.name}: {what}.")

    def get_actions(self, request):
        # Orders are the ledger's spine: never deleted by "select all".
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Refund")
    def refund_link(self, order: Order) -> str:
        if not order.pk or refund_refusal(order):
            return "—"
        url = reverse("backoffice:order_refund", args=[order.pk])
        return format_html('<a href="{}">Refund…</a>', url)

    @admin.display(description="Invoices")
    def invoice_links(self, order: Order) -> str:
        invoices = list(order.invoices.order_by("pk")) if order.pk else []
        if not invoices:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("backoffice:invoice_pdf", args=[i.pk]), i.number) for i in invoices),
        )

    @admin.display(description="Bank transfer")
    def confirm_transfer(self, order: Order) -> str:
        if not order.pk or order_transfer_refusal(order):
            return "—"
        url = reverse("backoffice:confirm_transfer", args=[order.pk])
        return format_html('<a href="{}">Confirm payment received…</a>', url)


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


@admin.register(BusinessDetails)
class BusinessDetailsAdmin(ModelAdmin):
    """One row: the issuer on every invoice. Invoices already issued keep their details."""

    def has_add_permission(self, request):
        return not BusinessDetails.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(TaxRate)
class TaxRateAdmin(ModelAdmin):
    list_display = ["country", "name", "rate"]
    search_fields = ["country"]


@admin.register(Invoice)
class InvoiceAdmin(ModelAdmin):
    """Issued invoices and credit notes: read only (corrections are credit notes)."""

    list_display = ["number", "kind", "issued_at", "customer", "total", "currency", "pdf_link"]
    list_filter = ["kind", "series", "currency"]
    search_fields = ["number", "customer__email", "order__reference"]
    list_select_related = ["customer"]
    exclude = ["pdf"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Invoice._meta.fields if f.name != "pdf"] + ["pdf_link"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="PDF")
    def pdf_link(self, invoice: Invoice) -> str:
        return format_html(
            '<a href="{}">{}.pdf</a>',
            reverse("backoffice:invoice_pdf", args=[invoice.pk]),
            invoice.number,
        )


class CouponRedemptionInline(TabularInline):
    model = CouponRedemption
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["created_at", "order", "customer", "full_price", "discount"]
    readonly_fields = fields


@admin.register(Coupon)
class CouponAdmin(ModelAdmin):
    list_display = [
        "code",
        "kind",
        "value",
        "currency",
        "applies_to",
        "valid_from",
        "valid_until",
        "max_uses",
        "uses",
        "active",
    ]
    list_filter = ["active", "kind", "applies_to"]
    search_fields = ["code"]
    filter_horizontal = ["plans"]
    inlines = [CouponRedemptionInline]

    @admin.display(description="Uses")
    def uses(self, coupon: Coupon) -> int:
        return coupon.redemptions.count()

    def has_delete_permission(self, request, obj=None):
        # Used codes stay (their orders name them): switch one off instead.
        return obj is None or not obj.redemptions.exists()


@admin.register(Subscription)
class SubscriptionAdmin(ModelAdmin):
    """Read-only: every field is the gateway's, mirrored from re-fetched objects."""

    list_display = [
        "gateway_subscription_id",
        "customer",
        "plan",
        "line",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "last_paid_at",
        "failures",
    ]
    list_filter = ["gateway", "status", "cancel_at_period_end"]
    search_fields = ["gateway_subscription_id", "customer__email", "order__reference"]
    list_select_related = ["customer", "plan", "line"]
    readonly_fields = [f.name for f in Subscription._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The back office's payment gateways (GatewayAccount) live in their own module.
from boxoffice.billing import gateway_admin  # noqa: E402, F401
