"""Back-office pages of the local inbox: what Boxoffice sent while running locally."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from boxoffice_dev.smtp_inbox import (
    MessageNotFound,
    message_paths,
    read_message,
    summarize_message,
)

PAGE_SIZE = 50


def _inbox_dir() -> Path:
    return Path(settings.LOCAL_INBOX_DIR)


@staff_member_required
def inbox_list(request: HttpRequest) -> HttpResponse:
    directory = _inbox_dir()
    page = Paginator(message_paths(directory), PAGE_SIZE).get_page(request.GET.get("page"))
    # Only this page's files are parsed: the directory can hold thousands.
    inbox_messages = []
    for path in page.object_list:
        try:
            inbox_messages.append(summarize_message(path))
        except FileNotFoundError:  # deleted since the listing
            continue
    context = {
        **admin.site.each_context(request),
        "title": "Local inbox",
        "page_obj": page,
        "inbox_messages": inbox_messages,
        "directory": directory,
    }
    return render(request, "emulators/inbox_list.html", context)


@staff_member_required
def inbox_detail(request: HttpRequest, message_id: str) -> HttpResponse:
    try:
        detail = read_message(_inbox_dir(), message_id)
    except MessageNotFound:
        raise Http404("No such message in the local inbox.") from None
    links = [
        {"url": url, "clickable": url.startswith(("http://", "https://", "mailto:"))}
        for url in detail.links
    ]
    context = {
        **admin.site.each_context(request),
        "title": detail.summary.subject or "(no subject)",
        "detail": detail,
        "links": links,
    }
    return render(request, "emulators/inbox_detail.html", context)
