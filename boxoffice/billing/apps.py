from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "boxoffice.billing"
    label = "billing"

    def ready(self):
        from boxoffice.billing.gateways.registry import accounts_source_set
        from boxoffice.billing.models import gateway_accounts

        # The registry configures a kind from its back-office account when it has one.
        accounts_source_set(gateway_accounts)
