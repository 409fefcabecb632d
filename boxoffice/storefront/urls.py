from django.urls import path

from boxoffice.storefront import balance_views, views

app_name = "storefront"
urlpatterns = [
    path("", views.plans, name="plans"),
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("renew/<str:token>/", views.renew, name="renew"),
    path("order/<str:token>/", views.order_status, name="order_status"),
    path("order/<str:token>/progress", views.order_progress_fragment, name="order_progress"),
    path("order/<str:token>/pay", views.order_pay_again, name="order_pay_again"),
    path("order/<str:token>/cancel", views.order_cancel, name="order_cancel"),
    path("order/<str:token>/balance", balance_views.order_balance, name="order_balance"),
]
