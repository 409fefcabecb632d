"""The pay link of a balance order (the rest of an underpaid order, asked for by the operator):
what arrived, what is missing, any enabled payment method, one click. The link is the balance
order's own status token; once its payment has begun the customer follows the order it
completes on that order's status page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from boxoffice.billing.checkout import balance_checkout_begin, order_confirm_on_return
from boxoffice.billing.gateways.base import UnableToTakePayment
from boxoffice.billing.gateways.registry import enabled_gateways
from boxoffice.billing.models import Order
from boxoffice.billing.services import order_partial_received
from boxoffice.storefront.views import _checkout_allowed, _order_for_token


def _here(request: HttpRequest, order: Order) -> str:
    return request.build_absolute_uri(
        reverse("storefront:order_balance", args=[order.status_token])
    )


@never_cache
@require_http_methods(["GET", "POST"])
def order_balance(request: HttpRequest, token: str) -> HttpResponse:
    balance = _order_for_token(token)
    original = balance.balance_of
    if balance.kind != Order.Kind.BALANCE or original is None:
        return HttpResponseRedirect(
            reverse("storefront:order_status", args=[balance.status_token]), status=303
        )
    if "session_id" in request.GET:
        order_confirm_on_return(order=balance)  # back from a hosted page: ask the gateway now
        balance.refresh_from_db()
    if balance.gateway:
        # Its payment has begun: paid or pending, follow the order it completes; left unpaid,
        # its own status page offers to pay again.
        target = (
            original
            if balance.status in (Order.Status.PAID, Order.Status.PAYMENT_PENDING)
            else balance
        )
        return HttpResponseRedirect(
            reverse("storefront:order_status", args=[target.status_token]), status=303
        )
    gateways = enabled_gateways()
    error = ""
    if request.method == "POST":
        gateway = request.POST.get("gateway", "")
        if gateway not in {kind for kind, _ in gateways}:
            error = "Choose how you want to pay."
        elif not _checkout_allowed(request):
            error = "Too many payment attempts from your network. Please try again later."
        else:
            try:
                result = balance_checkout_begin(
                    order=balance, gateway=gateway, status_url_for=lambda o: _here(request, o)
                )
            except UnableToTakePayment as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(
                    result.redirect_url if result else _here(request, balance), status=303
                )
    context = {
        "balance": balance,
        "original": original,
        "payable": balance.status == Order.Status.AWAITING_PAYMENT,
        "received": balance_received(original),
        "gateways": gateways,
        "error": error,
    }
    return render(request, "storefront/balance.html", context, status=400 if error else 200)


def balance_received(original: Order) -> str:
    partial = order_partial_received(original)
    return f"{partial.amount} {partial.currency}" if partial else f"0 {original.currency}"
