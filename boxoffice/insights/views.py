"""Operator pages beside the admin: the review queue and the renewals of the week."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from boxoffice.billing.gateways.base import PaymentError, UnableToTakePayment
from boxoffice.billing.gateways.registry import kinds_with
from boxoffice.billing.models import Order, Payment
from boxoffice.billing.renewal_view import lines_billing
from boxoffice.billing.services import (
    TRANSFER_CONFIRMABLE,
    RefundNotPossible,
    TransferNotConfirmable,
    order_confirm_bank_transfer,
    order_refund,
    order_refundable,
    order_review_dismiss,
    order_transfer_refusal,
)
from boxoffice.insights.forms import BankTransferConfirmForm, RefundForm
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import message_retry_now
from boxoffice.provisioning.lifecycle import OVERDUE, line_next_step
from boxoffice.provisioning.models import Line, PanelOperation
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


@staff_member_required
def refund_order(request, pk: int):
    """Refund a paid order through its gateway (a kind that can): all that is left, or part."""
    order = get_object_or_404(Order.objects.select_related("customer", "plan"), pk=pk)
    left, refusal = order_refundable(order)
    form = None
    status = 409 if refusal else 200
    if not refusal:
        form = RefundForm(
            request.POST if request.method == "POST" else None,
            left=left,
            currency=order.currency,
            initial={"amount": left},
        )
    if form is not None and request.method == "POST":
        if form.is_valid():
            try:
                # The gateway is called here, outside any transaction (the view has none).
                result = order_refund(
                    order=order, actor=request.user.get_username(), **form.cleaned_data
                )
            except RefundNotPossible as exc:
                refusal, status, form = str(exc), 409, None
            except (UnableToTakePayment, PaymentError) as exc:
                form.add_error(None, f"The gateway did not refund: {exc}")
                status = 502
            else:
                amount = f"{form.cleaned_data['amount']} {order.currency}"
                said = {
                    "refunded": f"{amount} refunded: the order is refunded.",
                    "partial_refund": f"{amount} refunded; the order waits in the review "
                    "queue for your decision about its line.",
                }.get(result, f"the gateway reported nothing new refunded ({result}).")
                messages.success(request, f"{order.reference}: {said}")
                return redirect("admin:billing_order_change", order.pk)
        else:
            status = 400
    context = {
        **admin.site.each_context(request),
        "title": f"Refund {order.reference}",
        "order": order,
        "left": left,
        "form": form,
        "refusal": refusal,
    }
    return render(request, "insights/refund.html", context, status=status)


# The renewals page's tabs: which lines each shows (all: every line expiring or at risk).
_RENEWAL_TABS = {
    "all": "Expiring or at risk",
    "expiring": "Expiring this week",
    "grace": "In grace",
    "suspended": "Suspended for non-payment",
}


@staff_member_required
def renewals(request):
    """Lines expiring in the next 7 days or at risk (in grace, suspended for non-payment), with
    counts, each with how it renews, its last payment, its failures and the next step."""
    now = timezone.now()
    week = now + timedelta(days=7)
    lines = Line.objects.filter(is_trial=False).exclude(panel_line_id="")
    expiring = Q(status=Line.Status.ACTIVE, expires_at__gt=now, expires_at__lte=week)
    # Expired and not suspended yet (lines that lapsed long before renewals existed excluded).
    grace = Q(
        status__in=[Line.Status.ACTIVE, Line.Status.EXPIRED],
        expires_at__lte=now,
        expires_at__gt=now - timedelta(days=60),
    ) & ~Q(stage=Line.Stage.TERMINATED)
    suspended = Q(status=Line.Status.SUSPENDED, suspension_reason=OVERDUE)
    filters = {"expiring": expiring, "grace": grace, "suspended": suspended}
    tab = request.GET.get("show", "all")
    if tab not in _RENEWAL_TABS:
        tab = "all"
    chosen = filters.get(tab, expiring | grace | suspended)
    rows = (
        lines.filter(chosen)
        .select_related("customer", "plan", "panel")
        .order_by("expires_at", "pk")
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    billing = lines_billing(page.object_list)
    entries = []
    for line in page.object_list:
        when, what = line_next_step(line, now)
        entries.append({"line": line, "billing": billing[line.pk], "next_at": when, "next": what})
    week_ago = now - timedelta(days=7)
    counts = {
        "expiring": lines.filter(expiring).count(),
        "grace": lines.filter(grace).count(),
        "suspended": lines.filter(suspended).count(),
        "renewed": Order.objects.filter(
            kind=Order.Kind.RENEWAL, status=Order.Status.PAID, paid_at__gte=week_ago
        ).count(),
        "failed_payments": Payment.objects.filter(
            status=Payment.Status.FAILED, created_at__gte=week_ago
        ).count(),
    }
    context = {
        **admin.site.each_context(request),
        "title": "Renewals this week",
        "tab": tab,
        "tabs": _RENEWAL_TABS,
        "counts": counts,
        "entries": entries,
        "page": page,
    }
    return render(request, "insights/renewals.html", context)
