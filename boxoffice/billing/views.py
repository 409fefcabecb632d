"""Webhook intake (verify, store, answer at once; processing runs as a task) and the card link
of a failed subscription payment."""

from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from boxoffice.billing.gateways.base import PaymentError, UnableToTakePayment, WebhookRejected
from boxoffice.billing.gateways.registry import webhook_gateway
from boxoffice.billing.subscriptions import (
    card_link_subscription,
    subscription_card_update_url,
    subscription_payment_method_help,
)
from boxoffice.billing.webhooks import webhook_event_store


@csrf_exempt  # gateways cannot send our CSRF token; the signature check stands in for it
@require_POST
def webhook_receive(request, kind: str):
    # Only enabled gateways (the registry decides): a disabled one's secret may still be set.
    adapter = webhook_gateway(kind)
    if adapter is None:
        raise Http404("unknown gateway")
    try:
        event = adapter.verify_webhook(body=request.body, headers=request.headers)
    except WebhookRejected as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    stored, created = webhook_event_store(gateway=kind, event=event)
    return JsonResponse({"received": True, "duplicate": not created})


@never_cache
@require_http_methods(["GET", "POST"])
def subscription_card(request, token: str):
    """The "update my card" link of a failed-payment mail: a signed link that expires, naming
    one subscription. GET shows a button; each POST (CSRF-checked) makes a fresh billing-portal
    session at the gateway and sends the browser there. The portal's address is never stored,
    logged or put in a mail."""
    sub = card_link_subscription(token)
    if sub is None:
        return render(request, "billing/card_link_invalid.html", status=400)
    error = ""
    if request.method == "POST":
        try:
            url = subscription_card_update_url(
                sub=sub, return_url=request.build_absolute_uri(reverse("portal:overview"))
            )
        except (UnableToTakePayment, PaymentError) as exc:
            error = (
                str(exc)
                if isinstance(exc, UnableToTakePayment)
                else ("We could not reach the card payment service. Please try again in a minute.")
            )
        else:
            return HttpResponseRedirect(url, status=303)
    context = {
        "subscription": sub,
        "plan": sub.plan,
        "error": error,
        "help": subscription_payment_method_help(sub),
    }
    return render(request, "billing/card_link.html", context, status=502 if error else 200)
