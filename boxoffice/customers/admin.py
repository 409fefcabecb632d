from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_change_email
from boxoffice.messaging.provider_events import address_suppression


@admin.register(Customer)
class CustomerAdmin(ModelAdmin):
    list_display = ["email", "name", "country", "email_verified_at", "created_at"]
    search_fields = ["email", "name"]
    list_filter = ["country"]
    readonly_fields = ["user", "email_verified_at", "mail_delivery", "created_at"]

    @admin.display(description="Mail delivery")
    def mail_delivery(self, obj):
        # Why the customer stopped getting offers and the welcome mails (a bounce, a complaint).
        status = address_suppression(obj.email) if obj.pk else None
        if status is None:
            return "Delivered normally"
        url = reverse("admin:messaging_addressstatus_change", args=[status.pk])
        return format_html(
            "{} reported by {} on {}: only transactional mail (credentials, receipts, security "
            'notices) goes to this address. {} <a href="{}">Details and clear</a>',
            status.get_reason_display(),
            status.esp or "the mail provider",
            f"{status.suppressed_at:%Y-%m-%d %H:%M} UTC",
            status.detail,
            url,
        )

    def save_model(self, request, obj, form, change):
        if change and "email" in form.changed_data:
            # Through the service: the login follows and links sent to the old address die.
            new_email = obj.email
            obj.email = form.initial["email"]
            super().save_model(request, obj, form, change)
            customer_change_email(customer=obj, email=new_email, actor=request.user.get_username())
            return
        super().save_model(request, obj, form, change)
