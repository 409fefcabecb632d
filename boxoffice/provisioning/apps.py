from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "boxoffice.provisioning"
    label = "provisioning"

    def ready(self) -> None:
        # Imported here, not at module level: an AppConfig module is imported before the
        # models registry is ready, and reconcile imports models.
        from boxoffice.panels.adapters.registry import line_password_lookup_register
        from boxoffice.panels.signals import panel_back_up

        # The welcome mails register for the back office's editor where they are written
        # (welcome_emails.py; the registry's discovery imports only emails.py).
        from boxoffice.provisioning import welcome_emails  # noqa: F401
        from boxoffice.provisioning.reconcile import operations_drain
        from boxoffice.provisioning.selectors import line_password_on_panel

        # A panel that answers again releases the operations that waited for it, whoever
        # probed it (the scheduler's probe task or the back office's "probe now").
        panel_back_up.connect(operations_drain, dispatch_uid="provisioning.operations_drain")
        # Xtream UI names a line by username and password: the adapter asks for ours.
        line_password_lookup_register(line_password_on_panel)
