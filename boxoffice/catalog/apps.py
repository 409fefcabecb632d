from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "boxoffice.catalog"
    label = "catalog"
