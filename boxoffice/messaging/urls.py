"""The mail provider's bounce and complaint webhook (django-anymail), mounted for the one
provider configured (ANYMAIL_ESP) and only when its webhook is protected (WEBHOOK_SECRET):
anymail would otherwise accept unauthenticated posts, and a forged bounce stops a customer's
mail."""

from __future__ import annotations

from anymail import urls as anymail_urls
from django.conf import settings


def _provider_patterns() -> list:
    esp = settings.ANYMAIL_ESP
    if not esp or not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return []
    return [p for p in anymail_urls.urlpatterns if p.name == f"{esp}_tracking_webhook"]


app_name = "messaging"
urlpatterns = _provider_patterns()
