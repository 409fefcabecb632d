"""Operator pages beside the admin: the review queue."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from boxoffice.billing.models import Order
from boxoffice.billing.services import order_mark_paid, order_review_dismiss
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import message_retry_now
from boxoffice.provisioning.models import PanelOperation
from boxoffice.provisioning.services import operation_retry_now


@staff_member_required
def review_queue(request):
    orders = (
        Order.objects.filter(needs_review=True)
        .select_related("customer", "plan")
        .order_by("created_at")
    )
    operations = (
        PanelOperation.objects.filter(status=PanelOperation.Status.NEEDS_REVIEW)
        .select_related("line", "line__customer", "panel", "order")
        .order_by("created_at")
    )
    transfers = (
        Order.objects.filter(
            gateway="manual", status=Order.Status.PAYMENT_PENDING, needs_review=False
        )
        .select_related("customer", "plan")
        .order_by("created_at")
    )
    undelivered = (
        Message.objects.filter(status=Message.Status.NEEDS_REVIEW)
        .select_related("order")
        .order_by("created_at", "pk")
    )
    context = {
        **admin.site.each_context(request),
        "undelivered": Paginator(undelivered, 50).get_page(request.GET.get("mail_page")),
        "title": "Review queue",
        "transfers": Paginator(transfers, 50).get_page(request.GET.get("transfers_page")),
        "orders": Paginator(orders, 50).get_page(request.GET.get("orders_page")),
        "operations": Paginator(operations, 50).get_page(request.GET.get("ops_page")),
    }
    return render(request, "insights/review_queue.html", context)


@staff_member_required
@require_POST
def review_order(request, pk: int):
    order = get_object_or_404(Order, pk=pk)
    actor = request.user.get_username()
    if request.POST.get("action") == "confirm":
        if order_mark_paid(order=order, actor=actor, note="confirmed from the review queue"):
            messages.success(
                request, f"{order.reference}: payment confirmed; the line is being created."
            )
        else:
            messages.warning(
                request, f"{order.reference} was already {order.get_status_display().lower()}."
            )
    elif request.POST.get("action") == "dismiss":
        order_review_dismiss(order=order, actor=actor)
        messages.success(request, f"{order.reference} removed from the review queue.")
    return redirect("backoffice:review")


@staff_member_required
@require_POST
def review_operation(request, pk: int):
    op = get_object_or_404(PanelOperation, pk=pk)
    if operation_retry_now(operation=op, actor=request.user.get_username()):
        messages.success(request, f"Operation {op.pk} sent back to the queue.")
    else:
        messages.warning(
            request,
            f"Operation {op.pk} is {op.get_status_display().lower()}, not waiting for a retry.",
        )
    return redirect("backoffice:review")


@staff_member_required
@require_POST
def review_message(request, pk: int):
    message = get_object_or_404(Message, pk=pk)
    if message_retry_now(message=message, actor=request.user.get_username()):
        messages.success(request, f"E-mail {message.pk} to {message.to_email} sent again.")
    else:
        messages.warning(
            request,
            f"E-mail {message.pk} is {message.get_status_display().lower()}, not waiting for a retry.",
        )
    return redirect("backoffice:review")
