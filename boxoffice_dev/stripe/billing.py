"""Stripe Billing in the emulator: subscriptions from Checkout (mode=subscription), their
invoices, the billing portal, and a test clock of sorts (`cycle`, `retry`).

Shapes follow API version 2025-03-31 and later: an invoice names its subscription in
`parent.subscription_details.subscription` (with a snapshot of the subscription's metadata),
period ends live on `items.data[].current_period_end`, an invoice's service period on
`lines.data[].period`. `billing_reason` is `subscription_create` for the first invoice,
`subscription_cycle` for each renewal. A failed charge leaves the invoice `open` and the
subscription `past_due`; a retry that succeeds pays the same invoice (the billing cycle anchor
does not move). A subscription cancelled at the period end ends (`customer.subscription.deleted`)
when the cycle comes.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from boxoffice_dev.stripe.wire import EmulatorError, _missing, new_id

_INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400}


class BillingMixin:
    """Mixed into StripeState: the caller holds `self._lock` in the internal helpers."""

    _lock: Any
    _record_event: Any
    base_url: str

    def _billing_init(self) -> None:
        self._customers: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._invoice_payments: dict[str, list[dict[str, Any]]] = {}
        self._portal_sessions: dict[str, dict[str, Any]] = {}
        # Per session, the recurring price of a mode=subscription checkout.
        self._recurring: dict[str, dict[str, Any]] = {}
        self._subscription_metadata: dict[str, dict[str, str]] = {}

    # --- inspection -------------------------------------------------------------------------
    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._subscriptions.values()))

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._subscription(subscription_id))

    def invoices(self, subscription_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(
                [
                    inv
                    for inv in self._invoices.values()
                    if subscription_id is None or _invoice_subscription(inv) == subscription_id
                ]
            )

    def portal_sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._portal_sessions.values()))

    # --- the test clock ---------------------------------------------------------------------
    def cycle(self, subscription_id: str, *, outcome: str = "paid") -> dict[str, Any]:
        """The period end has come (move the clock there first): a subscription cancelled at
        the period end ends; otherwise the next period starts and its invoice is charged,
        `outcome` "paid" or "failed". Returns the invoice (or the ended subscription)."""
        _check_outcome(outcome)
        with self._lock:
            sub = self._subscription(subscription_id)
            if sub["status"] == "canceled":
                raise EmulatorError(f"Subscription {subscription_id} has ended.", status=409)
            if sub["cancel_at_period_end"]:
                return self._end(sub)
            item = sub["items"]["data"][0]
            start = item["current_period_end"]
            end = start + _period_seconds(item["price"]["recurring"])
            item["current_period_start"], item["current_period_end"] = start, end
            invoice = self._invoice_create(sub, reason="subscription_cycle", start=start, end=end)
            self._charge(sub, invoice, outcome=outcome)
            return copy.deepcopy(invoice)

    def retry(self, invoice_id: str, *, outcome: str = "paid") -> dict[str, Any]:
        """Smart Retries try the open invoice again."""
        _check_outcome(outcome)
        with self._lock:
            invoice = self._invoices.get(invoice_id)
            if invoice is None:
                raise _missing("invoice", invoice_id, "invoice")
            if invoice["status"] != "open":
                raise EmulatorError(f"Invoice {invoice_id} is {invoice['status']}.", status=409)
            sub = self._subscription(_invoice_subscription(invoice))
            self._charge(sub, invoice, outcome=outcome)
            return copy.deepcopy(invoice)

    def end(self, subscription_id: str) -> dict[str, Any]:
        """Retries exhausted (or cancelled now): the subscription ends."""
        with self._lock:
            return self._end(self._subscription(subscription_id))

    # --- the API ------------------------------------------------------------------------------
    def api_update_subscription(self, subscription_id: str, params: dict[str, Any]) -> dict:
        with self._lock:
            sub = self._subscription(subscription_id)
            if sub["status"] == "canceled":
                raise EmulatorError(
                    "A canceled subscription can only update its cancellation_details and "
                    "metadata.",
                    param="cancel_at_period_end",
                )
            if "cancel_at_period_end" in params:
                value = str(params["cancel_at_period_end"]).lower()
                if value not in ("true", "false"):
                    raise EmulatorError(
                        "Invalid boolean: cancel_at_period_end", param="cancel_at_period_end"
                    )
                sub["cancel_at_period_end"] = value == "true"
                item = sub["items"]["data"][0]
                sub["cancel_at"] = item["current_period_end"] if value == "true" else None
                sub["canceled_at"] = int(time.time()) if value == "true" else None
            details = params.get("cancellation_details")
            if isinstance(details, dict):
                sub["cancellation_details"].update(
                    {k: details[k] or None for k in ("comment", "feedback") if k in details}
                )
            if isinstance(params.get("metadata"), dict):
                sub["metadata"].update(params["metadata"])
            self._record_event("customer.subscription.updated", sub)
            return copy.deepcopy(sub)

    def api_create_portal_session(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            customer = params.get("customer")
            if not customer:
                raise EmulatorError("Missing required param: customer.", param="customer")
            if customer not in self._customers:
                raise _missing("customer", customer, "customer")
            flow = params.get("flow_data") or None
            if flow is not None and flow.get("type") not in (
                "payment_method_update",
                "subscription_cancel",
                "subscription_update",
                "subscription_update_confirm",
            ):
                raise EmulatorError("Invalid flow_data[type].", param="flow_data[type]")
            session_id = new_id("bps_test")
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "created": int(time.time()),
                "customer": customer,
                "flow": {"type": flow["type"]} if flow else None,
                "livemode": False,
                "return_url": params.get("return_url"),
                "url": f"{self.base_url}/portal/{session_id}",
            }
            self._portal_sessions[session_id] = session
            return copy.deepcopy(session)

    def portal_update_card(self, session_id: str) -> dict[str, Any]:
        """The customer replaces the card on the portal page (the next charge may then succeed;
        tests still say which outcome a charge has)."""
        with self._lock:
            session = self._portal_sessions.get(session_id)
            if session is None:
                raise _missing("billing_portal.session", session_id, "session")
            customer = self._customers[session["customer"]]
            customer["invoice_settings"]["default_payment_method"] = new_id("pm")
            session["card_updated"] = True
            return copy.deepcopy(session)

    # --- internals (callers hold self._lock) ------------------------------------------------
    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            raise _missing("subscription", subscription_id, "id")
        return sub

    def _subscription_start(self, session: dict[str, Any], email: str) -> None:
        """Checkout completed in subscription mode: customer, subscription, first invoice."""
        recurring = self._recurring[session["id"]]
        customer_id = new_id("cus")
        self._customers[customer_id] = {
            "id": customer_id,
            "object": "customer",
            "email": email,
            "invoice_settings": {"default_payment_method": new_id("pm")},
            "metadata": {},
        }
        now = int(time.time())
        end = now + _period_seconds(recurring["recurring"])
        sub_id = new_id("sub")
        sub = {
            "id": sub_id,
            "object": "subscription",
            "billing_cycle_anchor": now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "created": now,
            "currency": session["currency"],
            "customer": customer_id,
            "ended_at": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": new_id("si"),
                        "object": "subscription_item",
                        "current_period_start": now,
                        "current_period_end": end,
                        "price": {
                            "id": new_id("price"),
                            "object": "price",
                            "currency": session["currency"],
                            "unit_amount": recurring["unit_amount"],
                            "recurring": recurring["recurring"],
                            "type": "recurring",
                        },
                        "quantity": recurring["quantity"],
                    }
                ],
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": dict(self._subscription_metadata.get(session["id"], {})),
            "status": "active",
        }
        self._subscriptions[sub_id] = sub
        invoice = self._invoice_create(sub, reason="subscription_create", start=now, end=end)
        invoice.update(status="paid", attempt_count=1, attempted=True)
        invoice["amount_paid"], invoice["amount_remaining"] = invoice["amount_due"], 0
        invoice["status_transitions"]["paid_at"] = now
        self._invoice_paid_by_card(invoice)
        session.update(customer=customer_id, subscription=sub_id, invoice=invoice["id"])

    def _subscription_started_events(self, session: dict[str, Any]) -> None:
        # After checkout.session.completed, as Stripe usually (not always) sends them.
        sub = self._subscriptions[session["subscription"]]
        self._record_event("customer.subscription.created", sub)
        self._record_event("invoice.paid", self._invoices[session["invoice"]])

    def _invoice_create(
        self, sub: dict[str, Any], *, reason: str, start: int, end: int
    ) -> dict[str, Any]:
        item = sub["items"]["data"][0]
        amount = item["price"]["unit_amount"] * item["quantity"]
        invoice_id = new_id("in")
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": 0,
            "amount_remaining": amount,
            "attempt_count": 0,
            "attempted": False,
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "created": int(time.time()),
            "currency": sub["currency"],
            "customer": sub["customer"],
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": new_id("il"),
                        "object": "line_item",
                        "amount": amount,
                        "currency": sub["currency"],
                        "period": {"start": start, "end": end},
                        "quantity": item["quantity"],
                    }
                ],
            },
            "livemode": False,
            "metadata": {},
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": sub["id"],
                    "metadata": dict(sub["metadata"]),
                },
            },
            "status": "open",
            "status_transitions": {"paid_at": None},
        }
        self._invoices[invoice_id] = invoice
        sub["latest_invoice"] = invoice_id
        return invoice

    def _charge(self, sub: dict[str, Any], invoice: dict[str, Any], *, outcome: str) -> None:
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        previous = sub["status"]
        if outcome == "paid":
            invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = int(time.time())
            self._invoice_paid_by_card(invoice)
            sub["status"] = "active"
            self._record_event("invoice.paid", invoice)
        else:
            sub["status"] = "past_due"
            self._record_event("invoice.payment_failed", invoice)
        if sub["status"] != previous:
            self._record_event("customer.subscription.updated", sub)

    def _invoice_paid_by_card(self, invoice: dict[str, Any]) -> None:
        """The PaymentIntent and charge that paid the invoice, and its invoice payment (API
        2025-03-31+: the invoice has no `payment_intent`/`charge`; its includable `payments`
        name the PaymentIntent; the charge names the PaymentIntent, not the invoice)."""
        intent_id, charge_id = new_id("pi"), new_id("ch")
        amount, currency, now = invoice["amount_paid"], invoice["currency"], int(time.time())
        self._payment_intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "created": now,
            "currency": currency,
            "customer": invoice["customer"],
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": {},
            "status": "succeeded",
        }
        self._charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "billing_details": {"email": None},
            "captured": True,
            "created": now,
            "currency": currency,
            "customer": invoice["customer"],
            "disputed": False,
            "livemode": False,
            "metadata": {},
            "paid": True,
            "payment_intent": intent_id,
            "refunded": False,
            "status": "succeeded",
        }
        self._invoice_payments.setdefault(invoice["id"], []).append(
            {
                "id": new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": amount,
                "amount_requested": amount,
                "created": now,
                "currency": currency,
                "invoice": invoice["id"],
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": intent_id},
                "status": "paid",
                "status_transitions": {"paid_at": now, "canceled_at": None},
            }
        )

    def api_retrieve_invoice(self, invoice_id: str, *, expand: list[str]) -> dict[str, Any]:
        """`payments` is includable: only there when asked for (`expand[]=payments`)."""
        invoice = self.api_retrieve("invoice", invoice_id)
        if "payments" in expand:
            with self._lock:
                rows = copy.deepcopy(self._invoice_payments.get(invoice_id, []))
            invoice["payments"] = {
                "object": "list",
                "data": rows,
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/payments",
            }
        return invoice

    def invoice_payment_intent(self, invoice_id: str) -> str:
        """For tests: the PaymentIntent that paid the invoice."""
        with self._lock:
            return self._invoice_payments[invoice_id][-1]["payment"]["payment_intent"]

    def _end(self, sub: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
        self._record_event("customer.subscription.deleted", sub)
        return copy.deepcopy(sub)


def _check_outcome(outcome: str) -> None:
    if outcome not in ("paid", "failed"):
        raise EmulatorError('outcome is "paid" or "failed"', param="outcome")


def _invoice_subscription(invoice: dict[str, Any]) -> str:
    return invoice["parent"]["subscription_details"]["subscription"]


def _period_seconds(recurring: dict[str, Any]) -> int:
    interval = recurring["interval"]
    count = int(recurring.get("interval_count") or 1)
    if interval not in _INTERVAL_SECONDS:
        # Months and years follow the calendar at Stripe; the emulator only has fixed lengths.
        raise EmulatorError(
            f"The emulator bills by day or week only, not by {interval}.",
            param="line_items[0][price_data][recurring][interval]",
        )
    return _INTERVAL_SECONDS[interval] * count
