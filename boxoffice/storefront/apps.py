from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "boxoffice.storefront"
    label = "storefront"
