from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin, error pages).
    path("favicon.ico", RedirectView.as_view(url=static("boxoffice/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    # The language switcher posts here (Django's set_language: POST with CSRF, cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    # The local inbox shows mail caught by the loopback SMTP server of `make run`: a development
    # tool (boxoffice_dev), mounted only where settings install it, never in production.
    *(
        [path("backoffice/inbox/", include(f"{settings.DEV_TOOLS_APP}.urls"))]
        if apps.is_installed(settings.DEV_TOOLS_APP)
        else []
    ),
    path("backoffice/", include("boxoffice.insights.urls")),
    path("billing/", include("boxoffice.billing.urls")),
    # Open and click tracking of non-transactional mail (messaging/tracking.py).
    path("m/", include("boxoffice.messaging.urls")),
    # A mail provider's bounce and complaint webhook (django-anymail), when one is configured.
    path("mail/events/", include("boxoffice.messaging.provider_urls")),
    path("portal/", include("boxoffice.portal.urls")),
    path("", include("boxoffice.storefront.urls")),
]
