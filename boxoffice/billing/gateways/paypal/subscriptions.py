"""PayPal Subscriptions for auto-renewing plans (developer.paypal.com, /v1/billing).

- A plan is sold through a catalog product and a billing plan with one REGULAR cycle of the
  plan's period in DAY units at a fixed price. The product's id is ours and deterministic per
  (description, price, currency, days): the catalog at PayPal is the cache (looked up by product
  id, then its ACTIVE plan), so no table of ours goes stale, and a process-local memo saves the
  look-up on the next checkout. A price change makes a new product and plan; subscriptions on
  the old one keep their price (PayPal's plans are fixed-price).
- Checkout creates a subscription with `custom_id` = our order reference and sends the buyer to
  its approve link.
- Events only point (`PaymentUpdate(status=SUBSCRIPTION)`): billing re-fetches the subscription
  (`GET /v1/billing/subscriptions/{id}`) and the sale (`GET /v1/payments/sale/{id}`) before it
  writes. A sale is one period's payment, keyed by its id; whether it is the first payment or a
  renewal is billing's to tell (`base.SALE`: the first order paid by it or not). A failed charge
  has no sale: it is named `<subscription>:cycle:<n>` (the cycle that went unpaid), so each
  cycle's failure is told once and a retry that pays it (a sale) extends once.
- PayPal cancels at once (`POST .../cancel`), there is no "at period end": the line runs to the
  end of what was paid, then it is a line renewed by hand. A cancelled subscription cannot be
  resumed: the customer subscribes again when they renew.
- PayPal has no billing portal for a card: the buyer changes the funding source of an automatic
  payment in their own PayPal account (Settings, Automatic payments); that is where the card link
  sends them, and the page says so.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from boxoffice.billing.gateways import base
from boxoffice.billing.gateways.base import (
    CheckoutRequest,
    CheckoutStart,
    InvoiceState,
    PaymentError,
    PaymentUpdate,
    SubscriptionState,
    UnableToTakePayment,
)
from boxoffice.billing.gateways.paypal import wire
from boxoffice.billing.gateways.paypal.client import LIVE_API_BASE, PayPalAPIError, issue_of

logger = logging.getLogger(__name__)

SUBSCRIPTION_EVENTS = frozenset(
    {
        "BILLING.SUBSCRIPTION.CREATED",
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "BILLING.SUBSCRIPTION.RE-ACTIVATED",
        "BILLING.SUBSCRIPTION.UPDATED",
        "BILLING.SUBSCRIPTION.CANCELLED",
        "BILLING.SUBSCRIPTION.SUSPENDED",
        "BILLING.SUBSCRIPTION.EXPIRED",
    }
)
PAYMENT_FAILED = "BILLING.SUBSCRIPTION.PAYMENT.FAILED"
CYCLE_MARK = ":cycle:"
SANDBOX_API_BASE = "https://api-m.sandbox.paypal.com"
UNREACHABLE = "We could not reach PayPal. Please try again in a minute."

_plans: dict[tuple[str, str], str] = {}
_plans_lock = threading.Lock()


def plans_forget() -> None:
    """Drop the memo of PayPal plan ids (tests)."""
    with _plans_lock:
        _plans.clear()


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sale_money(obj: Any) -> tuple[Decimal, str] | None:
    """v1 sale amounts: {"total": "9.99", "currency": "EUR"}."""
    if not isinstance(obj, dict):
        return None
    value = obj.get("total", obj.get("value"))
    return wire.money({"value": value, "currency_code": obj.get("currency")})


def _billing_info(sub: dict) -> dict:
    info = sub.get("billing_info")
    return info if isinstance(info, dict) else {}


def _regular_cycles(sub: dict) -> int:
    info = sub.get("billing_info")
    runs = info.get("cycle_executions") if isinstance(info, dict) else None
    for run in runs if isinstance(runs, list) else []:
        if isinstance(run, dict) and run.get("tenure_type") == "REGULAR":
            done = run.get("cycles_completed")
            if isinstance(done, int) and not isinstance(done, bool):
                return done
    return 0


def _failed_count(sub: dict) -> int:
    info = sub.get("billing_info")
    count = info.get("failed_payments_count") if isinstance(info, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _period_end(sale: dict, info: dict) -> datetime | None:
    """The end of the period a sale pays for: PayPal's next billing time while this sale is the
    subscription's last payment (its schedule stays anchored, a late retry does not move it).
    An older sale read later says nothing about it (None: billing adds the plan's days)."""
    last = info.get("last_payment")
    paid_at = _when(last.get("time")) if isinstance(last, dict) else None
    sold_at = _when(sale.get("create_time"))
    if paid_at is None or sold_at is None or abs((paid_at - sold_at).total_seconds()) > 300:
        return None
    return _when(info.get("next_billing_time"))


def subscription_state(sub: dict) -> SubscriptionState:
    status = wire.text(sub, "status")
    info = _billing_info(sub)
    subscriber = sub.get("subscriber") if isinstance(sub.get("subscriber"), dict) else {}
    return SubscriptionState(
        gateway_subscription_id=wire.text(sub, "id"),
        # Lower case, as billing's `Subscription.renews` reads them: only "active" renews
        # (PayPal keeps a subscription ACTIVE while it retries a failed payment).
        status=status.lower(),
        order_reference=wire.text(sub, "custom_id"),
        gateway_customer_id=wire.text(subscriber, "payer_id"),
        current_period_end=_when(info.get("next_billing_time")),
        # PayPal cancels at once: no further charge; what was paid still runs to its end.
        cancel_at_period_end=status == "CANCELLED",
        ended=status in ("CANCELLED", "EXPIRED"),
    )


def failure_invoice_id(sub_id: str, sub: dict) -> str:
    return f"{sub_id}{CYCLE_MARK}{_regular_cycles(sub) + 1}"


def subscription_event_update(event_type: str, resource: dict) -> PaymentUpdate | None:
    """What a subscription event's resource points at (nothing here is trusted beyond that)."""
    if event_type in SUBSCRIPTION_EVENTS or event_type == PAYMENT_FAILED:
        sub_id = wire.text(resource, "id")
        if not sub_id:
            return None
        return PaymentUpdate(
            status=base.SUBSCRIPTION,
            order_reference=wire.text(resource, "custom_id"),
            gateway_subscription_id=sub_id,
            gateway_invoice_id=(
                failure_invoice_id(sub_id, resource) if event_type == PAYMENT_FAILED else ""
            ),
        )
    if event_type == "PAYMENT.SALE.COMPLETED":
        sub_id = wire.text(resource, "billing_agreement_id")
        sale_id = wire.text(resource, "id")
        if not sub_id or not sale_id:
            return None  # a sale of no subscription is not ours (Orders v2 sends CAPTURE events)
        return PaymentUpdate(
            status=base.SUBSCRIPTION,
            order_reference=wire.text(resource, "custom"),
            gateway_subscription_id=sub_id,
            gateway_invoice_id=sale_id,
        )
    if event_type == "PAYMENT.SALE.REFUNDED":
        sale_id = wire.text(resource, "sale_id")
        if not sale_id:
            return None
        total = _sale_money(resource.get("total_refunded_amount")) or _sale_money(
            resource.get("amount")
        )
        return PaymentUpdate(
            status=base.REFUNDED,
            gateway_payment_id=sale_id,
            amount=total[0] if total else None,
            currency=total[1] if total else "",
        )
    if event_type == "PAYMENT.SALE.REVERSED":
        # The sale's money taken back (a chargeback or a reversal): all of it.
        sale_id = wire.text(resource, "id")
        amount = _sale_money(resource.get("amount"))
        if not sale_id:
            return None
        return PaymentUpdate(
            status=base.REFUNDED,
            gateway_payment_id=sale_id,
            amount=amount[0] if amount else None,
            currency=amount[1] if amount else "",
        )
    return None


class PayPalSubscriptions:
    """The recurring half of `PayPalGateway` (mixed in; `_client` and `config` are its)."""

    config: Any

    def _client(self) -> Any:  # pragma: no cover - PayPalGateway's own comes first
        raise NotImplementedError

    # --- the catalog -------------------------------------------------------------------------
    def _plan_id(self, request: CheckoutRequest, value: str) -> str:
        currency = request.currency.upper()
        digest = hashlib.sha256(
            f"{request.description}|{value}|{currency}|{request.recurring_days}".encode()
        ).hexdigest()[:32]
        product_id = f"BOXOFFICE-{digest}"
        memo = (self.config.api_base, product_id)
        with _plans_lock:
            if memo in _plans:
                return _plans[memo]
        client = self._client()
        found = client.call("GET", f"/v1/billing/plans?product_id={product_id}&page_size=20")
        plan_id = ""
        if found.status == 200:
            for plan in found.body.get("plans") or []:
                if isinstance(plan, dict) and plan.get("status") == "ACTIVE":
                    plan_id = wire.text(plan, "id")
                    break
        if not plan_id:
            product = client.call(
                "POST",
                "/v1/catalogs/products",
                body={
                    "id": product_id,
                    "name": request.description[:127],
                    "type": "SERVICE",
                    "category": "SOFTWARE",
                },
                request_id=f"product-{product_id}",
            )
            if product.status not in (200, 201) and issue_of(product.body) != "DUPLICATE_RESOURCE":
                raise PayPalAPIError(
                    f"PayPal product {product_id}: HTTP {product.status} {issue_of(product.body)}",
                    status=product.status,
                )
            created = client.call(
                "POST",
                "/v1/billing/plans",
                body={
                    "product_id": product_id,
                    "name": request.description[:127],
                    "status": "ACTIVE",
                    "billing_cycles": [
                        {
                            "tenure_type": "REGULAR",
                            "sequence": 1,
                            "total_cycles": 0,  # until cancelled
                            "frequency": {
                                "interval_unit": "DAY",
                                "interval_count": request.recurring_days,
                            },
                            "pricing_scheme": {
                                "fixed_price": {"value": value, "currency_code": currency}
                            },
                        }
                    ],
                    "payment_preferences": {
                        "auto_bill_outstanding": True,
                        "payment_failure_threshold": 3,
                    },
                },
                request_id=f"plan-{product_id}",
            )
            plan_id = wire.text(created.body, "id")
            if created.status not in (200, 201) or not plan_id:
                raise PayPalAPIError(
                    f"PayPal plan for {product_id}: HTTP {created.status} {issue_of(created.body)}",
                    status=created.status,
                )
        with _plans_lock:
            _plans[memo] = plan_id
        return plan_id

    def subscription_checkout(self, request: CheckoutRequest, value: str) -> CheckoutStart:
        from boxoffice.billing.gateways.paypal.adapter import (  # noqa: PLC0415 - a cycle
            UNAVAILABLE,
            _request_id,
            _with_query,
        )

        try:
            plan_id = self._plan_id(request, value)
            answer = self._client().call(
                "POST",
                "/v1/billing/subscriptions",
                body={
                    "plan_id": plan_id,
                    "custom_id": request.order_reference,
                    "subscriber": {"email_address": request.customer_email},
                    "application_context": {
                        "user_action": "SUBSCRIBE_NOW",
                        "shipping_preference": "NO_SHIPPING",
                        # PayPal adds subscription_id, ba_token and token.
                        "return_url": _with_query(request.success_url, "returned=1"),
                        "cancel_url": _with_query(request.cancel_url, "payment=cancelled"),
                    },
                },
                request_id=_request_id(
                    "subscription", request.order_reference, request.previous_gateway_reference
                ),
            )
        except PayPalAPIError as exc:
            logger.warning("paypal subscription for %s failed: %s", request.order_reference, exc)
            raise UnableToTakePayment(UNAVAILABLE) from exc
        sub_id = wire.text(answer.body, "id")
        approve = wire.link(answer.body, "approve")
        if answer.status not in (200, 201) or not sub_id or not approve:
            logger.warning(
                "paypal subscription for %s: HTTP %s %s",
                request.order_reference,
                answer.status,
                issue_of(answer.body),
            )
            raise UnableToTakePayment(UNAVAILABLE)
        return CheckoutStart(redirect_url=approve, gateway_reference=sub_id)

    # --- reading ---------------------------------------------------------------------------
    def _subscription(self, sub_id: str) -> dict:
        answer = self._client().call("GET", f"/v1/billing/subscriptions/{sub_id}")
        if answer.status != 200 or answer.body.get("id") != sub_id:
            raise PaymentError(
                f"paypal subscription {sub_id}: HTTP {answer.status} {issue_of(answer.body)}"
            )
        return answer.body

    def subscription_fetch(self, gateway_subscription_id: str) -> SubscriptionState:
        try:
            return subscription_state(self._subscription(gateway_subscription_id))
        except PayPalAPIError as exc:
            raise PaymentError(f"paypal subscription {gateway_subscription_id}: {exc}") from exc

    def invoice_fetch(self, gateway_invoice_id: str) -> InvoiceState:
        try:
            if CYCLE_MARK in gateway_invoice_id:
                return self._failure_fetch(gateway_invoice_id)
            return self._sale_fetch(gateway_invoice_id)
        except PayPalAPIError as exc:
            raise PaymentError(f"paypal {gateway_invoice_id}: {exc}") from exc

    def _sale_fetch(self, sale_id: str) -> InvoiceState:
        answer = self._client().call("GET", f"/v1/payments/sale/{sale_id}")
        sale = answer.body
        if answer.status != 200 or sale.get("id") != sale_id:
            raise PaymentError(f"paypal sale {sale_id}: HTTP {answer.status} {issue_of(sale)}")
        sub_id = wire.text(sale, "billing_agreement_id")
        sub = self._subscription(sub_id) if sub_id else {}
        amount = _sale_money(sale.get("amount"))
        info = _billing_info(sub)
        return InvoiceState(
            gateway_invoice_id=sale_id,
            gateway_subscription_id=sub_id,
            reason=base.SALE,
            # refunded / partially_refunded sales were completed first: the period was paid.
            paid=wire.text(sale, "state") in ("completed", "refunded", "partially_refunded"),
            charge_failed=False,
            amount=amount[0] if amount else None,
            currency=amount[1] if amount else "",
            period_end=_period_end(sale, info),
            order_reference=wire.text(sub, "custom_id") or wire.text(sale, "custom"),
        )

    def _failure_fetch(self, invoice_id: str) -> InvoiceState:
        sub_id, _, cycle = invoice_id.partition(CYCLE_MARK)
        try:
            wanted = int(cycle)
        except (ValueError, InvalidOperation):
            raise PaymentError(f"not a PayPal cycle: {invoice_id}") from None
        sub = self._subscription(sub_id)
        info = _billing_info(sub)
        last = info.get("last_failed_payment") if isinstance(info, dict) else None
        amount = wire.money(last.get("amount")) if isinstance(last, dict) else None
        failures = _failed_count(sub)
        return InvoiceState(
            gateway_invoice_id=invoice_id,
            gateway_subscription_id=sub_id,
            reason=base.CYCLE,
            paid=False,
            # Still unpaid (no sale has completed the cycle) and PayPal counts failures.
            charge_failed=_regular_cycles(sub) < wanted and failures > 0,
            amount=amount[0] if amount else None,
            currency=amount[1] if amount else "",
            period_end=None,
            attempts=failures,
            order_reference=wire.text(sub, "custom_id"),
        )

    def subscription_return(self, sub_id: str) -> PaymentUpdate | None:
        """Back from PayPal's approval: the subscription, and its first sale when PayPal has
        taken it (`/transactions`); None while it waits for approval."""
        try:
            sub = self._subscription(sub_id)
            if sub.get("status") != "ACTIVE" or _regular_cycles(sub) < 1:
                return None
            start = wire.text(sub, "start_time") or wire.text(sub, "create_time")
            end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            answer = self._client().call(
                "GET",
                f"/v1/billing/subscriptions/{sub_id}/transactions?start_time={start}&end_time={end}",
            )
        except (PayPalAPIError, PaymentError) as exc:
            logger.warning("paypal subscription %s on return: %s", sub_id, exc)
            return None
        sales = [
            t
            for t in answer.body.get("transactions") or []
            if isinstance(t, dict) and t.get("status") == "COMPLETED" and wire.text(t, "id")
        ]
        sales.sort(key=lambda t: wire.text(t, "time"))
        return PaymentUpdate(
            status=base.SUBSCRIPTION,
            order_reference=wire.text(sub, "custom_id"),
            gateway_subscription_id=sub_id,
            gateway_invoice_id=wire.text(sales[0], "id") if sales else "",
        )

    def sale_refund(
        self, *, sale_id: str, value: str, currency: str, request_id: str
    ) -> PaymentUpdate:
        """Refund (part of) a subscription's sale: `POST /v1/payments/sale/{id}/refund`. The
        answer's total refunded so far, as the refund contract wants. Raises PayPalAPIError
        (unreachable) or UnableToTakePayment (refused)."""
        answer = self._client().call(
            "POST",
            f"/v1/payments/sale/{sale_id}/refund",
            body={"amount": {"total": value, "currency": currency.upper()}},
            request_id=request_id,
        )
        update = subscription_event_update("PAYMENT.SALE.REFUNDED", answer.body)
        state = wire.text(answer.body, "state")
        if answer.status not in (200, 201) or update is None or state in ("failed", "cancelled"):
            raise UnableToTakePayment(
                f"PayPal did not refund sale {sale_id}: HTTP {answer.status} "
                f"{issue_of(answer.body) or state}"
            )
        if update.gateway_payment_id != sale_id:
            raise PaymentError(f"PayPal's refund names another sale ({update.gateway_payment_id})")
        return update

    # --- the customer's own actions ----------------------------------------------------------
    def subscription_cancel_at_period_end(
        self, gateway_subscription_id: str, *, cancel: bool, reason: str = ""
    ) -> SubscriptionState:
        if not cancel:
            raise UnableToTakePayment(
                "PayPal cannot restart a cancelled subscription. You keep what you paid for; "
                "renew with PayPal from your account to subscribe again."
            )
        try:
            answer = self._client().call(
                "POST",
                f"/v1/billing/subscriptions/{gateway_subscription_id}/cancel",
                body={"reason": (reason or "Cancelled by the customer")[:127]},
            )
            if answer.status not in (200, 204) and not (
                answer.status == 422 and issue_of(answer.body) == "SUBSCRIPTION_STATUS_INVALID"
            ):
                raise PayPalAPIError(
                    f"cancel: HTTP {answer.status} {issue_of(answer.body)}", status=answer.status
                )
            return subscription_state(self._subscription(gateway_subscription_id))
        except (PayPalAPIError, PaymentError) as exc:
            logger.warning("paypal subscription %s not cancelled: %s", gateway_subscription_id, exc)
            raise UnableToTakePayment(UNREACHABLE) from exc

    def payment_method_update_url(
        self, *, gateway_customer_id: str, gateway_subscription_id: str, return_url: str
    ) -> str:
        """PayPal has no session for replacing a subscription's card: the buyer changes the
        funding source of the automatic payment in their own PayPal account. That page (the
        same for everyone, no bearer credential in it)."""
        api = (self.config.api_base or LIVE_API_BASE).rstrip("/")
        if api == LIVE_API_BASE:
            return "https://www.paypal.com/myaccount/autopay/"
        if api == SANDBOX_API_BASE:
            return "https://www.sandbox.paypal.com/myaccount/autopay/"
        return f"{api}/myaccount/autopay/"  # the local emulator
