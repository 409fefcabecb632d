from django.apps import AppConfig


class PanelsConfig(AppConfig):
    name = "boxoffice.panels"
    label = "panels"
