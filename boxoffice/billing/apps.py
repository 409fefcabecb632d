from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "boxoffice.billing"
    label = "billing"
