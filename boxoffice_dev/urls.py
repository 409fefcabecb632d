"""The local inbox in the back office; the root urls mount it at `backoffice/inbox/`."""

from django.urls import path

from boxoffice_dev import inbox_views

app_name = "inbox"

urlpatterns = [
    path("", inbox_views.inbox_list, name="list"),
    path("<str:message_id>/", inbox_views.inbox_detail, name="detail"),
]
