from django.urls import path

from boxoffice.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.PortalLogoutView.as_view(), name="logout"),
    # Before the token route: "request" would otherwise be read as a (forged) token.
    path("magic/request/", views.magic_link_request, name="magic_request"),
    path("magic/<str:token>/", views.magic_link, name="magic"),
]
