"""What the emulated PayPal account holds: orders, captures, refunds, disputes, events and the
webhook transmissions it signed. Every public method takes the lock and returns deep copies.
`PayPalEmulator` adds the HTTP server and the webhook delivery."""

from __future__ import annotations

import abc
import copy
import json
import threading
from decimal import Decimal
from typing import Any

from boxoffice_dev.paypal.subscriptions import SubscriptionsState
from boxoffice_dev.paypal.wire import (
    EVENT_TYPES,
    EmulatorError,
    invalid,
    money,
    new_id,
    not_found,
    now_iso,
    parse_money,
    unprocessable,
)

# How an approved order's capture ends, chosen on the approval page.
OUTCOMES = ("completed", "pending", "declined")


class PayPalState(SubscriptionsState, abc.ABC):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._orders: dict[str, dict[str, Any]] = {}
        self._outcomes: dict[str, str] = {}
        self._captures: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._disputes: dict[str, dict[str, Any]] = {}
        # event id -> {"event": ..., "body": bytes, "deliveries": [...]}
        self._events: dict[str, dict[str, Any]] = {}
        self._subscriptions_init()

    @property
    @abc.abstractmethod
    def base_url(self) -> str: ...

    @abc.abstractmethod
    def _enqueue(self, event_id: str) -> None: ...

    # --- inspection -------------------------------------------------------------------------
    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(order) for order in self._orders.values()]

    def order(self, order_id: str) -> dict[str, Any]:
        """The order as the API shows it (its captures under purchase_units[0].payments)."""
        with self._lock:
            return self._public(self._order(order_id))

    def capture(self, capture_id: str) -> dict[str, Any]:
        with self._lock:
            if capture_id not in self._captures:
                raise not_found("capture", capture_id)
            return copy.deepcopy(self._captures[capture_id])

    def events(self) -> list[dict[str, Any]]:
        """Every event sent, oldest first, each with its `deliveries`."""
        with self._lock:
            return [
                {**copy.deepcopy(r["event"]), "deliveries": list(r["deliveries"])}
                for r in self._events.values()
            ]

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self._orders.get(order_id)
        if order is None:
            raise not_found("order", order_id)
        return order

    # --- the REST API ------------------------------------------------------------------------
    def api_create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("intent") != "CAPTURE":
            raise invalid("intent", "INVALID_PARAMETER_VALUE")
        units = body.get("purchase_units")
        if not isinstance(units, list) or len(units) != 1 or not isinstance(units[0], dict):
            raise invalid("purchase_units", "INVALID_ARRAY_LENGTH")
        unit = units[0]
        parse_money(unit.get("amount"), "purchase_units/@reference_id=='default'/amount")
        for key in ("reference_id", "custom_id", "description"):
            if key in unit and (not isinstance(unit[key], str) or len(unit[key]) > 256):
                raise invalid(f"purchase_units/0/{key}", "INVALID_STRING_LENGTH")
        source = body.get("payment_source")
        context = (
            (source.get("paypal") or {}).get("experience_context")
            if isinstance(source, dict)
            else body.get("application_context")
        )
        if not isinstance(context, dict):
            context = {}
        for key in ("return_url", "cancel_url"):
            url = context.get(key, "")
            if url and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
                raise invalid(f"experience_context/{key}", "INVALID_PARAMETER_SYNTAX")
        with self._lock:
            order_id = new_id()
            approve_rel = "payer-action" if isinstance(source, dict) else "approve"
            order = {
                "id": order_id,
                "intent": "CAPTURE",
                "status": "PAYER_ACTION_REQUIRED" if approve_rel == "payer-action" else "CREATED",
                "purchase_units": [
                    {
                        "reference_id": unit.get("reference_id", "default"),
                        **{k: unit[k] for k in ("custom_id", "description") if k in unit},
                        "amount": dict(unit["amount"]),
                    }
                ],
                "create_time": now_iso(),
                "links": [
                    {
                        "href": f"{self.base_url}/v2/checkout/orders/{order_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.base_url}/checkoutnow?token={order_id}",
                        "rel": approve_rel,
                        "method": "GET",
                    },
                ],
                "_return_url": context.get("return_url", ""),
                "_cancel_url": context.get("cancel_url", ""),
            }
            self._orders[order_id] = order
            return self._public(order)

    def api_get_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._order(order_id))

    def api_capture(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            order = self._order(order_id)
            if order["status"] == "COMPLETED":
                raise unprocessable(
                    "ORDER_ALREADY_CAPTURED",
                    "Order already captured. If 'intent=CAPTURE' only "
                    "one capture per order is allowed.",
                )
            if order["status"] != "APPROVED":
                raise unprocessable(
                    "ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment."
                )
            unit = order["purchase_units"][0]
            outcome = self._outcomes.get(order_id, "completed")
            capture_id = new_id()
            status = {"completed": "COMPLETED", "pending": "PENDING", "declined": "DECLINED"}[
                outcome
            ]
            capture: dict[str, Any] = {
                "id": capture_id,
                "status": status,
                "amount": dict(unit["amount"]),
                "final_capture": True,
                "create_time": now_iso(),
                "update_time": now_iso(),
                "supplementary_data": {"related_ids": {"order_id": order_id}},
                "links": [
                    {
                        "href": f"{self.base_url}/v2/payments/captures/{capture_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.base_url}/v2/payments/captures/{capture_id}/refund",
                        "rel": "refund",
                        "method": "POST",
                    },
                    {
                        "href": f"{self.base_url}/v2/checkout/orders/{order_id}",
                        "rel": "up",
                        "method": "GET",
                    },
                ],
            }
            if "custom_id" in unit:
                capture["custom_id"] = unit["custom_id"]
            if status == "PENDING":
                capture["status_details"] = {"reason": "PENDING_REVIEW"}
            self._captures[capture_id] = capture
            order["status"] = "COMPLETED"
            self._record_event(
                {
                    "COMPLETED": "PAYMENT.CAPTURE.COMPLETED",
                    "PENDING": "PAYMENT.CAPTURE.PENDING",
                    "DECLINED": "PAYMENT.CAPTURE.DENIED",
                }[status],
                "capture",
                capture,
            )
            return self._public(order)

    def api_refund(self, capture_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            capture = self._captures.get(capture_id)
            if capture is None:
                raise not_found("capture", capture_id)
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                raise unprocessable(
                    "CAPTURE_FULLY_REFUNDED"
                    if capture["status"] == "REFUNDED"
                    else "REFUND_NOT_ALLOWED",
                    f"The capture is {capture['status']}.",
                )
            currency = capture["amount"]["currency_code"]
            captured = Decimal(capture["amount"]["value"])
            so_far = sum(
                (
                    Decimal(r["amount"]["value"])
                    for r in self._refunds.values()
                    if r["_capture_id"] == capture_id
                ),
                Decimal(0),
            )
            amount = captured - so_far
            if body.get("amount") is not None:
                amount = parse_money(body["amount"], "amount")
                if body["amount"]["currency_code"] != currency:
                    raise unprocessable("REFUND_CURRENCY_MISMATCH", "Refund currency differs.")
            if amount <= 0 or amount > captured - so_far:
                raise unprocessable(
                    "REFUND_AMOUNT_EXCEEDED",
                    "The refund amount must be less than or equal to "
                    "the capture amount that has not yet been refunded.",
                )
            return self._public(self._make_refund(capture, amount, so_far + amount))

    def _make_refund(self, capture: dict[str, Any], amount: Decimal, total: Decimal):
        currency = capture["amount"]["currency_code"]
        refund_id = new_id()
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": money(amount, currency),
            "seller_payable_breakdown": {"total_refunded_amount": money(total, currency)},
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                {
                    "href": f"{self.base_url}/v2/payments/refunds/{refund_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.base_url}/v2/payments/captures/{capture['id']}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
            "_capture_id": capture["id"],
        }
        if "custom_id" in capture:
            refund["custom_id"] = capture["custom_id"]
        self._refunds[refund_id] = refund
        full = total >= Decimal(capture["amount"]["value"])
        capture["status"] = "REFUNDED" if full else "PARTIALLY_REFUNDED"
        self._record_event("PAYMENT.CAPTURE.REFUNDED", "refund", refund)
        return refund

    def api_get_capture(self, capture_id: str) -> dict[str, Any]:
        return self.capture(capture_id)

    # --- the buyer (the approval page, or a test through the control API) ---------------------
    def approve(self, order_id: str, outcome: str = "completed") -> dict[str, Any]:
        if outcome not in OUTCOMES:
            raise EmulatorError("INVALID_REQUEST", f"outcome must be one of {OUTCOMES}")
        with self._lock:
            order = self._order(order_id)
            if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
                raise unprocessable("ORDER_NOT_APPROVABLE", f"The order is {order['status']}.")
            order["status"] = "APPROVED"
            order["payer"] = {
                "email_address": "buyer@paypal-emulator.test",
                "payer_id": new_id(13),
                "name": {"given_name": "Test", "surname": "Buyer"},
            }
            self._outcomes[order_id] = outcome
            self._record_event("CHECKOUT.ORDER.APPROVED", "checkout-order", self._public(order))
            return self._public(order)

    def return_location(self, order_id: str) -> str:
        with self._lock:
            order = self._order(order_id)
            sep = "&" if "?" in order["_return_url"] else "?"
            payer = order.get("payer", {}).get("payer_id", "")
            return f"{order['_return_url']}{sep}token={order_id}&PayerID={payer}"

    def cancel_location(self, order_id: str) -> str:
        with self._lock:
            order = self._order(order_id)
            sep = "&" if "?" in order["_cancel_url"] else "?"
            return f"{order['_cancel_url']}{sep}token={order_id}"

    # --- what happens later at PayPal --------------------------------------------------------
    def emit(self, order_id: str, event_type: str, **options: Any) -> dict[str, Any]:
        """Make something happen to an order as PayPal would, and send its event:
        PAYMENT.CAPTURE.COMPLETED / .DENIED settle a pending capture, .REFUNDED refunds the
        capture (all of it, or `amount`), CUSTOMER.DISPUTE.CREATED opens a dispute on it,
        CHECKOUT.PAYMENT-APPROVAL.REVERSED cancels an approved order nobody captured in
        time (PayPal's default: 3 hours)."""
        if event_type not in EVENT_TYPES:
            raise EmulatorError("INVALID_REQUEST", f"type must be one of {EVENT_TYPES}")
        with self._lock:
            order = self._order(order_id)
            if event_type == "CHECKOUT.PAYMENT-APPROVAL.REVERSED":
                if order["status"] != "APPROVED":
                    raise unprocessable("ORDER_NOT_APPROVED", f"The order is {order['status']}.")
                order["status"] = "VOIDED"
                unit = order["purchase_units"][0]
                reversal = {
                    "order_id": order_id,
                    "purchase_units": [
                        {
                            k: copy.deepcopy(unit[k])
                            for k in ("reference_id", "custom_id", "amount")
                            if k in unit
                        }
                    ],
                }
                return self._record_event(event_type, "checkout-order", reversal)
            if event_type == "CHECKOUT.ORDER.APPROVED":
                return self._record_event(event_type, "checkout-order", self._public(order))
            capture = self._order_capture(order_id)
            if event_type in (
                "PAYMENT.CAPTURE.COMPLETED",
                "PAYMENT.CAPTURE.DENIED",
                "PAYMENT.CAPTURE.PENDING",
            ):
                wanted = {
                    "PAYMENT.CAPTURE.COMPLETED": "COMPLETED",
                    "PAYMENT.CAPTURE.DENIED": "DECLINED",
                    "PAYMENT.CAPTURE.PENDING": "PENDING",
                }[event_type]
                if capture["status"] not in ("PENDING", wanted):
                    raise unprocessable(
                        "CAPTURE_NOT_PENDING", f"The capture is {capture['status']}."
                    )
                capture["status"] = wanted
                capture.pop("status_details", None) if wanted != "PENDING" else None
                capture["update_time"] = now_iso()
                return self._record_event(event_type, "capture", capture)
            if event_type == "PAYMENT.CAPTURE.REFUNDED":
                value = options.get("amount")  # "2.00": a partial refund
                amount = None
                if value is not None:
                    amount = {
                        "currency_code": capture["amount"]["currency_code"],
                        "value": str(value),
                    }
                self.api_refund(capture["id"], {"amount": amount})
                return self.events()[-1]
            # CUSTOMER.DISPUTE.CREATED
            dispute_id = "PP-D-" + new_id(5)
            dispute = {
                "dispute_id": dispute_id,
                "create_time": now_iso(),
                "reason": options.get("reason") or "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                "status": "OPEN",
                "dispute_amount": dict(capture["amount"]),
                "disputed_transactions": [
                    {
                        "seller_transaction_id": capture["id"],
                        **({"custom": capture["custom_id"]} if "custom_id" in capture else {}),
                    }
                ],
                "dispute_life_cycle_stage": "INQUIRY",
                "dispute_channel": "INTERNAL",
            }
            self._disputes[dispute_id] = dispute
            return self._record_event(event_type, "dispute", dispute)

    def _order_capture(self, order_id: str) -> dict[str, Any]:
        for capture in self._captures.values():
            if capture["supplementary_data"]["related_ids"]["order_id"] == order_id:
                return capture
        raise unprocessable("ORDER_NOT_CAPTURED", f"Order {order_id} has no capture.")

    def resend(self, event_id: str) -> dict[str, Any]:
        """Deliver an event again, as PayPal's retries and "resend" do: the same event id."""
        with self._lock:
            if event_id not in self._events:
                raise not_found("event", event_id)
            event = copy.deepcopy(self._events[event_id]["event"])
        self._enqueue(event_id)
        return event

    # --- helpers -----------------------------------------------------------------------------
    def _public(self, order: dict[str, Any]) -> dict[str, Any]:
        """An order as the API shows it: its captures under purchase_units[0].payments."""
        shown = {k: copy.deepcopy(v) for k, v in order.items() if not k.startswith("_")}
        if "_capture_id" in order:  # refunds
            return shown
        captures = [
            copy.deepcopy(c)
            for c in self._captures.values()
            if c["supplementary_data"]["related_ids"]["order_id"] == order.get("id")
        ]
        if captures:
            shown["purchase_units"][0]["payments"] = {"captures": captures}
        return shown

    def _record_event(self, event_type: str, resource_type: str, resource: dict[str, Any]):
        event_id = f"WH-{new_id()}-{new_id()}"
        event = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": now_iso(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": f"{event_type} (PayPal emulator)",
            "resource": {k: copy.deepcopy(v) for k, v in resource.items() if not k.startswith("_")},
            "links": [
                {
                    "href": f"{self.base_url}/v1/notifications/webhooks-events/{event_id}",
                    "rel": "self",
                    "method": "GET",
                },
            ],
        }
        self._events[event_id] = {
            "event": event,
            "body": json.dumps(event).encode(),
            "deliveries": [],
        }
        self._enqueue(event_id)
        return copy.deepcopy(event)
