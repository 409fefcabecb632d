from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # The local inbox shows mail caught by the loopback SMTP server of `make run`: a development
    # tool, never mounted in production.
    *(
        []
        if settings.PRODUCTION
        else [path("backoffice/inbox/", include("boxoffice.emulators.urls"))]
    ),
    path("backoffice/", include("boxoffice.insights.urls")),
    path("billing/", include("boxoffice.billing.urls")),
    path("portal/", include("boxoffice.portal.urls")),
    path("", include("boxoffice.storefront.urls")),
]
