"""Customer portal views: thin, every read scoped by the signed-in customer."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from boxoffice.customers.models import Customer
from boxoffice.portal.forms import MagicLinkRequestForm, PortalLoginForm
from boxoffice.portal.selectors import customer_orders_awaiting_payment, customer_subscriptions
from boxoffice.portal.services import (
    MagicLinkInvalid,
    portal_magic_link_customer,
    portal_magic_link_max_age_days,
    portal_magic_link_request,
    portal_user_for_customer,
)


class PortalLoginView(LoginView):
    template_name = "portal/login.html"
    form_class = PortalLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("portal:overview")


class PortalLogoutView(LogoutView):
    next_page = reverse_lazy("portal:login")


def _signed_in_customer(request: HttpRequest) -> Customer | None:
    try:
        return request.user.customer
    except Customer.DoesNotExist:
        return None


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    customer = _signed_in_customer(request)
    if customer is None:
        # Operators and other users without a subscription land here after signing in.
        return render(request, "portal/no_customer.html")
    context = {
        "customer": customer,
        "subscriptions": customer_subscriptions(customer=customer),
        "unpaid_orders": customer_orders_awaiting_payment(customer=customer),
    }
    return render(request, "portal/overview.html", context)


def _no_referrer(response: HttpResponse) -> HttpResponse:
    # The token is in the URL: keep it out of Referer headers and shared caches.
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def magic_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET only shows a button (mail scanners fetch links); the POST signs the customer in."""
    try:
        customer = portal_magic_link_customer(token=token)
        if request.method == "POST":
            user = portal_user_for_customer(customer=customer)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("portal:overview")
    except MagicLinkInvalid as exc:
        context = {"error": str(exc), "expired": exc.expired, "form": MagicLinkRequestForm()}
        return _no_referrer(render(request, "portal/magic_invalid.html", context, status=400))
    return _no_referrer(render(request, "portal/magic_confirm.html", {"customer": customer}))


@require_http_methods(["GET", "POST"])
def magic_link_request(request: HttpRequest) -> HttpResponse:
    form = MagicLinkRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        portal_magic_link_request(email=form.cleaned_data["email"])
        # The same answer whether or not a customer has this address.
        context = {
            "email": form.cleaned_data["email"],
            "max_age_days": portal_magic_link_max_age_days(),
        }
        return render(request, "portal/magic_sent.html", context)
    return render(request, "portal/magic_request.html", {"form": form})
