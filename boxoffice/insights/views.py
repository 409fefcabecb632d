"""Operator pages beside the admin: the review queue and the renewals of the week."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from boxoffice.billing.gateways.registry import kinds_with
from boxoffice.billing.invoicing import invoice_filename, invoice_pdf
from boxoffice.billing.models import Invoice, Order, Payment
from boxoffice.billing.refunds import (
    RefundNotPossible,
    refund_refusal,
    refund_request_create,
    refund_request_run,
    refundable_amount,
)
from boxoffice.billing.renewal_view import lines_billing
from boxoffice.billing.services import (
    TRANSFER_CONFIRMABLE,
    TransferNotConfirmable,
    order_confirm_bank_transfer,
    order_review_dismiss,
    order_transfer_refusal,
)
from boxoffice.billing.underpaid import (
    UnderpaymentNotActionable,
    order_accept_underpaid,
    order_ask_for_rest,
    orders_underpayments,
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
    orders_page = Paginator(orders, 50).get_page(request.GET.get("orders_page"))
    # Underpaid (crypto) orders show what was due and what arrived, and their two decisions.
    underpayments = orders_underpayments(orders_page)
    for order in orders_page:
        order.underpayment = underpayments.get(order.pk)
    context = {
        **admin.site.each_context(request),
        "undelivered": Paginator(undelivered, 50).get_page(request.GET.get("mail_page")),
        "title": "Review queue",
        "transfer_confirmable": list(TRANSFER_CONFIRMABLE),
        "operator_confirmed_kinds": operator_confirmed,
        "transfers": Paginator(transfers, 50).get_page(request.GET.get("transfers_page")),
        "orders": orders_page,
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
    if request.POST.get("action") in ("accept_underpaid", "ask_rest"):
        return _review_underpaid(request, order, request.POST["action"], actor)
    if request.POST.get("action") == "dismiss":
        order_review_dismiss(order=order, actor=actor)
        messages.success(request, f"{order.reference} removed from the review queue.")
    return redirect("backoffice:review")


def _review_underpaid(request, order: Order, action: str, actor: str):
    try:
        if action == "accept_underpaid":
            if order_accept_underpaid(order=order, actor=actor):
                messages.success(
                    request, f"{order.reference}: accepted as paid; the line is being created."
                )
            else:
                messages.warning(request, f"{order.reference} was decided already.")
        else:
            balance = order_ask_for_rest(order=order, actor=actor)
            messages.success(
                request,
                f"{order.reference}: the customer is asked for {balance.amount} "
                f"{balance.currency} (order {balance.reference}); the mail is on its way.",
            )
    except UnderpaymentNotActionable as exc:
        messages.warning(request, str(exc))
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


@staff_member_required
def invoice_pdf_download(request, pk: int):
    if not request.user.has_perm("billing.view_invoice"):
        raise PermissionDenied
    invoice = get_object_or_404(Invoice.objects.select_related("order"), pk=pk)
    return _pdf_response(invoice)


def _pdf_response(invoice: Invoice) -> HttpResponse:
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice_filename(invoice)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@staff_member_required
def order_refund_page(request, pk: int):
    """Refund an order, all or part, through its gateway: a durable request, then the gateway."""
    order = get_object_or_404(Order.objects.select_related("customer", "plan"), pk=pk)
    if not request.user.has_perm("billing.change_order"):
        raise PermissionDenied
    refusal = refund_refusal(order)
    left = refundable_amount(order)
    form = None
    status = 409 if refusal else 200
    if not refusal:
        form = RefundForm(request.POST or None, left=left, initial={"amount": left})
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                try:
                    refund = refund_request_create(
                        order=order,
                        amount=data["amount"],
                        reason=data["reason"],
                        actor=request.user.get_username(),
                        suspend_line=data["suspend_line"],
                    )
                except RefundNotPossible as exc:
                    refusal, status, form = str(exc), 409, None
                else:
                    # Outside any transaction: the gateway is asked now, with the request's key.
                    result = refund_request_run(request_id=refund.pk)
                    refund.refresh_from_db()
                    if result == "done":
                        messages.success(
                            request,
                            f"{order.reference}: {refund.amount} {refund.currency} refunded.",
                        )
                    elif result == "failed":
                        messages.error(request, f"The gateway refused the refund: {refund.error}")
                    else:
                        messages.warning(
                            request,
                            "The gateway has not answered yet; the refund is asked again "
                            "automatically with the same key, never twice.",
                        )
                    return redirect("admin:billing_order_change", order.pk)
            else:
                status = 400
    context = {
        **admin.site.each_context(request),
        "title": f"Refund {order.reference}",
        "order": order,
        "left": left,
        "refusal": refusal,
        "form": form,
        "requests": order.refund_requests.order_by("-created_at")[:10],
    }
    return render(request, "insights/refund.html", context, status=status)
