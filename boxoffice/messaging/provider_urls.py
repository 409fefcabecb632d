"""The mail provider's bounce and complaint webhook (django-anymail), mounted for the one
provider configured (ANYMAIL_ESP) and only when its webhook is protected (WEBHOOK_SECRET):
anymail would otherwise accept unauthenticated posts, and a forged bounce stops a customer's
mail."""

from __future__ import annotations

import logging
from functools import wraps

from anymail import urls as anymail_urls
from django.conf import settings
from django.http import HttpResponseBadRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)


def _refusing_unreadable_bodies(view):
    """anymail parses the (authenticated) body without guarding against its shape: a JSON list
    or plain text where an object belongs raises. That is a bad request (400, logged), not a
    server error."""

    @csrf_exempt
    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (ValueError, TypeError, KeyError, AttributeError):
            logger.warning("unreadable mail provider event refused", exc_info=True)
            return HttpResponseBadRequest("unreadable event body", content_type="text/plain")

    return guarded


def _provider_patterns() -> list:
    esp = settings.ANYMAIL_ESP
    if not esp or not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return []
    return [
        path(str(p.pattern), _refusing_unreadable_bodies(p.callback), name=p.name)
        for p in anymail_urls.urlpatterns
        if p.name == f"{esp}_tracking_webhook"
    ]


app_name = "mail_provider"
urlpatterns = _provider_patterns()
