from django.contrib import admin
from unfold.admin import ModelAdmin

from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_change_email


@admin.register(Customer)
class CustomerAdmin(ModelAdmin):
    list_display = ["email", "name", "country", "email_verified_at", "created_at"]
    search_fields = ["email", "name"]
    list_filter = ["country"]
    readonly_fields = ["user", "email_verified_at", "created_at"]

    def save_model(self, request, obj, form, change):
        if change and "email" in form.changed_data:
            # Through the service: the login follows and links sent to the old address die.
            new_email = obj.email
            obj.email = form.initial["email"]
            super().save_model(request, obj, form, change)
            customer_change_email(customer=obj, email=new_email, actor=request.user.get_username())
            return
        super().save_model(request, obj, form, change)
