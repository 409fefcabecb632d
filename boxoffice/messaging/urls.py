from django.urls import path

from boxoffice.messaging import views

app_name = "messaging"
urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
]
