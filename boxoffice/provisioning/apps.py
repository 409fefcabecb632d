from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "boxoffice.provisioning"
    label = "provisioning"
