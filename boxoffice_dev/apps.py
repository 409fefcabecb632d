from django.apps import AppConfig


class BoxofficeDevConfig(AppConfig):
    """Development tools beside the product: the panel and Stripe emulators, the local inbox and
    its back-office pages. Installed only outside production, and only where this package is
    installed (the `dev` extra); the product never imports it."""

    name = "boxoffice_dev"
    label = "boxoffice_dev"
    verbose_name = "Development tools"
