from django.apps import AppConfig
from django.conf import settings


class BillingConfig(AppConfig):
    name = "boxoffice.billing"
    label = "billing"

    def ready(self) -> None:
        # Every process Django starts in production (web, worker, migrate, check, ...) refuses
        # to go on with the emulators' secrets, the demo bank account, DEBUG or a plain-http
        # site: before it serves, or confirms, a single payment.
        if settings.PRODUCTION:
            from boxoffice.lib.production import production_settings_check

            production_settings_check(settings)
