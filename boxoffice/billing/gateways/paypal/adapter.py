"""PayPal Checkout, Orders v2: create an order, send the buyer to its approve link, capture on
their return or on `CHECKOUT.ORDER.APPROVED`, whichever comes first (the capture is idempotent:
one PayPal-Request-Id per order, and an order captured already is read back), fulfil only on a
COMPLETED capture of the right amount. Webhooks are verified by PayPal's own
verify-webhook-signature API (the local emulator answers it too)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import Decimal
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    CheckoutStart,
    GatewayAdapter,
    GatewayConfig,
    PaymentError,
    PaymentUpdate,
    UnableToTakePayment,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.paypal import wire
from boxoffice.billing.gateways.paypal.client import (
    LIVE_API_BASE,
    PayPalAPIError,
    PayPalClient,
    issue_of,
)
from boxoffice.billing.gateways.paypal.subscriptions import (
    PayPalSubscriptions,
    subscription_event_update,
)
from boxoffice.lib import local_defaults

logger = logging.getLogger(__name__)

UNAVAILABLE = (
    "PayPal is not available right now. Please try again in a minute or choose another payment "
    "method."
)
# The PAYPAL-* headers verify-webhook-signature needs, and the names it takes them by.
TRANSMISSION_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}
MAX_WEBHOOK_BYTES = 256 * 1024


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _request_id(kind: str, *parts: str) -> str:
    # PayPal-Request-Id: at most 108 characters.
    return "-".join((kind, *(part for part in parts if part)))[:108]


@dataclass(frozen=True)
class PayPalConfig(GatewayConfig):
    client_id: str = ""
    # Secrets: never in a repr, so never in a log line or a traceback.
    client_secret: str = dc_field(default="", repr=False)
    webhook_id: str = ""
    # Empty: PayPal live (https://api-m.paypal.com); the sandbox or the local emulator otherwise.
    api_base: str = ""

    config_fields = (
        base.ConfigField(
            "client_id",
            "Client ID",
            help="Your REST app's (PayPal developer dashboard, Apps & Credentials)",
        ),
        base.ConfigField("client_secret", "Client secret", secret=True),
        base.ConfigField(
            "webhook_id",
            "Webhook ID",
            help="The id of your REST app's webhook for /billing/webhooks/paypal/",
        ),
        base.ConfigField(
            "api_base",
            "API base",
            kind="url",
            help="Leave empty for PayPal live; the sandbox's https:// address",
        ),
    )

    @classmethod
    def from_settings(cls, settings) -> PayPalConfig:
        return cls(
            client_id=settings.PAYPAL_CLIENT_ID,
            client_secret=settings.PAYPAL_CLIENT_SECRET,
            webhook_id=settings.PAYPAL_WEBHOOK_ID,
            api_base=settings.PAYPAL_API_BASE,
        )

    def problems(self, settings) -> list[str]:
        where = "PayPal developer dashboard, Apps & Credentials"
        problems = []
        for name, value, default in (
            ("PAYPAL_CLIENT_ID", self.client_id, local_defaults.PAYPAL_CLIENT_ID),
            ("PAYPAL_CLIENT_SECRET", self.client_secret, local_defaults.PAYPAL_CLIENT_SECRET),
        ):
            if not value:
                problems.append(f"{name} is not set: set it to your REST app's value ({where}).")
            elif value == default:
                problems.append(
                    f"{name} is the local emulator's: set it to your REST app's value ({where})."
                )
        hook = f"{settings.SITE_URL}/billing/webhooks/paypal/"
        if not self.webhook_id:
            problems.append(
                f"PAYPAL_WEBHOOK_ID is not set: add a webhook for {hook} to your REST app and set "
                "its id; without it no PayPal notification can be verified."
            )
        elif self.webhook_id == local_defaults.PAYPAL_WEBHOOK_ID:
            problems.append(
                f"PAYPAL_WEBHOOK_ID is the local emulator's ({self.webhook_id}): set it to the id "
                f"of your REST app's webhook for {hook}."
            )
        if self.api_base and urlsplit(self.api_base).scheme != "https":
            problems.append(
                f"PAYPAL_API_BASE={self.api_base} is not an https:// address: leave it empty for "
                f"PayPal live ({LIVE_API_BASE}), or set the sandbox's address."
            )
        return problems


def _is_subscription(gateway_reference: str) -> bool:
    # Subscription ids are I-XXXXXXXXXXXX; Orders v2 ids have no dash.
    return gateway_reference.startswith("I-")


class PayPalGateway(PayPalSubscriptions, GatewayAdapter):
    kind = "paypal"
    label = _("PayPal")
    config_class = PayPalConfig
    config: PayPalConfig

    hosted_page = True
    notifications = True
    captures_on_return = True  # back on the status page, the approved order is captured
    reports_refunds = True  # PAYMENT.CAPTURE.REFUNDED, CUSTOMER.DISPUTE.CREATED
    refunds = True  # POST /v2/payments/captures/{id}/refund, full or partial
    recurring = True  # PayPal Subscriptions (subscriptions.py): a DAY-cycle plan per price
    payment_method_help = _(
        "PayPal has no page for changing the card of one subscription: we send you to Automatic "
        "payments in your PayPal account, where you choose the card or bank account PayPal "
        "charges for it."
    )

    def _client(self) -> PayPalClient:
        return PayPalClient(
            api_base=self.config.api_base,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
        )

    # --- checkout ----------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        try:
            value = wire.to_value(request.amount, request.currency)
        except wire.AmountNotRepresentable as exc:
            raise PaymentError(str(exc)) from None
        if request.recurring_days:
            return self.subscription_checkout(request, value)
        body = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": request.order_reference,
                    "custom_id": request.order_reference,
                    "description": request.description[:127],
                    "amount": {"currency_code": request.currency.upper(), "value": value},
                }
            ],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        # PayPal adds &token=<order id>&PayerID=...; `returned` has the
                        # status page capture the approved order at once.
                        "return_url": _with_query(request.success_url, "returned=1"),
                        "cancel_url": _with_query(request.cancel_url, "payment=cancelled"),
                        "user_action": "PAY_NOW",
                        "shipping_preference": "NO_SHIPPING",
                    }
                }
            },
        }
        # A second checkout for the same order follows the one it replaces; a double click on
        # either still yields one PayPal order.
        key = _request_id("checkout", request.order_reference, request.previous_gateway_reference)
        try:
            answer = self._client().call("POST", "/v2/checkout/orders", body=body, request_id=key)
        except PayPalAPIError as exc:
            logger.warning("paypal order for %s failed: %s", request.order_reference, exc)
            raise UnableToTakePayment(UNAVAILABLE) from exc
        order_id = wire.text(answer.body, "id")
        approve = wire.link(answer.body, "payer-action", "approve")
        if answer.status not in (200, 201) or not order_id or not approve:
            logger.warning(
                "paypal order for %s: HTTP %s %s, no order id or approve link",
                request.order_reference,
                answer.status,
                issue_of(answer.body),
            )
            raise UnableToTakePayment(UNAVAILABLE)
        return CheckoutStart(redirect_url=approve, gateway_reference=order_id)

    def _order(self, order_id: str) -> dict:
        answer = self._client().call("GET", f"/v2/checkout/orders/{order_id}")
        if answer.status != 200 or answer.body.get("id") != order_id:
            raise PayPalAPIError(
                f"PayPal order {order_id}: HTTP {answer.status} {issue_of(answer.body)}",
                status=answer.status,
            )
        return answer.body

    def _capture(self, order_id: str) -> dict:
        """Capture an approved order, once: the same PayPal-Request-Id on every try, and an
        order captured already (the webhook or the return got there first) is read back."""
        answer = self._client().call(
            "POST",
            f"/v2/checkout/orders/{order_id}/capture",
            body={},
            request_id=_request_id("capture", order_id),
        )
        if answer.status in (200, 201) and answer.body.get("id") == order_id:
            return answer.body
        issue = issue_of(answer.body)
        if answer.status == 422 and issue == "ORDER_ALREADY_CAPTURED":
            return self._order(order_id)
        raise PayPalAPIError(
            f"PayPal capture of {order_id}: HTTP {answer.status} {issue}",
            status=answer.status,
            issue=issue,
        )

    def _settle(self, order_id: str) -> PaymentUpdate | None:
        """Read the order; capture it when the buyer approved it. Network I/O."""
        order = self._order(order_id)
        if order.get("status") == "APPROVED":
            order = self._capture(order_id)
        return wire.order_update(order)

    def checkout_status(self, ref: CheckoutRef) -> PaymentUpdate | None:
        if not ref.gateway_reference:
            return None
        if _is_subscription(ref.gateway_reference):
            return self.subscription_return(ref.gateway_reference)
        try:
            return self._settle(ref.gateway_reference)
        except PayPalAPIError as exc:
            logger.warning("paypal order %s on return: %s", ref.gateway_reference, exc)
            return None

    def checkout_close(self, ref: CheckoutRef) -> PaymentUpdate | None:
        # Orders v2 has no call that cancels an order: an unapproved one expires at PayPal
        # (and is never captured by us once replaced). Paid meanwhile? Then say so.
        if not ref.gateway_reference:
            return None
        if _is_subscription(ref.gateway_reference):
            # An approved subscription is charged by PayPal: it cannot be closed from here.
            if self.subscription_return(ref.gateway_reference) is not None:
                raise UnableToTakePayment(
                    "Your PayPal subscription is already active: it shows as paid in a moment."
                )
            return None
        try:
            order = self._order(ref.gateway_reference)
        except PayPalAPIError as exc:
            raise UnableToTakePayment(
                "We could not reach PayPal. Please try again in a minute."
            ) from exc
        return wire.order_update(order)

    # --- refunds -----------------------------------------------------------------------------
    def refund(
        self,
        *,
        gateway_payment_id: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str = "",
    ) -> PaymentUpdate:
        try:
            value = wire.to_value(amount, currency)
        except wire.AmountNotRepresentable as exc:
            raise PaymentError(str(exc)) from None
        if amount <= 0:
            raise PaymentError(f"nothing to refund ({amount} {currency})")
        try:
            answer = self._client().call(
                "POST",
                f"/v2/payments/captures/{gateway_payment_id}/refund",
                body={"amount": {"value": value, "currency_code": currency.upper()}},
                # The same refund asked twice (a timeout, a double click) is one refund.
                request_id=_request_id("refund", gateway_payment_id, idempotency_key or value),
            )
            if answer.status == 404:
                # Not a capture: a subscription's sale (its payments are sales, v1).
                return self.sale_refund(
                    sale_id=gateway_payment_id,
                    value=value,
                    currency=currency,
                    request_id=_request_id("refund", gateway_payment_id, idempotency_key or value),
                )
        except PayPalAPIError as exc:
            raise UnableToTakePayment(f"PayPal did not refund: {exc}") from exc
        update = wire.refund_update(answer.body)
        status = wire.text(answer.body, "status")
        if answer.status not in (200, 201) or update is None or status in ("FAILED", "CANCELLED"):
            raise UnableToTakePayment(
                f"PayPal did not refund capture {gateway_payment_id}: HTTP {answer.status} "
                f"{issue_of(answer.body) or status}"
            )
        if update.gateway_payment_id != gateway_payment_id:
            raise PaymentError(
                f"PayPal's refund names another capture ({update.gateway_payment_id})"
            )
        return update

    # --- webhooks ----------------------------------------------------------------------------
    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        if len(body) > MAX_WEBHOOK_BYTES:
            raise WebhookRejected("body too large for a PayPal event")
        fields = {}
        lowered = {str(key).lower(): value for key, value in headers.items()}
        for name, header in TRANSMISSION_HEADERS.items():
            value = lowered.get(header.lower()) or ""
            if not value or len(value) > 2048:
                raise WebhookRejected(f"missing {header} header")
            fields[name] = value
        if not self.config.webhook_id:
            raise WebhookRejected("no webhook id is configured (PAYPAL_WEBHOOK_ID)")
        try:
            text = body.decode("utf-8")
            payload = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebhookRejected(f"body is not a JSON event: {exc}") from None
        problem = wire.event_shape_problem(payload)
        if problem:
            raise WebhookRejected(f"body is not a PayPal event: {problem}")
        # The event goes to PayPal as it arrived: re-serialised JSON may differ from what was
        # signed (number formats, escapes) and fail verification.
        request = json.dumps({**fields, "webhook_id": self.config.webhook_id})
        raw = f'{request[:-1]}, "webhook_event": {text}}}'.encode()
        try:
            answer = self._client().call(
                "POST", "/v1/notifications/verify-webhook-signature", raw_json=raw
            )
        except PayPalAPIError as exc:
            # A 4xx tells PayPal to deliver again later (it retries for three days).
            logger.warning("paypal webhook %s not verified: %s", payload["id"], exc)
            raise WebhookRejected(f"could not verify with PayPal: {exc}") from None
        if answer.status != 200 or answer.body.get("verification_status") != "SUCCESS":
            raise WebhookRejected(
                f"PayPal did not verify the event (HTTP {answer.status}, "
                f"{answer.body.get('verification_status')!r})"
            )
        return VerifiedEvent(
            event_id=payload["id"], event_type=payload["event_type"], payload=payload
        )

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        if wire.event_shape_problem(event.payload):
            return None
        resource = event.payload["resource"]
        return wire.event_update(event.event_type, resource) or subscription_event_update(
            event.event_type, resource
        )

    def event_update(
        self, event: VerifiedEvent, *, checkout_open: Callable[[str], bool] = lambda ref: False
    ) -> PaymentUpdate | None:
        """An approval is captured here (the webhook may beat the buyer back), only while the
        order is still our open checkout (not one the customer cancelled or replaced, which
        PayPal then lets expire uncharged); a completed capture is read back from PayPal before
        it grants anything. Network I/O, outside any transaction; an error is raised so the
        event is retried."""
        if wire.event_shape_problem(event.payload):
            return None
        update = self.parse_event(event)
        resource = event.payload["resource"]
        try:
            if event.event_type == "CHECKOUT.ORDER.APPROVED":
                order_id = wire.text(resource, "id")
                if not order_id or not checkout_open(order_id):
                    return None
                return self._settle(order_id)
            if update is not None and update.status == base.CONFIRMED:
                return self._confirmed_capture(update)
        except PayPalAPIError as exc:
            if exc.status in (400, 404, 422):
                # PayPal refuses this as it is (e.g. INSTRUMENT_DECLINED: the buyer must choose
                # another way to pay): asking again changes nothing, and nothing was paid.
                logger.warning("paypal %s %s: %s", event.event_type, event.event_id, exc)
                return None
            # Unreachable, 5xx, refused credentials: retried, then the review queue.
            raise PaymentError(f"PayPal {event.event_type} {event.event_id}: {exc}") from exc
        return update

    def _confirmed_capture(self, update: PaymentUpdate) -> PaymentUpdate | None:
        """The capture as PayPal's order holds it now, or None when it is not completed there."""
        if not update.gateway_reference:
            return None  # a capture that names no order cannot be checked: grant nothing
        order = self._order(update.gateway_reference)
        capture = wire.capture_of_order(order, update.gateway_payment_id)
        fresh = wire.order_update(order)
        if capture is None or fresh is None or wire.text(capture, "status") != "COMPLETED":
            return None
        amount = wire.money(capture.get("amount"))
        return PaymentUpdate(
            status=base.CONFIRMED,
            order_reference=fresh.order_reference,
            gateway_reference=update.gateway_reference,
            gateway_payment_id=update.gateway_payment_id,
            amount=amount[0] if amount else None,
            currency=amount[1] if amount else "",
        )
