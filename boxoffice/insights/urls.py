from django.urls import path

from boxoffice.insights import views, welcome_views

app_name = "backoffice"
urlpatterns = [
    path("review/", views.review_queue, name="review"),
    path("renewals/", views.renewals, name="renewals"),
    path("welcome/", welcome_views.welcome_report, name="welcome"),
    path("welcome/preview/<str:kind>/", welcome_views.welcome_preview, name="welcome_preview"),
    path("invoices/<int:pk>/pdf", views.invoice_pdf_download, name="invoice_pdf"),
    path("orders/<int:pk>/refund/", views.order_refund_page, name="order_refund"),
    path("review/orders/<int:pk>/", views.review_order, name="review_order"),
    path(
        "review/orders/<int:pk>/confirm-transfer/",
        views.confirm_transfer,
        name="confirm_transfer",
    ),
    path("review/operations/<int:pk>/", views.review_operation, name="review_operation"),
    path("review/messages/<int:pk>/", views.review_message, name="review_message"),
]
