from django.urls import path

from boxoffice.storefront import views

app_name = "storefront"
urlpatterns = [
    path("", views.plans, name="plans"),
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("order/<str:token>/", views.order_status, name="order_status"),
    path("order/<str:token>/progress", views.order_progress_fragment, name="order_progress"),
]
