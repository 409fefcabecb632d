"""Stripe Checkout (payment and subscription mode), Stripe Billing's subscriptions and invoices,
the billing portal, and the webhooks.

Subscriptions (API 2025-03-31 and later): an invoice names its subscription in
`parent.subscription_details.subscription` (with a snapshot of the subscription's metadata),
a subscription's period end is on `items.data[].current_period_end`, an invoice's service period
on its `lines.data[].period`. Subscription events only point at objects: billing re-fetches
the subscription and the invoice before it writes anything."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe
from django.utils.translation import gettext_lazy as _
from stripe.params.checkout import SessionCreateParams

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutRef,
    CheckoutRequest,
    CheckoutStart,
    GatewayAdapter,
    GatewayConfig,
    InvoiceState,
    PaymentError,
    PaymentUpdate,
    SubscriptionState,
    UnableToTakePayment,
    VerifiedEvent,
    WebhookRejected,
)
from boxoffice.billing.gateways.stripe.client import stripe_client
from boxoffice.lib import local_defaults

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


def _checkout_key(request: CheckoutRequest) -> str:
    # A second checkout for the same order (the customer came back and pays again) follows the
    # session it replaces; a double click on either still yields one session.
    if request.previous_gateway_reference:
        return f"checkout-{request.order_reference}-after-{request.previous_gateway_reference}"
    return f"checkout-{request.order_reference}"


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


# Fields of the objects we read, and the JSON types they must have when present.
_OBJECT_FIELDS = {
    "id": str,
    "client_reference_id": str,
    "payment_status": str,
    "payment_intent": str,
    "currency": str,
    "metadata": dict,
    "amount_total": int,
    "amount": int,
    "amount_refunded": int,
}


def _event_shape_problem(payload) -> str:
    """What keeps `payload` from being an event we can read, or "" (the SDK's own parser
    answers a list, or a list where an object belongs, with an exception, not a refusal)."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    # Lengths as WebhookEvent stores them (PostgreSQL refuses longer values).
    if not isinstance(payload.get("id"), str) or not 0 < len(payload["id"]) <= 255:
        return "no event id"
    if not isinstance(payload.get("type"), str) or not 0 < len(payload["type"]) <= 100:
        return "no event type"
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "data.object is not an object"
    obj = data["object"]
    for field, kind in _OBJECT_FIELDS.items():
        value = obj.get(field)
        # bool is an int in Python, never an amount in JSON.
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"data.object.{field} is not a {kind.__name__}"
    if not all(isinstance(v, str) for v in (obj.get("metadata") or {}).values()):
        return "data.object.metadata holds something other than text"
    return ""


@dataclass(frozen=True)
class StripeConfig(GatewayConfig):
    # Secrets: never in a repr, so never in a log line or a traceback.
    secret_key: str = dc_field(default="", repr=False)
    webhook_secret: str = dc_field(default="", repr=False)
    # Empty: Stripe itself. Set only to point the SDK at the local emulator.
    api_base: str = ""

    config_fields = (
        base.ConfigField(
            "secret_key",
            "Secret key",
            secret=True,
            help="sk_live_... (Stripe dashboard, Developers > API keys)",
        ),
        base.ConfigField(
            "webhook_secret",
            "Webhook signing secret",
            secret=True,
            help="whsec_... of the endpoint for /billing/webhooks/stripe/",
        ),
        base.ConfigField(
            "api_base",
            "API base",
            kind="url",
            help="Leave empty for Stripe itself; the local emulator's address in development only",
        ),
    )

    @classmethod
    def from_settings(cls, settings) -> StripeConfig:
        return cls(
            secret_key=settings.STRIPE_SECRET_KEY,
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
            api_base=settings.STRIPE_API_BASE,
        )

    def problems(self, settings) -> list[str]:
        problems = []
        key = self.secret_key
        if not key:
            problems.append(
                "STRIPE_SECRET_KEY is not set: set it to your Stripe secret key "
                "(Stripe dashboard, Developers > API keys)."
            )
        elif key == local_defaults.STRIPE_SECRET_KEY:
            problems.append(
                f"STRIPE_SECRET_KEY is the local emulator's key ({key}): set it to your Stripe "
                "secret key (Stripe dashboard, Developers > API keys)."
            )
        secret = self.webhook_secret
        where = f"{settings.SITE_URL}/billing/webhooks/stripe/"
        if not secret:
            problems.append(
                "STRIPE_WEBHOOK_SECRET is not set: set it to the signing secret (whsec_...) of "
                f"the Stripe webhook endpoint for {where}."
            )
        elif secret == local_defaults.STRIPE_WEBHOOK_SECRET:
            problems.append(
                f"STRIPE_WEBHOOK_SECRET is the local emulator's secret ({secret}), with which "
                "anyone can sign a payment: set it to the signing secret (whsec_...) of the "
                f"Stripe webhook endpoint for {where}."
            )
        base_url = self.api_base
        if base_url and not base_url.lower().startswith("https://"):
            problems.append(
                f"STRIPE_API_BASE={base_url} is not an https:// address: leave it empty to talk "
                "to Stripe itself (it points the SDK at the local emulator)."
            )
        return problems


class StripeGateway(GatewayAdapter):
    kind = "stripe"
    label = _("Card (Stripe)")
    config_class = StripeConfig
    config: StripeConfig

    hosted_page = True
    notifications = True
    captures_on_return = True  # the status page asks Stripe about the session at once
    reports_refunds = True  # charge.refunded, charge.dispute.created / closed
    refunds = True  # POST /v1/refunds on the payment's PaymentIntent
    recurring = True  # Checkout mode=subscription, Stripe Billing charges every period

    def _client(self) -> stripe.StripeClient:
        return stripe_client(self.config)

    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        metadata = {**request.metadata, "order": request.order_reference}
        price_data: dict[str, Any] = {
            "currency": request.currency.lower(),
            "unit_amount": to_minor(request.amount, request.currency),
            "product_data": {"name": request.description},
        }
        if request.recurring_days:
            # The plan's period in days, exactly: the panel's expiry follows Stripe's periods
            # with no day gained or lost (a "month" at Stripe is a calendar month, not 30 days).
            price_data["recurring"] = {"interval": "day", "interval_count": request.recurring_days}
        params: SessionCreateParams = {
            "mode": "subscription" if request.recurring_days else "payment",
            "client_reference_id": request.order_reference,
            "metadata": metadata,
            "customer_email": request.customer_email,
            # Stripe puts the session id in place of the placeholder: the status page asks Stripe
            # about that session at once instead of waiting for the webhook.
            "success_url": _with_query(request.success_url, "session_id={CHECKOUT_SESSION_ID}"),
            "cancel_url": _with_query(request.cancel_url, "payment=cancelled"),
            "line_items": [{"quantity": 1, "price_data": price_data}],  # type: ignore[typeddict-item]
        }
        if request.recurring_days:
            # Copied onto the subscription; each invoice carries a snapshot of it.
            params["subscription_data"] = {"metadata": metadata}
        try:
            session = self._client().v1.checkout.sessions.create(
                params, options={"idempotency_key": _checkout_key(request)}
            )
        except stripe.StripeError as exc:
            logger.warning(
                "stripe checkout for %s failed: %s",
                request.order_reference,
                exc.user_message or exc,
            )
            raise UnableToTakePayment(
                "Card payments are not available right now. Please try again in a minute or choose "
                "another payment method."
            ) from exc
        return CheckoutStart(redirect_url=session.url or "", gateway_reference=session.id)

    def checkout_status(self, ref: CheckoutRef) -> PaymentUpdate | None:
        if not ref.gateway_reference:
            return None
        try:
            session = self._client().v1.checkout.sessions.retrieve(ref.gateway_reference)
        except stripe.StripeError as exc:
            logger.warning("stripe session %s: %s", ref.gateway_reference, exc)
            return None
        return self._session_update(session.to_dict())

    def checkout_close(self, ref: CheckoutRef) -> PaymentUpdate | None:
        if not ref.gateway_reference:
            return None
        client = self._client()
        try:
            client.v1.checkout.sessions.expire(ref.gateway_reference)
            return None
        except stripe.InvalidRequestError:
            pass  # not open any more: completed (paid?) or already expired; look
        except stripe.StripeError as exc:
            logger.warning("stripe session %s not expired: %s", ref.gateway_reference, exc)
            raise UnableToTakePayment(
                "We could not reach the card payment service. Please try again in a minute."
            ) from exc
        try:
            session = client.v1.checkout.sessions.retrieve(ref.gateway_reference)
        except stripe.StripeError as exc:
            raise UnableToTakePayment(
                "We could not reach the card payment service. Please try again in a minute."
            ) from exc
        return self._session_update(session.to_dict())

    def _session_update(self, session: dict) -> PaymentUpdate | None:
        """A retrieved session means what the event Stripe sends for its state would mean."""
        kind = {
            "complete": "checkout.session.completed",
            "expired": "checkout.session.expired",
        }.get(session.get("status") or "")
        if kind is None:
            return None
        # Read as the event Stripe would send, shape checks included (parse_event refuses a
        # payload without an event's id and type).
        payload = {
            "id": f"retrieved:{session.get('id', '')}",
            "type": kind,
            "data": {"object": session},
        }
        return self.parse_event(VerifiedEvent(event_id="", event_type=kind, payload=payload))

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        signature = headers.get("Stripe-Signature") or headers.get("stripe-signature")
        if not signature:
            raise WebhookRejected("missing Stripe-Signature header")
        if not self.config.webhook_secret:
            # An HMAC with an empty key is one anybody can compute: without a secret nothing is
            # authentic.
            raise WebhookRejected("no webhook signing secret is configured (STRIPE_WEBHOOK_SECRET)")
        try:
            text = body.decode("utf-8")
            # Verifies every v1 signature in constant time and refuses events older than 300 s.
            stripe.WebhookSignature.verify_header(
                text, signature, self.config.webhook_secret, tolerance=300
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(
                f"signature verification failed: {exc.user_message or exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise WebhookRejected(f"body is not UTF-8: {exc}") from None
        # A signed body is still only text: it must have an event's shape before it is stored.
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise WebhookRejected(f"body is not a JSON event: {exc}") from None
        problem = _event_shape_problem(payload)
        if problem:
            raise WebhookRejected(f"body is not a Stripe event: {problem}")
        return VerifiedEvent(event_id=payload["id"], event_type=payload["type"], payload=payload)

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        if _event_shape_problem(event.payload):
            return None
        obj = event.payload["data"]["object"]
        kind = event.event_type
        if kind == "checkout.session.completed" and obj.get("mode") == "subscription":
            return PaymentUpdate(
                status=base.SUBSCRIPTION,
                order_reference=_text(obj.get("client_reference_id"))
                or _text((obj.get("metadata") or {}).get("order")),
                gateway_reference=obj.get("id", ""),
                gateway_subscription_id=_text(obj.get("subscription")),
                gateway_invoice_id=_text(obj.get("invoice")),
            )
        if kind in ("invoice.paid", "invoice.payment_failed"):
            details = _subscription_details(obj)
            return PaymentUpdate(
                status=base.SUBSCRIPTION,
                order_reference=_text((details.get("metadata") or {}).get("order")),
                # An endpoint pinned before 2025-03-31 sends `invoice.subscription`: only a
                # pointer either way, the invoice is re-fetched in the SDK's own version.
                gateway_subscription_id=_text(details.get("subscription"))
                or _text(obj.get("subscription")),
                gateway_invoice_id=_text(obj.get("id")),
            )
        if kind in ("customer.subscription.updated", "customer.subscription.deleted"):
            return PaymentUpdate(
                status=base.SUBSCRIPTION,
                order_reference=_text((obj.get("metadata") or {}).get("order")),
                gateway_subscription_id=_text(obj.get("id")),
            )
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
        if kind in ("charge.dispute.created", "charge.dispute.closed"):
            currency = (obj.get("currency") or "").upper()
            status = base.DISPUTED
            if kind == "charge.dispute.closed":
                # won: the funds come back; lost: they stay taken; warning_closed (an inquiry
                # that never became a dispute) took nothing.
                status = {"won": base.DISPUTE_WON, "lost": base.DISPUTE_LOST}.get(
                    _text(obj.get("status")), ""
                )
                if not status:
                    return None
            return PaymentUpdate(
                status=status,
                gateway_payment_id=obj.get("payment_intent") or "",
                amount=from_minor(obj.get("amount"), currency),
                currency=currency,
            )
        return None

    def refund(
        self,
        *,
        gateway_payment_id: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str = "",
    ) -> PaymentUpdate:
        """`POST /v1/refunds` on the PaymentIntent (a one-time Checkout payment's, or the one
        that paid a subscription invoice: billing records that one on the Payment row). The
        answer is mapped as `charge.refunded` would be: the charge is read back for the total
        refunded so far (`amount_refunded`), so a retry with the same key reports the same."""
        client = self._client()
        options: dict[str, Any] = {"idempotency_key": idempotency_key} if idempotency_key else {}
        try:
            refund = client.v1.refunds.create(
                {"payment_intent": gateway_payment_id, "amount": to_minor(amount, currency)},
                options=options,  # type: ignore[arg-type]
            ).to_dict()
        except stripe.StripeError as exc:
            logger.warning("stripe refund of %s failed: %s", gateway_payment_id, exc.user_message)
            raise UnableToTakePayment(exc.user_message or "Stripe refused the refund.") from exc
        status = _text(refund.get("status"))
        if status in ("failed", "canceled"):
            raise UnableToTakePayment(
                f"Stripe {status} the refund {_text(refund.get('id'))}"
                f" ({_text(refund.get('failure_reason')) or 'no reason given'})."
            )
        cur = (_text(refund.get("currency")) or currency).upper()
        charge_id = _text(refund.get("charge"))
        try:
            # The total so far: what billing's ledger compares with what it already has.
            charge = client.v1.charges.retrieve(charge_id).to_dict() if charge_id else {}
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe charge {charge_id}: {exc}") from exc
        total = charge.get("amount_refunded")
        if not isinstance(total, int) or isinstance(total, bool):
            raise PaymentError(f"stripe charge {charge_id} has no amount_refunded")
        return PaymentUpdate(
            # pending (a bank transfer back takes days) still counts: Stripe has taken it from
            # the balance, and a later failure arrives as refund.failed for a person.
            status=base.REFUNDED,
            gateway_payment_id=gateway_payment_id,
            amount=from_minor(total, cur),
            currency=cur,
        )

    # --- subscriptions -----------------------------------------------------------------------

    def subscription_fetch(self, gateway_subscription_id: str) -> SubscriptionState:
        try:
            sub = self._client().v1.subscriptions.retrieve(gateway_subscription_id).to_dict()
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe subscription {gateway_subscription_id}: {exc}") from exc
        return _subscription_state(sub)

    def invoice_fetch(self, gateway_invoice_id: str) -> InvoiceState:
        try:
            # `payments` is includable only (API 2025-03-31 and later): it names the
            # PaymentIntent that paid, which the invoice's charge refunds and disputes carry.
            invoice = (
                self._client()
                .v1.invoices.retrieve(gateway_invoice_id, {"expand": ["payments"]})
                .to_dict()
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe invoice {gateway_invoice_id}: {exc}") from exc
        currency = (_text(invoice.get("currency"))).upper()
        paid = invoice.get("status") == "paid"
        amount = invoice.get("amount_paid") if paid else invoice.get("amount_due")
        details = _subscription_details(invoice)
        ends = [
            line["period"]["end"]
            for line in ((invoice.get("lines") or {}).get("data") or [])
            if isinstance(line.get("period"), dict) and isinstance(line["period"].get("end"), int)
        ]
        return InvoiceState(
            gateway_invoice_id=_text(invoice.get("id")),
            gateway_subscription_id=_text(details.get("subscription")),
            reason=_BILLING_REASONS.get(_text(invoice.get("billing_reason")), base.OTHER),
            paid=paid,
            charge_failed=invoice.get("status") == "open" and bool(invoice.get("attempt_count")),
            amount=from_minor(amount if isinstance(amount, int) else None, currency),
            currency=currency,
            period_end=_when(max(ends)) if ends else None,
            attempts=int(invoice.get("attempt_count") or 0),
            order_reference=_text((details.get("metadata") or {}).get("order")),
            gateway_payment_id=_invoice_payment_intent(invoice) if paid else "",
        )

    def subscription_cancel_at_period_end(
        self, gateway_subscription_id: str, *, cancel: bool, reason: str = ""
    ) -> SubscriptionState:
        params: dict[str, Any] = {"cancel_at_period_end": cancel}
        if cancel and reason:
            params["cancellation_details"] = {"comment": reason[:500]}
        try:
            sub = self._client().v1.subscriptions.update(
                gateway_subscription_id,
                params,  # type: ignore[arg-type]
            )
        except stripe.StripeError as exc:
            logger.warning("stripe subscription %s not updated: %s", gateway_subscription_id, exc)
            raise UnableToTakePayment(
                "We could not reach the card payment service. Please try again in a minute."
            ) from exc
        return _subscription_state(sub.to_dict())

    def payment_method_update_url(
        self, *, gateway_customer_id: str, gateway_subscription_id: str, return_url: str
    ) -> str:
        try:
            session = self._client().v1.billing_portal.sessions.create(
                {
                    "customer": gateway_customer_id,
                    "return_url": return_url,
                    "flow_data": {"type": "payment_method_update"},
                }
            )
        except stripe.StripeError as exc:
            logger.warning("stripe portal session for %s failed: %s", gateway_subscription_id, exc)
            raise UnableToTakePayment(
                "We could not reach the card payment service. Please try again in a minute."
            ) from exc
        return session.url


_BILLING_REASONS = {
    "subscription_create": base.FIRST,
    "subscription_cycle": base.CYCLE,
    "subscription_update": base.CHANGE,
}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _when(value: object) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) else None


def _subscription_details(invoice: dict) -> dict:
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    return details if isinstance(details, dict) else {}


def _invoice_payment_intent(invoice: dict) -> str:
    """The PaymentIntent of the invoice's paid payment (`payments.data[].payment`), or the
    `payment_intent` an endpoint pinned before 2025-03-31 still has."""
    payments = invoice.get("payments")
    rows = payments.get("data") if isinstance(payments, dict) else None
    for row in rows if isinstance(rows, list) else []:
        payment = row.get("payment") if isinstance(row, dict) else None
        if isinstance(payment, dict) and row.get("status") == "paid":
            intent = _text(payment.get("payment_intent"))
            if intent:
                return intent
    return _text(invoice.get("payment_intent"))


def _subscription_state(sub: dict) -> SubscriptionState:
    ends = [
        item["current_period_end"]
        for item in ((sub.get("items") or {}).get("data") or [])
        if isinstance(item.get("current_period_end"), int)
    ]
    status = _text(sub.get("status"))
    return SubscriptionState(
        gateway_subscription_id=_text(sub.get("id")),
        status=status,
        order_reference=_text((sub.get("metadata") or {}).get("order")),
        gateway_customer_id=_text(sub.get("customer")),
        current_period_end=_when(max(ends)) if ends else None,
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        ended=status in ("canceled", "incomplete_expired"),
    )
