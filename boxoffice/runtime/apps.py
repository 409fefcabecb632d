from django.apps import AppConfig
from django.conf import settings


class RuntimeConfig(AppConfig):
    """The processes: `boxoffice run`, `web`, `worker` (task threads and the scheduler that calls
    each app's reconcile passes) and `check`. The one app allowed to know every other app."""

    name = "boxoffice.runtime"
    label = "runtime"

    def ready(self) -> None:
        # Whoever queues a task wakes the workers (runtime/wakeup.py): no polling hop.
        from django_tasks.signals import task_enqueued

        from boxoffice.runtime.wakeup import wakeup_send

        task_enqueued.connect(wakeup_send, dispatch_uid="boxoffice-wakeup")
        # Every process Django starts in production (web, worker, migrate, check, ...) refuses
        # to go on with the emulators' secrets, the demo bank account, DEBUG or a plain-http
        # site: before it serves, or confirms, a single payment.
        if settings.PRODUCTION:
            from boxoffice.runtime.production import production_settings_check

            production_settings_check(settings)
