from django.urls import path

from boxoffice.insights import views

app_name = "backoffice"
urlpatterns = [
    path("review/", views.review_queue, name="review"),
    path("renewals/", views.renewals, name="renewals"),
    path("review/orders/<int:pk>/", views.review_order, name="review_order"),
    path(
        "review/orders/<int:pk>/confirm-transfer/",
        views.confirm_transfer,
        name="confirm_transfer",
    ),
    path("review/orders/<int:pk>/refund/", views.refund_order, name="refund_order"),
    path("review/operations/<int:pk>/", views.review_operation, name="review_operation"),
    path("review/messages/<int:pk>/", views.review_message, name="review_message"),
]
