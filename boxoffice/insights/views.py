"""Operator pages beside the admin: the review queue."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from boxoffice.billing.gateways.registry import kinds_with
from boxoffice.billing.models import Order
from boxoffice.billing.services import (
    TRANSFER_CONFIRMABLE,
    TransferNotConfirmable,
    order_confirm_bank_transfer,
    order_review_dismiss,
    order_transfer_refusal,
)
from boxoffice.insights.forms import BankTransferConfirmForm
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
    # Gateways whose payments only an operator can confirm (bank transfers).
    operator_confirmed = kinds_with("confirmed_by_operator")
    transfers = (
        Order.objects.filter(
            gateway__in=operator_confirmed,
            status=Order.Status.PAYMENT_PENDING,
            needs_review=False,
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
        "transfer_confirmable": list(TRANSFER_CONFIRMABLE),
        "operator_confirmed_kinds": operator_confirmed,
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
        # Confirming money is never one click: the transfer page asks for what arrived.
        return redirect("backoffice:confirm_transfer", pk=order.pk)
    if request.POST.get("action") == "dismiss":
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


@staff_member_required
def confirm_transfer(request, pk: int):
    """Confirm one bank transfer: the amount, date and bank reference from the statement."""
    order = get_object_or_404(Order.objects.select_related("customer", "plan"), pk=pk)
    refusal = order_transfer_refusal(order)
    form = None
    status = 200
    if refusal:
        status = 409
    elif request.method == "POST":
        form = BankTransferConfirmForm(request.POST, order=order)
        if form.is_valid():
            try:
                order_confirm_bank_transfer(
                    order=order, actor=request.user.get_username(), **form.cleaned_data
                )
            except TransferNotConfirmable as exc:
                refusal, status, form = str(exc), 409, None
            else:
                messages.success(
                    request, f"{order.reference}: payment confirmed; the line is being created."
                )
                return redirect("backoffice:review")
        else:
            status = 400
    else:
        form = BankTransferConfirmForm(order=order, initial={"amount": order.amount})
    context = {
        **admin.site.each_context(request),
        "title": f"Confirm bank transfer {order.reference}",
        "order": order,
        "form": form,
        "refusal": refusal,
    }
    return render(request, "insights/confirm_transfer.html", context, status=status)
