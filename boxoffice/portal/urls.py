from django.urls import path, re_path

from boxoffice.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("lines/<int:line_id>/renew/", views.renew, name="renew"),
    path("lines/<int:line_id>/plan/", views.change_plan, name="change_plan"),
    path("lines/<int:line_id>/plan/cancel/", views.downgrade_cancel, name="downgrade_cancel"),
    path("lines/<int:line_id>/connections/", views.addon, name="addon"),
    path(
        "lines/<int:line_id>/auto-renew/cancel/",
        views.auto_renew_cancel,
        name="auto_renew_cancel",
    ),
    path("lines/<int:line_id>/auto-renew/card/", views.auto_renew_card, name="auto_renew_card"),
    path(
        "lines/<int:line_id>/auto-renew/resume/",
        views.auto_renew_resume,
        name="auto_renew_resume",
    ),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.PortalLogoutView.as_view(), name="logout"),
    path("password/", views.password_change, name="password"),
    path("lines/<int:line_id>/convert/", views.trial_convert, name="trial_convert"),
    path("password/reset/", views.PortalPasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        views.PortalPasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        views.PortalPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    # Before the token route: these would otherwise be read as (forged) tokens.
    path("magic/request/", views.magic_link_request, name="magic_request"),
    path("magic/confirm/", views.magic_confirm, name="magic_confirm"),
    path("magic/<str:token>/", views.magic_link, name="magic"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    re_path(
        r"^invoices/(?P<number>(?:INV|CN)-\d{4}-\d{6})\.pdf$",
        views.invoice_download,
        name="invoice",
    ),
    path("billing-details/", views.billing_details, name="billing_details"),
    path("unsubscribe/<str:token>/again/", views.resubscribe, name="resubscribe"),
]
