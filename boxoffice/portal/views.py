"""Customer portal views: thin, every read scoped by the signed-in customer."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from boxoffice.billing.checkout import (
    CheckoutData,
    PlanChangeRefused,
    addon_checkout_begin,
    checkout_begin,
    upgrade_checkout_begin,
)
from boxoffice.billing.gateways.base import PaymentError, UnableToTakePayment
from boxoffice.billing.gateways.registry import enabled_gateways
from boxoffice.billing.invoicing import invoice_filename, invoice_pdf
from boxoffice.billing.models import Invoice
from boxoffice.billing.plan_changes import (
    ADDON_RULE,
    RULE,
    addon_quote,
    plan_change_choices,
    renewal_terms,
)
from boxoffice.billing.subscriptions import (
    subscription_cancel_at_period_end,
    subscription_card_update_url,
    subscription_for_line,
)
from boxoffice.customers.models import SignInLink
from boxoffice.customers.services import (
    ONBOARDING,
    SignInLinkInvalid,
    customer_for_user,
    customer_is_portal_user,
    customer_is_unsubscribed,
    customer_mark_verified,
    customer_resubscribe,
    customer_unsubscribe,
    lifetime_in_words,
    safe_next_path,
    sign_in_link_check,
    sign_in_link_use,
    sign_in_links_revoke,
    unsubscribe_target,
    unsubscribe_token,
)
from boxoffice.lib.ratelimit import client_ip
from boxoffice.portal.forms import (
    AddonForm,
    BillingDetailsForm,
    CustomerPasswordResetForm,
    MagicLinkRequestForm,
    PlanChangeForm,
    PortalLoginForm,
    TrialConvertForm,
)
from boxoffice.portal.selectors import (
    customer_orders_awaiting_payment,
    customer_subscriptions,
    trial_conversion_plans,
)
from boxoffice.portal.services import portal_link_request_allowed
from boxoffice.portal.tasks import sign_in_link_send
from boxoffice.provisioning.conversion import line_convertible
from boxoffice.provisioning.lifecycle import line_offered_for_renewal, renewal_pay_token
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.plan_changes import (
    line_downgrade_cancel,
    line_downgrade_schedule,
    line_plan_change_refusal,
)

CUSTOMER_BACKEND = "boxoffice.customers.backends.CustomerBackend"
# Where a sign-in link's token waits between the click in the mail and the button press, so the
# page with the button (and its POST) carries no secret in its address.
_SESSION_LINK_TOKEN = "portal_sign_in_link"


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    form_class = PortalLoginForm
    next_page = reverse_lazy("portal:overview")

    def dispatch(self, request, *args, **kwargs):
        if customer_is_portal_user(request.user):
            return redirect(self.get_success_url())
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"username": self.request.GET.get("email", "")[:254]}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["form"]
        email = form.data.get("username") or self.request.GET.get("email", "")
        context["link_form"] = MagicLinkRequestForm(
            initial={"email": email[:254], "next": safe_next_path(context.get("next"))}
        )
        context["offer_link"] = form.offer_link
        return context


class PortalLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


@never_cache
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    customer = customer_for_user(request.user)
    if customer is None:
        # Operators and other users without a subscription land here after signing in.
        return render(request, "portal/no_customer.html")
    context = {
        "customer": customer,
        "needs_password": not request.user.has_usable_password(),
        "subscriptions": customer_subscriptions(customer=customer),
        "unpaid_orders": customer_orders_awaiting_payment(customer=customer),
        "unsubscribe_token": unsubscribe_token(customer),
        "onboarding_token": unsubscribe_token(customer, ONBOARDING),
        "invoices": customer.invoices.select_related("order").order_by("-issued_at", "-pk")[:24],
    }
    return render(request, "portal/overview.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def trial_convert(request: HttpRequest, line_id: int) -> HttpResponse:
    """Turn one of the customer's trial lines into a paid plan: a paid order of that plan
    targeting the line, which keeps its username and password."""
    customer = customer_for_user(request.user)
    if customer is None:
        return render(request, "portal/no_customer.html")
    line = get_object_or_404(
        Line.objects.select_related("plan", "panel"), pk=line_id, customer=customer
    )
    problem = line_convertible(line, customer=customer)
    form = TrialConvertForm(
        request.POST or None, plans=trial_conversion_plans(line=line), gateways=enabled_gateways()
    )
    if not problem and request.method == "POST" and form.is_valid():
        data = CheckoutData(
            email=customer.email,
            name=customer.name,
            preferred_username="",
            preferred_password="",
            device=line.device,
            mac_address=line.mac_address,
            country=customer.country,
            gateway=form.cleaned_data["gateway"],
        )
        try:
            result = checkout_begin(
                plan=form.cleaned_data["plan"],
                data=data,
                customer=customer,
                converting=line,
                status_url_for=lambda order: request.build_absolute_uri(
                    reverse("storefront:order_status", args=[order.status_token])
                ),
            )
        except UnableToTakePayment as exc:
            form.add_error(None, str(exc))
        else:
            return HttpResponseRedirect(result.redirect_url, status=303)
    context = {"line": line, "form": form, "problem": problem}
    return render(request, "portal/trial_convert.html", context)


@never_cache
@login_required
@require_http_methods(["GET"])
def renew(request: HttpRequest, line_id: int) -> HttpResponse:
    """Renew (or renew early) one of the signed-in customer's lines: its renewal checkout,
    prefilled (no typing, no new account)."""
    customer = customer_for_user(request.user)
    line = Line.objects.filter(pk=line_id, customer=customer).first() if customer else None
    if line is None or not line_offered_for_renewal(line):
        raise Http404
    return redirect("storefront:renew", token=renewal_pay_token(line))


def _own_line(request: HttpRequest, line_id: int) -> tuple[object, Line]:
    """The signed-in customer and one of their lines (another customer's line: 404)."""
    customer = customer_for_user(request.user)
    if customer is None:
        raise Http404
    line = get_object_or_404(
        Line.objects.select_related("plan", "panel", "next_plan"), pk=line_id, customer=customer
    )
    return customer, line


def _shown(request: HttpRequest, name: str) -> Decimal:
    """The amount the page showed for the chosen item (its hidden field). Missing or not a
    number: zero, so anything to pay is shown again before it is charged."""
    try:
        shown = Decimal(request.POST.get(name, ""))
    except InvalidOperation:
        return Decimal("0")
    return shown if shown.is_finite() else Decimal("0")


def _status_url_for(request: HttpRequest):
    return lambda order: request.build_absolute_uri(
        reverse("storefront:order_status", args=[order.status_token])
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def change_plan(request: HttpRequest, line_id: int) -> HttpResponse:
    """Change a line's plan: an upgrade with its figures shown before paying (paid now, the
    expiry unchanged), or a downgrade recorded for the next renewal."""
    _, line = _own_line(request, line_id)
    problem = line_plan_change_refusal(line, operation="change_plan")
    choices = [] if problem else plan_change_choices(line=line)
    form = PlanChangeForm(request.POST or None, choices=choices, gateways=enabled_gateways())
    if not problem and request.method == "POST" and form.is_valid():
        choice = form.cleaned_data["choice"]
        if choice.upgrade:
            try:
                result = upgrade_checkout_begin(
                    line=line,
                    plan=choice.plan,
                    gateway=form.cleaned_data["gateway"],
                    status_url_for=_status_url_for(request),
                    shown=_shown(request, f"shown-{choice.plan.pk}"),
                )
            except (PlanChangeRefused, UnableToTakePayment) as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(result.redirect_url, status=303)
        else:
            line_downgrade_schedule(line=line, plan=choice.plan)
            messages.success(
                request, f"{line.username} changes to {choice.plan.name} at its next renewal."
            )
            return redirect("portal:overview")
    context = {
        "line": line,
        "form": form,
        "problem": problem,
        "upgrades": [c for c in choices if c.upgrade],
        "downgrades": [c for c in choices if not c.upgrade],
        "rule": RULE,
        "renewal": renewal_terms(line),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "portal/change_plan.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["POST"])
def downgrade_cancel(request: HttpRequest, line_id: int) -> HttpResponse:
    _, line = _own_line(request, line_id)
    if line_downgrade_cancel(line=line):
        messages.success(request, f"{line.username} stays on {line.plan.name}.")
    return redirect("portal:overview")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def addon(request: HttpRequest, line_id: int) -> HttpResponse:
    """Buy extra connections for a line: priced for the time left until its expiry, shown
    before paying; every renewal after includes them."""
    _, line = _own_line(request, line_id)
    problem = line_plan_change_refusal(line, operation="set_connections")
    plan = line.plan
    if not problem and not plan.sells_extra_connections:
        problem = f"{plan.name} has no extra connections to add"
    available = max(plan.max_extra_connections - line.extra_connections, 0)
    if not problem and not available:
        problem = f"this line has every extra connection {plan.name} allows"
    quotes = [] if problem else [addon_quote(line=line, count=n) for n in range(1, available + 1)]
    form = AddonForm(
        request.POST or None,
        counts=[q.extra_to - q.extra_from for q in quotes],
        gateways=enabled_gateways(),
    )
    if not problem and request.method == "POST" and form.is_valid():
        try:
            result = addon_checkout_begin(
                line=line,
                count=form.cleaned_data["count"],
                gateway=form.cleaned_data["gateway"],
                status_url_for=_status_url_for(request),
                shown=_shown(request, f"shown-{form.cleaned_data['count']}"),
            )
        except (PlanChangeRefused, UnableToTakePayment) as exc:
            form.add_error(None, str(exc))
        else:
            return HttpResponseRedirect(result.redirect_url, status=303)
    context = {
        "line": line,
        "form": form,
        "problem": problem,
        "quotes": quotes,
        "rule": ADDON_RULE.format(
            price=plan.extra_connection_price, currency=plan.currency, days=plan.duration_days
        ),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "portal/addon.html", context, status=status)


def _auto_renew_change(request: HttpRequest, line_id: int, *, cancel: bool) -> HttpResponse:
    customer = customer_for_user(request.user)
    line = Line.objects.filter(pk=line_id, customer=customer).first() if customer else None
    sub = subscription_for_line(line) if line is not None else None
    if sub is None or sub.status in ("canceled", "cancelled"):
        raise Http404
    reason = request.POST.get("reason", "")[:500] if cancel else ""
    try:
        subscription_cancel_at_period_end(sub=sub, cancel=cancel, reason=reason)
    except UnableToTakePayment as exc:
        messages.error(request, str(exc))
    else:
        if cancel:
            messages.success(
                request,
                "Auto-renewal is cancelled: your line runs until the end of what you paid.",
            )
        else:
            messages.success(request, "Auto-renewal is on again.")
    return redirect("portal:overview")


@never_cache
@login_required
@require_http_methods(["POST"])
def auto_renew_card(request: HttpRequest, line_id: int) -> HttpResponse:
    """Replace the card an auto-renewing line is charged with: a fresh billing-portal session
    at the gateway per click (its address goes to the browser only)."""
    customer = customer_for_user(request.user)
    line = Line.objects.filter(pk=line_id, customer=customer).first() if customer else None
    sub = subscription_for_line(line) if line is not None else None
    if sub is None or sub.status in ("canceled", "cancelled"):
        raise Http404
    try:
        url = subscription_card_update_url(
            sub=sub, return_url=request.build_absolute_uri(reverse("portal:overview"))
        )
    except (UnableToTakePayment, PaymentError):
        messages.error(
            request, "We could not reach the card payment service. Please try again in a minute."
        )
        return redirect("portal:overview")
    return HttpResponseRedirect(url, status=303)


@never_cache
@login_required
@require_http_methods(["POST"])
def auto_renew_cancel(request: HttpRequest, line_id: int) -> HttpResponse:
    """Stop the automatic renewal of one of the customer's lines at the end of the period
    already paid (optional reason); the line keeps working until then."""
    return _auto_renew_change(request, line_id, cancel=True)


@never_cache
@login_required
@require_http_methods(["POST"])
def auto_renew_resume(request: HttpRequest, line_id: int) -> HttpResponse:
    """Undo a cancellation before the paid period ends."""
    return _auto_renew_change(request, line_id, cancel=False)


def _link_invalid(request: HttpRequest, exc: SignInLinkInvalid) -> HttpResponse:
    context = {"error": str(exc), "expired": exc.expired, "form": MagicLinkRequestForm()}
    return render(request, "portal/magic_invalid.html", context, status=400)


@never_cache
@require_http_methods(["GET"])
def magic_link(request: HttpRequest, token: str) -> HttpResponse:
    """The address in the e-mail. GET changes nothing (mail scanners fetch links): the token is
    checked, kept in the session, and the browser goes on to the page with the button."""
    try:
        sign_in_link_check(token=token)
    except SignInLinkInvalid as exc:
        return _link_invalid(request, exc)
    request.session[_SESSION_LINK_TOKEN] = token
    return redirect("portal:magic_confirm")


def _confirm_code(token: str) -> str:
    # Ties the button to the link whose address the page showed: another page could otherwise
    # swap the session's token (a top-level GET of its own link) before the button is pressed,
    # and the customer would find themselves in someone else's account.
    return salted_hmac("boxoffice.portal.magic-confirm", token, algorithm="sha256").hexdigest()


@never_cache
@require_http_methods(["GET", "POST"])
def magic_confirm(request: HttpRequest) -> HttpResponse:
    token = request.session.get(_SESSION_LINK_TOKEN, "")
    try:
        if request.method == "POST":
            if not constant_time_compare(request.POST.get("confirm", ""), _confirm_code(token)):
                raise SignInLinkInvalid(
                    "This page no longer matches your sign-in link. Open the link in your "
                    "e-mail again."
                )
            used = sign_in_link_use(token=token)
            request.session.pop(_SESSION_LINK_TOKEN, None)
            login(request, used.user, backend=CUSTOMER_BACKEND)
            return redirect(used.next_path or "portal:overview")
        link = sign_in_link_check(token=token)
    except SignInLinkInvalid as exc:
        request.session.pop(_SESSION_LINK_TOKEN, None)
        return _link_invalid(request, exc)
    context = {"customer": link.customer, "confirm_code": _confirm_code(token)}
    return render(request, "portal/magic_confirm.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def magic_link_request(request: HttpRequest) -> HttpResponse:
    form = MagicLinkRequestForm(request.POST or None, initial={"next": request.GET.get("next")})
    if request.method == "POST" and form.is_valid():
        # Queued whatever the address: the answer takes the same time and says the same thing.
        if portal_link_request_allowed(ip=client_ip(request)):
            sign_in_link_send.enqueue(
                form.cleaned_data["email"], safe_next_path(form.cleaned_data["next"])
            )
        context = {
            "email": form.cleaned_data["email"],
            "lifetime": lifetime_in_words(SignInLink.Purpose.REQUESTED),
        }
        return render(request, "portal/magic_sent.html", context)
    return render(request, "portal/magic_request.html", {"form": form})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Choose a password (a customer who came in by link has none yet) or change it."""
    customer = customer_for_user(request.user)
    if customer is None:
        return render(request, "portal/no_customer.html")
    form_class = PasswordChangeForm if request.user.has_usable_password() else SetPasswordForm
    form = form_class(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        sign_in_links_revoke(customer=customer)
        messages.success(request, "Your password is saved. Use it with your e-mail to sign in.")
        return redirect("portal:overview")
    return render(
        request,
        "portal/password_change.html",
        {"form": form, "setting_first": form_class is SetPasswordForm},
    )


class PortalPasswordResetView(auth_views.PasswordResetView):
    form_class = CustomerPasswordResetForm
    template_name = "portal/password_reset.html"
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form):
        if portal_link_request_allowed(ip=client_ip(self.request)):
            form.save()
        return redirect(self.get_success_url())


class PortalPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_done.html"


class PortalPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's confirm view: it moves the token into the session and redirects to a URL without
    it before showing the form. Only a customer's own login can be reset here."""

    template_name = "portal/password_reset_confirm.html"
    success_url = reverse_lazy("portal:overview")
    post_reset_login = True
    post_reset_login_backend = CUSTOMER_BACKEND

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if customer_is_portal_user(user) else None

    def form_valid(self, form):
        response = super().form_valid(form)
        customer = customer_for_user(form.user)
        if customer is not None:
            customer_mark_verified(customer=customer)
            sign_in_links_revoke(customer=customer)
        messages.success(self.request, "Your password is saved. You are signed in.")
        return response


# The unsubscribe link of non-transactional mail (win-back and offers, or the welcome sequence:
# the token names its category). GET only shows the button (mail scanners fetch links); POST
# unsubscribes. Exempt from CSRF because RFC 8058 one-click comes as a POST from the mailbox
# provider with no cookie: the signed token is the permission, and it can do nothing but stop
# mail. Subscribing again is a CSRF-protected form.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    target = unsubscribe_target(token)
    if target is None:
        return render(request, "portal/unsubscribe.html", {"invalid": True}, status=400)
    customer, category = target
    done = customer_is_unsubscribed(customer, category)
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        customer_unsubscribe(
            customer=customer, how="one-click" if one_click else "link", category=category
        )
        done = True
    context = {"done": done, "token": token, "email": customer.email, "category": category}
    return render(request, "portal/unsubscribe.html", context)


@never_cache
@require_http_methods(["POST"])
def resubscribe(request: HttpRequest, token: str) -> HttpResponse:
    target = unsubscribe_target(token)
    if target is None:
        return render(request, "portal/unsubscribe.html", {"invalid": True}, status=400)
    customer, category = target
    customer_resubscribe(customer=customer, category=category)
    context = {
        "done": False,
        "resubscribed": True,
        "token": token,
        "email": customer.email,
        "category": category,
    }
    return render(request, "portal/unsubscribe.html", context)


@never_cache
@login_required
@require_http_methods(["GET"])
def invoice_download(request: HttpRequest, number: str) -> HttpResponse:
    """One of the signed-in customer's invoices or credit notes as PDF; anyone else's: 404."""
    customer = customer_for_user(request.user)
    if customer is None:
        raise Http404
    invoice = get_object_or_404(
        Invoice.objects.select_related("order"), number=number, customer=customer
    )
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_filename(invoice)}"'
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def billing_details(request: HttpRequest) -> HttpResponse:
    customer = customer_for_user(request.user)
    if customer is None:
        return render(request, "portal/no_customer.html")
    form = BillingDetailsForm(request.POST or None, instance=customer)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved: your next invoices are made out to these details.")
        return redirect("portal:overview")
    return render(
        request, "portal/billing_details.html", {"form": form}, status=400 if form.errors else 200
    )
