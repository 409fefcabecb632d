from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "boxoffice.insights"
    label = "insights"
