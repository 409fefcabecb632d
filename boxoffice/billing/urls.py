from django.urls import path

from boxoffice.billing import views

app_name = "billing"
urlpatterns = [
    path("webhooks/<slug:kind>/", views.webhook_receive, name="webhook"),
    path("subscriptions/card/<str:token>/", views.subscription_card, name="subscription_card"),
]
