"""Webhook intake: verify, store, answer at once; processing runs as a task."""

from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from boxoffice.billing.gateways.base import WebhookRejected
from boxoffice.billing.gateways.registry import webhook_gateway
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
