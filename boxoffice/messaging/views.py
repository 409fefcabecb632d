"""The tracking endpoints of mail (`messaging/tracking.py`): public, no login, no cookie.

A token that does not verify, names no tracked message or a link the message did not have is
a 404: never a redirect anywhere else, never a 500."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from boxoffice.messaging.tracking import (
    PIXEL_GIF,
    click_token_target,
    message_clicked,
    message_opened,
    open_token_message_id,
)


@never_cache
@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message_id = open_token_message_id(token)
    if message_id is None or not message_opened(message_id=message_id):
        raise Http404("unknown message")
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


@never_cache
@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    target = click_token_target(token)
    url = message_clicked(message_id=target[0], number=target[1]) if target else None
    if url is None:
        raise Http404("unknown link")
    return HttpResponseRedirect(url)
