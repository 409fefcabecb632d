from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "boxoffice.messaging"
    label = "messaging"
