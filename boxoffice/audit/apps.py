from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "boxoffice.audit"
    label = "audit"
