from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "boxoffice.api"
    label = "api"
