from django.apps import AppConfig


class EmulatorsConfig(AppConfig):
    name = "boxoffice.emulators"
    label = "emulators"
