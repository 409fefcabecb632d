from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "boxoffice.customers"
    label = "customers"
