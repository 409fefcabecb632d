from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "boxoffice.lib"
    label = "lib"
