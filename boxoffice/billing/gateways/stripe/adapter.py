"""Stripe Checkout (payment mode) and its webhooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

import stripe
from django.conf import settings

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutStart,
    GatewayAdapter,
    PaymentUpdate,
    UnableToTakePayment,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.stripe.client import stripe_client

logger = logging.getLogger(__name__)
# Stripe amounts are in the currency's minor unit, except these zero-decimal currencies.
ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}


def to_minor(amount: Decimal, currency: str) -> int:
    return (
        int(amount)
        if currency.upper() in ZERO_DECIMAL
        else int((amount * 100).quantize(Decimal("1")))
    )


def from_minor(value: int | None, currency: str) -> Decimal | None:
    if value is None:
        return None
    return (
        Decimal(value)
        if currency.upper() in ZERO_DECIMAL
        else (Decimal(value) / 100).quantize(Decimal("0.01"))
    )


class StripeGateway(GatewayAdapter):
    kind = "stripe"
    label = "Card (Stripe)"

    def start_checkout(self, *, order, success_url: str, cancel_url: str) -> CheckoutStart:
        params = {
            "mode": "payment",
            "client_reference_id": order.reference,
            "metadata": {"order": order.reference},
            "customer_email": order.customer.email,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": to_minor(order.amount, order.currency),
                        "product_data": {"name": f"{settings.SITE_NAME} — {order.plan.name}"},
                    },
                }
            ],
        }
        try:
            session = stripe_client().v1.checkout.sessions.create(
                params, options={"idempotency_key": f"checkout-{order.reference}"}
            )
        except stripe.StripeError as exc:
            logger.warning(
                "stripe checkout for %s failed: %s", order.reference, exc.user_message or exc
            )
            raise UnableToTakePayment(
                "Card payments are not available right now. Please try again in a minute or choose "
                "another payment method."
            ) from exc
        return CheckoutStart(redirect_url=session.url or "", gateway_reference=session.id)

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        signature = headers.get("Stripe-Signature") or headers.get("stripe-signature")
        if not signature:
            raise WebhookRejected("missing Stripe-Signature header")
        try:
            # Verifies every v1 signature in constant time and refuses events older than 300 s.
            event = stripe.Webhook.construct_event(
                body.decode("utf-8"), signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=300
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(
                f"signature verification failed: {exc.user_message or exc}"
            ) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected(f"body is not a JSON event: {exc}") from None
        payload = event.to_dict()
        if not payload.get("id") or not payload.get("type"):
            raise WebhookRejected("event without id or type")
        return VerifiedEvent(event_id=payload["id"], event_type=payload["type"], payload=payload)

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        obj = (event.payload.get("data") or {}).get("object") or {}
        kind = event.event_type
        if kind.startswith("checkout.session."):
            currency = (obj.get("currency") or "").upper()
            common = {
                "order_reference": obj.get("client_reference_id")
                or (obj.get("metadata") or {}).get("order", ""),
                "gateway_reference": obj.get("id", ""),
                "gateway_payment_id": obj.get("payment_intent") or "",
                "amount": from_minor(obj.get("amount_total"), currency),
                "currency": currency,
            }
            if kind == "checkout.session.completed":
                status = obj.get("payment_status")
                if status in ("paid", "no_payment_required"):
                    return PaymentUpdate(status=base.CONFIRMED, **common)
                if status == "unpaid":
                    return PaymentUpdate(status=base.PENDING, **common)
                return None
            if kind == "checkout.session.async_payment_succeeded":
                return PaymentUpdate(status=base.CONFIRMED, **common)
            if kind == "checkout.session.async_payment_failed":
                return PaymentUpdate(status=base.FAILED, **common)
            if kind == "checkout.session.expired":
                return PaymentUpdate(status=base.EXPIRED, **common)
            return None
        if kind == "charge.refunded":
            currency = (obj.get("currency") or "").upper()
            return PaymentUpdate(
                status=base.REFUNDED,
                gateway_payment_id=obj.get("payment_intent") or "",
                amount=from_minor(obj.get("amount_refunded"), currency),
                currency=currency,
            )
        if kind == "charge.dispute.created":
            currency = (obj.get("currency") or "").upper()
            return PaymentUpdate(
                status=base.DISPUTED,
                gateway_payment_id=obj.get("payment_intent") or "",
                amount=from_minor(obj.get("amount"), currency),
                currency=currency,
            )
        return None
