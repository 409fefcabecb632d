"""NOWPayments: an invoice per checkout (its hosted page), signed IPNs, the payment read anew.

IPN signature: `x-nowpayments-sig` = hex HMAC-SHA512(IPN secret, the JSON body re-serialised with
its keys sorted recursively and no whitespace), as NOWPayments' own (JavaScript) examples compute
it: `JSON.stringify(sortObject(body))`. We parse the body and write it again the way
JSON.stringify would (`canonical_json`: non-ASCII kept, numbers in JavaScript's shortest form, so
`5.0` is `5` and `1e-7` stays `1e-7`), then compare in constant time.

Before an IPN moves an order the payment is read anew (`GET /v1/payment/{payment_id}`, outside
any transaction) and its current status decides, never the IPN's or their order of arrival:
`waiting`, `confirming`, `confirmed`, `sending` -> pending; `finished` -> confirmed;
`partially_paid` -> partial (review); `failed` -> failed; `expired` -> expired; `refunded` ->
refunded.

The amount check, in the order's (fiat) currency: `price_amount`/`price_currency` are the price
the invoice was made for, `pay_amount` the coins asked for it and `actually_paid` the coins that
arrived (same coin, so the two compare exactly). A finished payment is confirmed with the
invoice's price only when `actually_paid >= pay_amount`; a finished payment with fewer coins (a
store's underpayment tolerance at NOWPayments) is reported as partial, so a person decides:
underpaid crypto is never provisioned. The fiat value of a partial payment is
`price_amount x actually_paid / pay_amount`, rounded down to the cent (the rate NOWPayments
quoted for this payment; `actually_paid_at_fiat` is not always sent and uses a later rate).

Event id: IPNs carry none, so billing's idempotency key is `payment_id:payment_status:updated_at`
(the same IPN sent again is the same event; a later change of the same payment, even to the same
status with more coins, is a new one). `updated_at` missing: `payment_id:payment_status`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
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
from boxoffice.billing.gateways.nowpayments.client import nowpayments_call
from boxoffice.lib import local_defaults

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.nowpayments.io"
FETCHED = "_fetched_payment"
CENT = Decimal("0.01")
STATUSES = {
    "waiting": base.PENDING,
    "confirming": base.PENDING,
    "confirmed": base.PENDING,
    "sending": base.PENDING,
    "partially_paid": base.PARTIAL,
    "finished": base.CONFIRMED,
    "failed": base.FAILED,
    "expired": base.EXPIRED,
    "refunded": base.REFUNDED,
}
_UNAVAILABLE = (
    "Crypto payments are not available right now. Please try again in a minute or choose "
    "another payment method."
)


def _js_number(value: float) -> str:
    """A float as JavaScript's Number#toString writes it (the shortest round-trip digits, like
    Python's repr, but `5` for 5.0 and exponents only below 1e-6 or from 1e21)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a JSON number")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    digits = Decimal(repr(value))
    exponent = digits.adjusted()
    if -7 < exponent < 21:
        text = format(digits, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa = format(digits.scaleb(-exponent).normalize(), "f")
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def canonical_json(value: Any) -> str:
    """`JSON.stringify` of `value` with every object's keys sorted (what NOWPayments signs)."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{canonical_json(k)}:{canonical_json(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    return json.dumps(value, ensure_ascii=False)


def ipn_signature(payload: Any, secret: str) -> str:
    return hmac.new(secret.encode(), canonical_json(payload).encode(), hashlib.sha512).hexdigest()


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _id_text(value: Any) -> str:
    """A NOWPayments id (a number, or digits as text) as text, or ""."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int) and 0 <= value < 10**30:
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 30:
        return value
    return ""


def _ipn_shape_problem(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "not a JSON object"
    if not _id_text(payload.get("payment_id")):
        return "no payment_id"
    if payload.get("payment_status") not in STATUSES:
        return "no known payment_status"
    for name in ("order_id", "updated_at", "price_currency"):
        value = payload.get(name)
        if value is not None and not (isinstance(value, str | int) and len(str(value)) <= 100):
            return f"{name} is not text"
    return ""


@dataclass(frozen=True)
class NOWPaymentsConfig(GatewayConfig):
    api_key: str = dc_field(default="", repr=False)
    ipn_secret: str = dc_field(default="", repr=False)
    api_base: str = DEFAULT_API_BASE
    ipn_callback_url: str = ""

    config_fields = (
        base.ConfigField(
            "api_key",
            "API key",
            secret=True,
            help="NOWPayments dashboard, Settings > Payments > API keys",
        ),
        base.ConfigField(
            "ipn_secret",
            "IPN secret key",
            secret=True,
            help="Settings > Payments > Instant payment notifications",
        ),
        base.ConfigField(
            "api_base", "API base", kind="url", help=f"Leave empty for {DEFAULT_API_BASE}"
        ),
    )

    @classmethod
    def from_account(cls, values, settings) -> NOWPaymentsConfig:
        config = super().from_account(values, settings)
        assert isinstance(config, NOWPaymentsConfig)
        return replace(
            config,
            api_base=(config.api_base or DEFAULT_API_BASE).rstrip("/"),
            ipn_callback_url=f"{settings.SITE_URL}/billing/webhooks/nowpayments/",
        )

    @classmethod
    def from_settings(cls, settings) -> NOWPaymentsConfig:
        return cls(
            api_key=settings.NOWPAYMENTS_API_KEY,
            ipn_secret=settings.NOWPAYMENTS_IPN_SECRET,
            api_base=(settings.NOWPAYMENTS_API_BASE or DEFAULT_API_BASE).rstrip("/"),
            ipn_callback_url=f"{settings.SITE_URL}/billing/webhooks/nowpayments/",
        )

    def problems(self, settings) -> list[str]:
        problems = []
        if not self.api_key:
            problems.append(
                "NOWPAYMENTS_API_KEY is not set: set it to your API key (NOWPayments dashboard, "
                "Settings > Payments > API keys)."
            )
        elif self.api_key == local_defaults.NOWPAYMENTS_API_KEY:
            problems.append(
                "NOWPAYMENTS_API_KEY is the local emulator's key: set it to your API key "
                "(NOWPayments dashboard, Settings > Payments > API keys)."
            )
        if not self.ipn_secret:
            problems.append(
                "NOWPAYMENTS_IPN_SECRET is not set: set it to the IPN secret key (NOWPayments "
                "dashboard, Settings > Payments > Instant payment notifications)."
            )
        elif self.ipn_secret == local_defaults.NOWPAYMENTS_IPN_SECRET:
            problems.append(
                "NOWPAYMENTS_IPN_SECRET is the local emulator's secret, with which anyone can "
                "sign a payment: set it to the IPN secret key of your NOWPayments account."
            )
        if not self.api_base.lower().startswith("https://"):
            problems.append(
                f"NOWPAYMENTS_API_BASE={self.api_base} is not an https:// address: leave it "
                f"empty for {DEFAULT_API_BASE} (an http:// address is the local emulator's)."
            )
        return problems


class NOWPaymentsGateway(GatewayAdapter):
    kind = "nowpayments"
    label = _("Crypto (NOWPayments)")
    config_class = NOWPaymentsConfig
    config: NOWPaymentsConfig

    hosted_page = True
    notifications = True
    partial_payments = True  # partially_paid
    reports_refunds = True  # refunded

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        return nowpayments_call(
            api_base=self.config.api_base,
            api_key=self.config.api_key,
            method=method,
            path=path,
            body=body,
        )

    def payment_fetch(self, payment_id: str) -> dict:
        payment = self._call("GET", f"/v1/payment/{payment_id}")
        if not isinstance(payment, dict):
            raise PaymentError(f"NOWPayments payment {payment_id}: not a payment")
        return payment

    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        body = {
            "price_amount": float(request.amount),
            "price_currency": request.currency.lower(),
            "order_id": request.order_reference,
            "order_description": request.description,
            "ipn_callback_url": self.config.ipn_callback_url,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        try:
            invoice = self._call("POST", "/v1/invoice", body)
        except PaymentError as exc:
            logger.warning("nowpayments checkout for %s failed: %s", request.order_reference, exc)
            raise UnableToTakePayment(_UNAVAILABLE) from exc
        invoice_id = _id_text(invoice.get("id")) if isinstance(invoice, dict) else ""
        url = invoice.get("invoice_url") if isinstance(invoice, dict) else None
        if not invoice_id or not isinstance(url, str) or not url.startswith("http"):
            logger.warning("nowpayments checkout for %s: no invoice", request.order_reference)
            raise UnableToTakePayment(_UNAVAILABLE)
        return CheckoutStart(redirect_url=url, gateway_reference=invoice_id)

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        signature = headers.get("x-nowpayments-sig") or headers.get("X-Nowpayments-Sig") or ""
        if not signature:
            raise WebhookRejected("missing x-nowpayments-sig header")
        if not self.config.ipn_secret:
            raise WebhookRejected("no IPN secret is configured (NOWPAYMENTS_IPN_SECRET)")
        try:
            payload = json.loads(body.decode("utf-8"))
            expected = ipn_signature(payload, self.config.ipn_secret)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise WebhookRejected(f"body is not a JSON IPN: {type(exc).__name__}") from None
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise WebhookRejected("x-nowpayments-sig does not match the body")
        problem = _ipn_shape_problem(payload)
        if problem:
            raise WebhookRejected(f"body is not a NOWPayments IPN: {problem}")
        payment_id = _id_text(payload["payment_id"])
        status = payload["payment_status"]
        updated = payload.get("updated_at")
        event_id = f"{payment_id}:{status}" + (f":{updated}" if updated else "")
        return VerifiedEvent(event_id=event_id[:255], event_type=status, payload=payload)

    def event_refetch(self, event: VerifiedEvent) -> VerifiedEvent:
        if _ipn_shape_problem(event.payload):
            return event
        payment = self.payment_fetch(_id_text(event.payload["payment_id"]))
        return VerifiedEvent(event.event_id, event.event_type, {**event.payload, FETCHED: payment})

    def parse_event(self, event: VerifiedEvent) -> PaymentUpdate | None:
        payload = event.payload
        if _ipn_shape_problem(payload):
            return None
        payment = payload.get(FETCHED)
        if not isinstance(payment, dict):
            # Not read anew (only to find the order it names): no payment state.
            return PaymentUpdate(
                status=base.PENDING,
                order_reference=str(payload.get("order_id") or "")[:20],
                gateway_reference=_id_text(payload.get("invoice_id")),
                gateway_payment_id=_id_text(payload["payment_id"]),
            )
        if _ipn_shape_problem(payment) or _id_text(payment["payment_id"]) != _id_text(
            payload["payment_id"]
        ):
            return None
        return self.payment_update(payment)

    def payment_update(self, payment: Mapping[str, Any]) -> PaymentUpdate | None:
        """What a payment's current state means for the order (see the module's notes)."""
        status = STATUSES[payment["payment_status"]]
        price = _decimal(payment.get("price_amount"))
        currency = payment.get("price_currency")
        currency = currency.upper() if isinstance(currency, str) and len(currency) <= 10 else ""
        asked, paid = _decimal(payment.get("pay_amount")), _decimal(payment.get("actually_paid"))
        common = {
            "order_reference": str(payment.get("order_id") or "")[:20],
            "gateway_reference": _id_text(payment.get("invoice_id")),
            "gateway_payment_id": _id_text(payment["payment_id"]),
            "currency": currency,
        }
        received = Decimal("0")
        if price is not None and asked and paid is not None:
            received = (price * paid / asked).quantize(CENT, rounding=ROUND_DOWN)
            received = min(received, price)
        if status == base.CONFIRMED:
            if price is None or asked is None or paid is None:
                # Says finished but not what arrived: billing puts an unstated amount to review.
                return PaymentUpdate(status=base.CONFIRMED, amount=None, **common)
            if paid < asked:
                return PaymentUpdate(status=base.PARTIAL, amount=received, **common)
            return PaymentUpdate(status=base.CONFIRMED, amount=price, **common)
        if status == base.PARTIAL:
            return PaymentUpdate(status=base.PARTIAL, amount=received, **common)
        return PaymentUpdate(status=status, amount=price, **common)
