"""Reading PayPal's JSON into our small values: money, orders and their captures, the resources
of the webhook events we act on. Nothing here trusts a field's type: a payload that is not what
PayPal documents reads as None (ignored) or as a refusal, never as an exception."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import PaymentUpdate

# Currencies PayPal takes without decimals (developer.paypal.com, currency codes).
ZERO_DECIMAL = frozenset({"HUF", "JPY", "TWD"})
_VALUE = re.compile(r"\d{1,15}(\.\d{1,3})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CAPTURE_LINK = re.compile(r"/v2/payments/captures/([A-Za-z0-9-]{1,64})/?$")

# Capture status -> our payment state (a refunded capture was completed first).
CAPTURE_STATES = {
    "COMPLETED": base.CONFIRMED,
    "PARTIALLY_REFUNDED": base.CONFIRMED,
    "REFUNDED": base.CONFIRMED,
    "PENDING": base.PENDING,
    "DECLINED": base.FAILED,
    "FAILED": base.FAILED,
}


class AmountNotRepresentable(ValueError):
    pass


def to_value(amount: Decimal, currency: str) -> str:
    """PayPal's `value`: a string with the currency's decimals, refusing to round money."""
    places = Decimal("1") if currency.upper() in ZERO_DECIMAL else Decimal("0.01")
    value = amount.quantize(places)
    if value != amount or amount < 0:
        raise AmountNotRepresentable(f"{amount} {currency} cannot be charged in PayPal's format")
    return str(value)


def money(obj: Any) -> tuple[Decimal, str] | None:
    """{"currency_code": "EUR", "value": "9.99"} -> (Decimal("9.99"), "EUR"), else None."""
    if not isinstance(obj, dict):
        return None
    value, currency = obj.get("value"), obj.get("currency_code")
    if not isinstance(value, str) or not isinstance(currency, str):
        return None
    if not _VALUE.fullmatch(value) or not _CURRENCY.fullmatch(currency):
        return None
    try:
        return Decimal(value), currency
    except InvalidOperation:
        return None


def text(obj: Any, key: str, limit: int = 255) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and len(value) <= limit else ""


def link(obj: dict[str, Any], *rels: str) -> str:
    links = obj.get("links")
    if not isinstance(links, list):
        return ""
    for rel in rels:
        for item in links:
            if isinstance(item, dict) and item.get("rel") == rel:
                href = item.get("href")
                if isinstance(href, str) and href.startswith(("https://", "http://")):
                    return href
    return ""


def _update(status: str, *, amount: tuple[Decimal, str] | None, **ids: str) -> PaymentUpdate:
    return PaymentUpdate(
        status=status,
        amount=amount[0] if amount else None,
        currency=amount[1] if amount else "",
        **ids,
    )


def order_update(order: Any) -> PaymentUpdate | None:
    """What an order read from PayPal (or answered by capture) says about the payment: its
    latest capture's state and amount; VOIDED = expired; nothing captured yet = None."""
    if not isinstance(order, dict) or not text(order, "id"):
        return None
    units = order.get("purchase_units")
    if not isinstance(units, list) or not units or not isinstance(units[0], dict):
        return None
    unit = units[0]
    ids = {
        "order_reference": text(unit, "custom_id") or text(unit, "reference_id"),
        "gateway_reference": text(order, "id"),
    }
    payments = unit.get("payments")
    captures = payments.get("captures") if isinstance(payments, dict) else None
    if isinstance(captures, list) and captures and isinstance(captures[-1], dict):
        capture = captures[-1]
        state = CAPTURE_STATES.get(text(capture, "status"))
        if state is None:
            return None
        return _update(
            state,
            amount=money(capture.get("amount")),
            gateway_payment_id=text(capture, "id"),
            **ids,
        )
    if order.get("status") == "VOIDED":
        return _update(base.EXPIRED, amount=money(unit.get("amount")), **ids)
    return None


def capture_order_id(capture: dict[str, Any]) -> str:
    data = capture.get("supplementary_data")
    related = data.get("related_ids") if isinstance(data, dict) else None
    return text(related, "order_id")


def capture_of_order(order: Any, capture_id: str) -> dict[str, Any] | None:
    units = order.get("purchase_units") if isinstance(order, dict) else None
    for unit in units if isinstance(units, list) else []:
        payments = unit.get("payments") if isinstance(unit, dict) else None
        captures = payments.get("captures") if isinstance(payments, dict) else None
        for capture in captures if isinstance(captures, list) else []:
            if isinstance(capture, dict) and capture.get("id") == capture_id:
                return capture
    return None


def refund_update(refund: Any) -> PaymentUpdate | None:
    """A refund resource (the refund call's answer, PAYMENT.CAPTURE.REFUNDED's resource): the
    capture it belongs to (its `up` link) and the total refunded so far."""
    if not isinstance(refund, dict):
        return None
    match = _CAPTURE_LINK.search(link(refund, "up"))
    if not match:
        return None
    breakdown = refund.get("seller_payable_breakdown")
    total = money(breakdown.get("total_refunded_amount")) if isinstance(breakdown, dict) else None
    return _update(
        base.REFUNDED,
        amount=total or money(refund.get("amount")),
        gateway_payment_id=match.group(1),
        order_reference=text(refund, "custom_id"),
    )


def event_update(event_type: str, resource: dict[str, Any]) -> PaymentUpdate | None:
    """What a verified event's resource alone says (no call to PayPal), or None."""
    if event_type.startswith("PAYMENT.CAPTURE."):
        if event_type in ("PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"):
            return refund_update(resource)
        wanted = {
            "PAYMENT.CAPTURE.COMPLETED": ("COMPLETED", base.CONFIRMED),
            "PAYMENT.CAPTURE.PENDING": ("PENDING", base.PENDING),
            "PAYMENT.CAPTURE.DENIED": ("", base.FAILED),
            "PAYMENT.CAPTURE.DECLINED": ("", base.FAILED),
        }.get(event_type)
        if wanted is None or not text(resource, "id"):
            return None
        status, state = wanted
        if status and text(resource, "status") != status:
            return None  # the event's name and its capture disagree: nothing to act on
        return _update(
            state,
            amount=money(resource.get("amount")),
            order_reference=text(resource, "custom_id"),
            gateway_reference=capture_order_id(resource),
            gateway_payment_id=text(resource, "id"),
        )
    if event_type == "CUSTOMER.DISPUTE.CREATED":
        transactions = resource.get("disputed_transactions")
        first = transactions[0] if isinstance(transactions, list) and transactions else None
        capture_id = text(first, "seller_transaction_id")
        if not capture_id:
            return None
        return _update(
            base.DISPUTED,
            amount=money(resource.get("dispute_amount")),
            gateway_payment_id=capture_id,
            order_reference=text(first, "custom"),
        )
    if event_type == "CHECKOUT.PAYMENT-APPROVAL.REVERSED":
        # Approved, not captured in time: PayPal cancels the order and gives the buyer's money
        # back. Its resource names the order as `order_id`.
        order_id = text(resource, "order_id")
        if not order_id:
            return None
        units = resource.get("purchase_units")
        unit = units[0] if isinstance(units, list) and units else None
        return _update(
            base.EXPIRED,
            amount=None,
            order_reference=text(unit, "custom_id") or text(unit, "reference_id"),
            gateway_reference=order_id,
        )
    return None


def event_shape_problem(payload: Any) -> str:
    """What keeps `payload` from being a PayPal event we can store, or ""."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    event_id = payload.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        return "no event id"
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        return "no event_type"
    if not isinstance(payload.get("resource"), dict):
        return "resource is not an object"
    return ""
