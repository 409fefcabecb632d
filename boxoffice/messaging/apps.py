from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class MessagingConfig(AppConfig):
    name = "boxoffice.messaging"
    label = "messaging"

    def ready(self) -> None:
        # Each app's mails live in its own `emails` module, which registers the checks its
        # mails need right before sending (messaging.services.stale_check_register); import
        # them all, as the admin does with `admin` modules, so a worker knows every check.
        autodiscover_modules("emails")
        # Bounces and complaints a mail provider posts (django-anymail's verified webhooks).
        from anymail.signals import tracking

        from boxoffice.messaging.provider_events import tracking_received

        tracking.connect(tracking_received, dispatch_uid="boxoffice-provider-events")
