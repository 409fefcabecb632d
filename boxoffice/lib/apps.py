from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "boxoffice.lib"
    label = "lib"

    def ready(self) -> None:
        # The `literal_in` lookup the scheduler's looks use (registered on import).
        # Imported here, not at module level: the admin site exists only once apps are loaded.
        from django.contrib import admin

        from boxoffice.lib import lookups  # noqa: F401
        from boxoffice.lib.admin_login import RateLimitedAdminLoginForm

        admin.site.login_form = RateLimitedAdminLoginForm
