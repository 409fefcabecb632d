from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "boxoffice.support"
    label = "support"
