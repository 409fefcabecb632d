"""Public pages: the plans, the checkout form and the page that follows an order to a working line."""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from boxoffice.billing.checkout import (
    LineNotRenewableHere,
    OrderNotRestartable,
    checkout_begin,
    order_cancel_by_customer,
    order_checkout_restart,
    order_confirm_on_return,
    renewal_checkout_begin,
)
from boxoffice.billing.coupons import CouponRefused, coupon_normalise, coupon_quote
from boxoffice.billing.gateways.base import UnableToTakePayment
from boxoffice.billing.gateways.registry import enabled_gateways, gateway_class, gateway_for
from boxoffice.billing.models import Order, status_token_hash
from boxoffice.billing.plan_changes import renewal_terms
from boxoffice.billing.selectors import OrderProgress, order_progress
from boxoffice.billing.trials import TrialRefused
from boxoffice.catalog.models import Plan
from boxoffice.customers.services import CustomerExists, customer_for_user
from boxoffice.lib.ratelimit import client_ip, rate_hit
from boxoffice.panels.services import CannotSellNow
from boxoffice.provisioning.lifecycle import (
    line_offered_for_renewal,
    renewal_pay_line,
    renewal_pay_token,
)
from boxoffice.provisioning.models import Line
from boxoffice.storefront.forms import CheckoutForm
from boxoffice.storefront.selectors import (
    SESSION_CURRENCY,
    currencies_for_sale,
    customer_currency,
    plan_offer,
    plans_for_sale,
    poll_seconds,
    progress_steps,
)


@require_GET
def plans(request: HttpRequest) -> HttpResponse:
    wanted = request.GET.get("currency", "").upper()
    if wanted and wanted in currencies_for_sale():
        request.session[SESSION_CURRENCY] = wanted
    currency = customer_currency(request)
    context = {
        "offers": plans_for_sale(currency),
        "currencies": currencies_for_sale(),
        "currency": currency,
    }
    return render(request, "storefront/plans.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, slug: str) -> HttpResponse:
    plan = get_object_or_404(Plan.objects.prefetch_related("prices"), slug=slug, active=True)
    customer = customer_for_user(request.user)
    # The price is charged in the currency the page showed it in (carried by the form, one of
    # the plan's own prices); a first visit gets the customer's (customer_currency).
    wanted = request.GET.get("currency", "").upper()
    if wanted and wanted in plan.currencies():
        request.session[SESSION_CURRENCY] = wanted
    posted = request.POST.get("currency", "").upper()
    currency = posted if posted in plan.currencies() else customer_currency(request)
    offer = plan_offer(plan, currency)
    form = CheckoutForm(
        request.POST or None, plan=plan, gateways=enabled_gateways(), customer=customer
    )
    applying = request.method == "POST" and "apply_coupon" in request.POST
    coupon = _coupon_shown(request, plan=plan, offer=offer, customer=customer)
    throttled = request.method == "POST" and not applying and not _checkout_allowed(request)
    if applying:
        # Only the code is looked at: the page comes back with the discount (or why not).
        form = CheckoutForm(
            initial=request.POST.dict(), plan=plan, gateways=enabled_gateways(), customer=customer
        )
    elif throttled:
        # Not validated at all (validation would tell whether the address is known): the same
        # values come back in an unbound form.
        form = CheckoutForm(
            initial=request.POST.dict(), plan=plan, gateways=enabled_gateways(), customer=customer
        )
    elif request.method == "POST" and form.is_valid():
        try:
            result = checkout_begin(
                plan=plan,
                data=dataclasses.replace(form.checkout_data(), currency=offer.currency),
                customer=customer,
                status_url_for=lambda order: request.build_absolute_uri(
                    reverse("storefront:order_status", args=[order.status_token])
                ),
                client_address=client_ip(request),
            )
        except TrialRefused as exc:
            form.add_error(None, str(exc))
        except CannotSellNow as exc:
            # Refused before any payment: no order, no gateway session (the operator is alerted).
            form.add_error(None, exc.customer_message)
        except CouponRefused as exc:
            form.add_error("coupon", str(exc))
        except CustomerExists:
            # Another checkout took the address a moment ago: the same offer as for a known one.
            form.add_error("email", form.known_address_error())
        except UnableToTakePayment as exc:
            form.add_error(None, str(exc))
        else:
            # 303: the browser follows with a GET, and Back does not offer to re-post the form.
            return HttpResponseRedirect(result.redirect_url, status=303)
    context = {
        "form": form,
        "offer": offer,
        "currencies": plan.currencies(),
        "coupon": coupon,
        "throttled": throttled,
        "renewable_lines": _renewable_lines(customer, plan),
        # Who can charge an auto-renewing plan every period (the others sell it once).
        "recurring_labels": [
            label for kind, label in enabled_gateways() if gateway_class(kind).recurring
        ]
        if plan.auto_renew and not plan.is_trial
        else [],
    }
    return render(request, "storefront/checkout.html", context)


def _coupon_shown(request: HttpRequest, *, plan: Plan, offer, customer, kind=Order.Kind.NEW):
    """The discount a typed code gives, for the page to show before paying: {"quote"} or
    {"error"}, or None when no code was typed. Nothing is written."""
    code = request.POST.get("coupon", "") if request.method == "POST" else ""
    if not coupon_normalise(code) or plan.is_trial:
        return None
    # Every look-up is counted first: the page is no oracle for guessing codes.
    tries = rate_hit(
        scope="coupon:ip", value=client_ip(request), window=settings.COUPON_TRIES_WINDOW_SECONDS
    )
    if tries.over(settings.COUPON_TRIES_PER_IP):
        return {"error": gettext("Too many codes tried. Please try again later."), "code": ""}
    try:
        quote = coupon_quote(
            code=code,
            plan=plan,
            price=offer.price,
            currency=offer.currency,
            kind=kind,
            customer=customer,
            email=request.POST.get("email", "") if customer is None else "",
        )
    except CouponRefused as exc:
        return {"error": str(exc), "code": coupon_normalise(code)}
    return {"quote": quote, "code": coupon_normalise(code)}


def _renewable_lines(customer, plan: Plan) -> list[dict]:
    """A returning, signed-in customer is offered to renew a line of this plan instead of
    opening a second one (a known address signs in first: accounts belong to whoever controls
    the address, so nobody else is shown this)."""
    if customer is None:
        return []
    lines = Line.objects.filter(customer=customer, plan=plan).exclude(panel_line_id="")
    return [
        {"line": line, "url": reverse("storefront:renew", args=[renewal_pay_token(line)])}
        for line in lines
        if line_offered_for_renewal(line)
    ]


@never_cache
@require_http_methods(["GET", "POST"])
def renew(request: HttpRequest, token: str) -> HttpResponse:
    """The renewal checkout of one line, opened by its pay link: the line's plan and expiry,
    the payment methods, one click. Never a sign-in, never the line's password."""
    line = renewal_pay_line(token)
    if line is None:
        return render(request, "storefront/renew_invalid.html", status=400)
    gateways = enabled_gateways()
    error = ""
    terms = renewal_terms(line)  # a scheduled downgrade's plan, add-on connections included
    offer = plan_offer(terms.plan, terms.currency)
    offer = dataclasses.replace(offer, price=terms.amount, currency=terms.currency)
    coupon = _coupon_shown(
        request, plan=terms.plan, offer=offer, customer=line.customer, kind=Order.Kind.RENEWAL
    )
    if request.method == "POST" and "apply_coupon" not in request.POST:
        gateway = request.POST.get("gateway", "")
        if coupon and coupon.get("error"):
            error = coupon["error"]
        elif gateway not in {kind for kind, _ in gateways}:
            error = gettext("Choose how you want to pay.")
        elif not _checkout_allowed(request):
            error = gettext(
                "Too many orders from your network in a short time. Please try again later."
            )
        else:
            try:
                result = renewal_checkout_begin(
                    line=line,
                    gateway=gateway,
                    status_url_for=lambda order: request.build_absolute_uri(
                        reverse("storefront:order_status", args=[order.status_token])
                    ),
                    coupon=request.POST.get("coupon", ""),
                )
            except (LineNotRenewableHere, CouponRefused) as exc:
                error = str(exc)
            except UnableToTakePayment as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(result.redirect_url, status=303)
    context = {
        "line": line,
        "plan": terms.plan,
        "terms": terms,
        "coupon": coupon,
        "renewable": line_offered_for_renewal(line),
        "expired": bool(line.expires_at and line.expires_at <= timezone.now()),
        "gateways": gateways,
        "error": error,
    }
    return render(request, "storefront/renew.html", context, status=400 if error else 200)


def _checkout_allowed(request: HttpRequest) -> bool:
    # Counted before the form is read: over the limit, nothing is created or revealed.
    hit = rate_hit(
        scope="checkout:ip",
        value=client_ip(request),
        window=settings.SIGN_IN_LIMITS["WINDOW_SECONDS"],
    )
    return not hit.over(settings.CHECKOUT_LIMIT_PER_IP)


_WAYS_FORWARD = (Order.Status.AWAITING_PAYMENT, Order.Status.FAILED, Order.Status.EXPIRED)


def _progress_context(order: Order, *, left_payment_page: bool = False, error: str = "") -> dict:
    progress = order_progress(order)
    # An unpaid order from a hosted payment page: pay now, another plan, or cancel it. Offered
    # while the page waits too, so nobody is left in front of a spinner with no way on.
    ways_forward = order.status in _WAYS_FORWARD and _hosted(order)
    if (
        ways_forward
        and (left_payment_page or error)
        and order.status == Order.Status.AWAITING_PAYMENT
    ):
        progress = OrderProgress(
            "awaiting_payment",
            "You left the payment page",
            "Nothing was charged. Pay now to finish this order, choose another plan, or cancel "
            "the order.",
            finished=True,
        )
    return {
        "order": order,
        "progress": progress,
        "ways_forward": ways_forward,
        "error": error,
        "steps": progress_steps(stage=progress.stage, order=order),
        "poll_seconds": poll_seconds(
            stage=progress.stage, bank_instructions=progress.bank_instructions
        ),
    }


def _hosted(order: Order) -> bool:
    try:
        return gateway_for(order.gateway).hosted_page
    except (KeyError, ValueError):
        return False


def _order_for_token(token: str) -> Order:
    # The unguessable token is the only key: no login, so no reference or id lookups here. Only
    # its hash is stored.
    if not token or len(token) > 100:
        raise Http404("no such order")
    return get_object_or_404(
        Order.objects.select_related("plan", "customer"),
        status_token_hash=status_token_hash(token),
    )


@never_cache
@require_GET
def order_status(request: HttpRequest, token: str) -> HttpResponse:
    order = _order_for_token(token)
    if "session_id" in request.GET or "returned" in request.GET:
        # Back from the gateway's page after paying (Stripe adds its session id, other hosted
        # pages come back to a URL marked `returned`): ask the gateway now (the checkout we
        # made, not whatever the address says) rather than wait for its webhook.
        order_confirm_on_return(order=order)
    left = request.GET.get("payment") == "cancelled"
    return render(
        request, "storefront/order_status.html", _progress_context(order, left_payment_page=left)
    )


def _status_url(request: HttpRequest, order: Order) -> str:
    return request.build_absolute_uri(reverse("storefront:order_status", args=[order.status_token]))


@never_cache
@require_POST
def order_pay_again(request: HttpRequest, token: str) -> HttpResponse:
    order = _order_for_token(token)
    status_url = _status_url(request, order)
    if not _checkout_allowed(request):
        error = gettext(
            "Too many payment attempts from your connection. Please try again in a few minutes."
        )
        return _status_with_error(request, order, error)
    try:
        target = order_checkout_restart(
            order=order, status_url=status_url, replacing=request.POST.get("replacing", "")
        )
    except OrderNotRestartable:
        target = status_url
    except UnableToTakePayment as exc:
        return _status_with_error(request, order, str(exc))
    return HttpResponseRedirect(target, status=303)


@never_cache
@require_POST
def order_cancel(request: HttpRequest, token: str) -> HttpResponse:
    order = _order_for_token(token)
    try:
        result = order_cancel_by_customer(order=order)
    except UnableToTakePayment as exc:
        return _status_with_error(request, order, str(exc))
    if result == "cancelled" and request.POST.get("then") == "plans":
        return HttpResponseRedirect(reverse("storefront:plans"), status=303)
    return HttpResponseRedirect(_status_url(request, order), status=303)


def _status_with_error(request: HttpRequest, order: Order, error: str) -> HttpResponse:
    order.refresh_from_db()
    context = _progress_context(order, error=error)
    return render(request, "storefront/order_status.html", context, status=200)


@never_cache
@require_GET
def order_progress_fragment(request: HttpRequest, token: str) -> HttpResponse:
    order = _order_for_token(token)
    return render(request, "storefront/_progress.html", _progress_context(order))
