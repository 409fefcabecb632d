"""What the emulated Stripe account holds: Checkout Sessions, payments, refunds, disputes, events,
and (BillingMixin, billing.py) customers, subscriptions, invoices and billing-portal sessions.

Every public method takes the lock and returns deep copies, so callers (HTTP threads, tests) never
share mutable state with it. `StripeEmulator` adds the server and the webhook delivery.
"""

from __future__ import annotations

import abc
import copy
import json
import threading
import time
from typing import Any

from boxoffice_dev.stripe.billing import BillingMixin
from boxoffice_dev.stripe.wire import (
    API_VERSION,
    EVENT_TYPES,
    EXPIRES_MAX_SECONDS,
    EXPIRES_MIN_SECONDS,
    EmulatorError,
    _int_param,
    _missing,
    new_id,
)


class StripeState(BillingMixin, abc.ABC):
    """The account's objects and the rules that move them; subclasses deliver the events."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._line_items: dict[str, list[dict[str, Any]]] = {}
        # Page-only state that Stripe does not expose: "pending" | "succeeded" | "failed".
        self._async_state: dict[str, str] = {}
        self._page_errors: dict[str, str] = {}
        self._payment_intents: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._disputes: dict[str, dict[str, Any]] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self._billing_init()

    # The server that holds this state provides its address and its webhook delivery queue.
    @property
    @abc.abstractmethod
    def base_url(self) -> str: ...

    @abc.abstractmethod
    def _enqueue(self, event_id: str) -> None: ...

    # --- inspection -------------------------------------------------------------------------
    def sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire_due_sessions()
            return copy.deepcopy(list(self._sessions.values()))

    def session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire_due_sessions()
            return copy.deepcopy(self._session(session_id))

    def events(self) -> list[dict[str, Any]]:
        """Every event sent, oldest first, each with its `deliveries` (one dict per attempt)."""
        with self._lock:
            return [
                {**copy.deepcopy(record["event"]), "deliveries": list(record["deliveries"])}
                for record in self._events.values()
            ]

    # --- the customer's side (also behind the hosted page's buttons) ---------------------------
    def pay(self, session_id: str, *, email: str | None = None) -> dict[str, Any]:
        """Pay by card: the session completes as paid."""
        with self._lock:
            session = self._open_session(session_id)
            self._complete(session, payment_status="paid", email=email)
            self._record_event("checkout.session.completed", session)
            if session["mode"] == "subscription":
                self._subscription_started_events(session)
            return copy.deepcopy(session)

    def pay_later(self, session_id: str, *, email: str | None = None) -> dict[str, Any]:
        """Pay by a delayed method (a bank debit): complete, unpaid until the async event."""
        with self._lock:
            session = self._open_session(session_id)
            self._complete(session, payment_status="unpaid", email=email)
            self._record_event("checkout.session.completed", session)
            return copy.deepcopy(session)

    def fail(self, session_id: str) -> dict[str, Any]:
        """The card is declined: the session stays open and Stripe sends no completed event."""
        with self._lock:
            session = self._open_session(session_id)
            self._page_errors[session_id] = "Your card was declined."
            return copy.deepcopy(session)

    # --- events -----------------------------------------------------------------------------
    def emit(
        self,
        session_id: str,
        type: str,  # noqa: A002 - Stripe's name for it
        *,
        payment_status: str = "paid",
        amount: int | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Move the session as `type` implies and send that event; returns the event.

        Any order is accepted on purpose: tests use this to replay what Stripe may do
        (duplicates, async events before `completed`, a refund after a dispute).
        """
        if type not in EVENT_TYPES:
            raise EmulatorError(
                f"Unsupported event type {type!r}; one of: {', '.join(EVENT_TYPES)}",
                param="type",
            )
        with self._lock:
            session = self._session(session_id)
            if type == "checkout.session.completed":
                if session["status"] != "complete":
                    status = payment_status
                    if status not in ("paid", "unpaid", "no_payment_required"):
                        raise EmulatorError(
                            f"Invalid payment_status {status!r}", param="payment_status"
                        )
                    self._complete(session, payment_status=status, email=None)
                obj = session
            elif type == "checkout.session.async_payment_succeeded":
                if session["status"] != "complete":
                    self._complete(session, payment_status="unpaid", email=None)
                self._settle_async(session, succeeded=True)
                obj = session
            elif type == "checkout.session.async_payment_failed":
                if session["status"] != "complete":
                    self._complete(session, payment_status="unpaid", email=None)
                self._settle_async(session, succeeded=False)
                obj = session
            elif type == "checkout.session.expired":
                session["status"] = "expired"
                session["url"] = None
                obj = session
            elif type == "charge.refunded":
                charge = self._charge_for_session(session)
                remaining = charge["amount"] - charge["amount_refunded"]
                amount = remaining if amount is None else _int_param(amount, "amount")
                self._create_refund(charge, amount=amount, reason=reason)
                return self._last_event()
            else:  # charge.dispute.created
                charge = self._charge_for_session(session)
                obj = self._create_dispute(charge, reason=reason or "fraudulent")
            return copy.deepcopy(self._record_event(type, obj))

    def resend(self, event_id: str) -> dict[str, Any]:
        """Deliver an event again, byte for byte and with the same id (a duplicate)."""
        with self._lock:
            record = self._events.get(event_id)
            if record is None:
                raise _missing("event", event_id, "id")
            self._enqueue(event_id)
            return copy.deepcopy(record["event"])

    def refund(self, *, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        with self._lock:
            charge = self._charge_for_payment_intent(payment_intent)
            if amount is None:
                amount = charge["amount"] - charge["amount_refunded"]
            return copy.deepcopy(self._create_refund(charge, amount=amount, reason=None))

    def dispute(self, *, payment_intent: str, reason: str = "fraudulent") -> dict[str, Any]:
        """The cardholder disputes the PaymentIntent's charge: `charge.dispute.created`."""
        with self._lock:
            charge = self._charge_for_payment_intent(payment_intent)
            dispute = self._create_dispute(charge, reason=reason)
            self._record_event("charge.dispute.created", dispute)
            return copy.deepcopy(dispute)

    def dispute_close(self, dispute_id: str, *, status: str) -> dict[str, Any]:
        """The card network decides: `charge.dispute.closed` with `status` won or lost."""
        if status not in ("won", "lost", "warning_closed"):
            raise EmulatorError('status is "won", "lost" or "warning_closed"', param="status")
        with self._lock:
            dispute = self._disputes.get(dispute_id)
            if dispute is None:
                raise _missing("dispute", dispute_id, "dispute")
            dispute["status"] = status
            self._record_event("charge.dispute.closed", dispute)
            return copy.deepcopy(dispute)

    def refunds(self, payment_intent: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(
                [
                    r
                    for r in self._refunds.values()
                    if payment_intent is None or r["payment_intent"] == payment_intent
                ]
            )

    # --- the API, as the SDK calls it -------------------------------------------------------
    def api_create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("mode")
        if mode not in ("payment", "subscription"):
            raise EmulatorError(
                "The emulator supports mode=payment and mode=subscription.", param="mode"
            )
        if not params.get("success_url"):
            raise EmulatorError("Missing required param: success_url.", param="success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise EmulatorError("Missing required param: line_items.", param="line_items")
        line_items, currency, total = [], None, 0
        recurring_price: dict[str, Any] = {}
        for index, item in enumerate(items):
            param = f"line_items[{index}]"
            price_data = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price_data, dict):
                raise EmulatorError(
                    f"{param}[price_data] is required: the emulator has no Prices API.",
                    param=f"{param}[price_data]",
                )
            item_currency = str(price_data.get("currency", "")).lower()
            if not item_currency:
                raise EmulatorError(
                    "Missing required param: currency.", param=f"{param}[price_data][currency]"
                )
            if currency and item_currency != currency:
                raise EmulatorError("All line items must use the same currency.", param=param)
            currency = item_currency
            unit_amount = _int_param(
                price_data.get("unit_amount"), f"{param}[price_data][unit_amount]"
            )
            quantity = _int_param(item.get("quantity"), f"{param}[quantity]")
            if unit_amount < 0 or quantity < 1:
                raise EmulatorError("Amounts and quantities must be positive.", param=param)
            product = price_data.get("product_data") or {}
            name = product.get("name") if isinstance(product, dict) else None
            if not name:
                raise EmulatorError(
                    "Missing required param: product_data[name].",
                    param=f"{param}[price_data][product_data][name]",
                )
            recurring = price_data.get("recurring")
            if (mode == "subscription") != isinstance(recurring, dict):
                raise EmulatorError(
                    "mode=subscription needs a recurring price (price_data[recurring]); "
                    "mode=payment takes none.",
                    param=f"{param}[price_data][recurring]",
                )
            if isinstance(recurring, dict):
                recurring = {
                    "interval": recurring.get("interval"),
                    "interval_count": _int_param(
                        recurring.get("interval_count") or 1,
                        f"{param}[price_data][recurring][interval_count]",
                    ),
                }
                if recurring["interval"] not in ("day", "week", "month", "year"):
                    raise EmulatorError(
                        "Invalid recurring interval.",
                        param=f"{param}[price_data][recurring][interval]",
                    )
                if recurring["interval"] not in ("day", "week"):
                    # Stripe takes months and years (calendar periods); the emulator's clock
                    # counts fixed lengths only, so it says so instead of guessing.
                    raise EmulatorError(
                        "The emulator bills by day or week only.",
                        param=f"{param}[price_data][recurring][interval]",
                    )
                if recurring["interval"] == "day" and not 1 <= recurring["interval_count"] <= 365:
                    raise EmulatorError(
                        "The maximum billing interval is one year (365 days).",
                        param=f"{param}[price_data][recurring][interval_count]",
                    )
                recurring_price = {
                    "recurring": recurring,
                    "unit_amount": unit_amount,
                    "quantity": quantity,
                }
            total += unit_amount * quantity
            line_items.append(
                {
                    "id": new_id("li"),
                    "object": "item",
                    "description": name,
                    "quantity": quantity,
                    "amount_subtotal": unit_amount * quantity,
                    "amount_total": unit_amount * quantity,
                    "currency": currency,
                    "price": {"object": "price", "unit_amount": unit_amount, "currency": currency},
                }
            )
        now = int(time.time())
        expires_at = now + EXPIRES_MAX_SECONDS
        if params.get("expires_at") not in (None, ""):
            expires_at = _int_param(params["expires_at"], "expires_at")
            if not EXPIRES_MIN_SECONDS <= expires_at - now <= EXPIRES_MAX_SECONDS:
                raise EmulatorError(
                    "expires_at must be between 30 minutes and 24 hours after creation.",
                    param="expires_at",
                )
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise EmulatorError("Invalid hash: metadata.", param="metadata")
        session_id = new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata,
            "mode": mode,
            "invoice": None,
            "subscription": None,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "ui_mode": "hosted",
            "url": f"{self.base_url}/pay/{session_id}",
        }
        with self._lock:
            self._sessions[session_id] = session
            self._line_items[session_id] = line_items
            if mode == "subscription":
                if len(line_items) != 1:
                    raise EmulatorError("The emulator bills one recurring price per subscription.")
                self._recurring[session_id] = recurring_price
                sub_data = params.get("subscription_data") or {}
                self._subscription_metadata[session_id] = dict(sub_data.get("metadata") or {})
            return copy.deepcopy(session)

    def api_expire_session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise EmulatorError(
                    f"Only Checkout Sessions with a status of open can be expired; "
                    f"this one is {session['status']}.",
                    param="session",
                )
            self.emit(session_id, "checkout.session.expired")
            return copy.deepcopy(session)

    def api_create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if params.get("payment_intent"):
                charge = self._charge_for_payment_intent(params["payment_intent"])
            elif params.get("charge"):
                charge = self._charges.get(params["charge"])
                if charge is None:
                    raise _missing("charge", params["charge"], "charge")
            else:
                raise EmulatorError("Missing required param: payment_intent.")
            remaining = charge["amount"] - charge["amount_refunded"]
            amount = remaining
            if params.get("amount") not in (None, ""):
                amount = _int_param(params["amount"], "amount")
            refund = self._create_refund(charge, amount=amount, reason=params.get("reason"))
            if isinstance(params.get("metadata"), dict):
                refund["metadata"] = params["metadata"]
            return copy.deepcopy(refund)

    def api_retrieve(self, kind: str, object_id: str) -> dict[str, Any]:
        stores = {
            "checkout.session": (self._sessions, "session"),
            "payment_intent": (self._payment_intents, "intent"),
            "refund": (self._refunds, "refund"),
            "charge": (self._charges, "charge"),
            "subscription": (self._subscriptions, "id"),
            "invoice": (self._invoices, "invoice"),
        }
        store, param = stores[kind]
        with self._lock:
            self._expire_due_sessions()
            if object_id not in store:
                raise _missing(kind, object_id, param)
            return copy.deepcopy(store[object_id])

    def page_context(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire_due_sessions()
            return {
                "session": copy.deepcopy(self._session(session_id)),
                "line_items": copy.deepcopy(self._line_items[session_id]),
                "async_state": self._async_state.get(session_id),
                "error": self._page_errors.get(session_id),
            }

    # --- internals (callers hold self._lock) ------------------------------------------------
    def _session(self, session_id: str) -> dict[str, Any]:
        session = self._sessions.get(session_id)
        if session is None:
            raise _missing("checkout.session", session_id, "session")
        return session

    def _open_session(self, session_id: str) -> dict[str, Any]:
        self._expire_due_sessions()
        session = self._session(session_id)
        if session["status"] != "open":
            raise EmulatorError(
                f"This Checkout Session is {session['status']}: it can no longer be paid.",
                status=409,
                param="session",
            )
        return session

    def _expire_due_sessions(self) -> None:
        # Stripe expires sessions by itself; here it happens lazily, on the next request.
        now = time.time()
        for session in list(self._sessions.values()):
            if session["status"] == "open" and session["expires_at"] <= now:
                session["status"] = "expired"
                session["url"] = None
                self._record_event("checkout.session.expired", session)

    def _complete(self, session: dict[str, Any], *, payment_status: str, email: str | None):
        session_id = session["id"]
        self._page_errors.pop(session_id, None)
        session["status"] = "complete"
        session["payment_status"] = payment_status
        session["url"] = None
        session["customer_details"] = {
            "address": None,
            "email": email or session["customer_email"] or "customer@example.com",
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        if payment_status == "no_payment_required":
            return
        if session["mode"] == "subscription":
            # The first invoice is paid at once (cards only here); no PaymentIntent on the session.
            self._subscription_start(session, session["customer_details"]["email"])
            return
        intent_id, charge_id = new_id("pi"), new_id("ch")
        succeeded = payment_status == "paid"
        self._payment_intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": session["amount_total"] if succeeded else 0,
            "created": int(time.time()),
            "currency": session["currency"],
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": {},
            "status": "succeeded" if succeeded else "processing",
        }
        self._charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": session["amount_total"],
            "amount_captured": session["amount_total"] if succeeded else 0,
            "amount_refunded": 0,
            "billing_details": {"email": session["customer_details"]["email"]},
            "captured": succeeded,
            "created": int(time.time()),
            "currency": session["currency"],
            "disputed": False,
            "livemode": False,
            "metadata": {},
            "paid": succeeded,
            "payment_intent": intent_id,
            "refunded": False,
            "status": "succeeded" if succeeded else "pending",
        }
        session["payment_intent"] = intent_id
        if not succeeded:
            self._async_state[session_id] = "pending"

    def _settle_async(self, session: dict[str, Any], *, succeeded: bool) -> None:
        self._async_state[session["id"]] = "succeeded" if succeeded else "failed"
        intent = self._payment_intents.get(session["payment_intent"] or "")
        if intent is None:
            return
        charge = self._charges[intent["latest_charge"]]
        if succeeded:
            session["payment_status"] = "paid"
            intent.update(status="succeeded", amount_received=intent["amount"])
            charge.update(status="succeeded", paid=True, captured=True)
            charge["amount_captured"] = charge["amount"]
        else:
            session["payment_status"] = "unpaid"
            intent["status"] = "requires_payment_method"
            charge.update(status="failed", paid=False)

    def _charge_for_session(self, session: dict[str, Any]) -> dict[str, Any]:
        if not session["payment_intent"]:
            raise EmulatorError(
                f"Checkout Session {session['id']} has no payment yet: pay it first.",
                status=409,
            )
        return self._charge_for_payment_intent(session["payment_intent"])

    def _charge_for_payment_intent(self, intent_id: str) -> dict[str, Any]:
        intent = self._payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "payment_intent")
        charge = self._charges[intent["latest_charge"]]
        if charge["status"] != "succeeded":
            raise EmulatorError(
                f"PaymentIntent {intent_id} has no successful charge to refund.",
                code="charge_not_refundable" if charge["status"] == "failed" else None,
            )
        return charge

    def _create_refund(
        self, charge: dict[str, Any], *, amount: int, reason: str | None
    ) -> dict[str, Any]:
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise EmulatorError(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if not 0 < amount <= remaining:
            raise EmulatorError(
                f"Refund amount ({amount}) must be between 1 and {remaining}.",
                code="amount_too_large" if amount > remaining else None,
                param="amount",
            )
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        }
        self._refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._record_event("charge.refunded", charge)
        return refund

    def _create_dispute(self, charge: dict[str, Any], *, reason: str) -> dict[str, Any]:
        dispute = {
            "id": new_id("dp"),
            "object": "dispute",
            "amount": charge["amount"],
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
        }
        self._disputes[dispute["id"]] = dispute
        charge["disputed"] = True
        return dispute

    def _record_event(self, type: str, obj: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        # Serialised once: a resend carries the very same bytes.
        body = json.dumps(event, indent=2).encode()
        self._events[event["id"]] = {"event": event, "body": body, "deliveries": []}
        self._enqueue(event["id"])
        return event

    def _last_event(self) -> dict[str, Any]:
        return copy.deepcopy(next(reversed(self._events.values()))["event"])
