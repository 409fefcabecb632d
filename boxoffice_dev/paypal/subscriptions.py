"""The emulated PayPal's catalog products, billing plans and subscriptions (/v1/billing), and a
test control that runs one billing cycle: a sale completed, or a failed payment (SUSPENDED once
`payment_failure_threshold` failures in a row are reached), with the events PayPal sends."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boxoffice_dev.paypal.wire import (
    invalid,
    new_id,
    not_found,
    parse_money,
    unprocessable,
)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class SubscriptionsState:
    """Mixed into PayPalState (its lock, base_url and `_record_event`)."""

    _lock: Any
    base_url: str

    def _record_event(self, event_type: str, resource_type: str, resource: dict[str, Any]): ...

    def _subscriptions_init(self) -> None:
        self._products: dict[str, dict[str, Any]] = {}
        self._plans: dict[str, dict[str, Any]] = {}
        self._subs: dict[str, dict[str, Any]] = {}
        self._sales: dict[str, dict[str, Any]] = {}

    # --- the API -----------------------------------------------------------------------------
    def api_product_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("name", "MISSING_REQUIRED_PARAMETER")
        product_id = body.get("id") or f"PROD-{new_id()}"
        with self._lock:
            if product_id in self._products:
                raise unprocessable("DUPLICATE_RESOURCE", f"Product {product_id} exists.")
            product = {"id": product_id, "name": name, "type": body.get("type", "SERVICE")}
            self._products[product_id] = product
            return copy.deepcopy(product)

    def api_plan_create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if body.get("product_id") not in self._products:
                raise invalid("product_id", "INVALID_PARAMETER_VALUE")
            cycles = body.get("billing_cycles")
            if not isinstance(cycles, list) or len(cycles) != 1:
                raise invalid("billing_cycles", "INVALID_ARRAY_LENGTH")
            cycle = cycles[0]
            frequency = cycle.get("frequency") or {}
            if frequency.get("interval_unit") != "DAY" or cycle.get("tenure_type") != "REGULAR":
                raise invalid("billing_cycles/0/frequency", "INVALID_PARAMETER_VALUE")
            count = frequency.get("interval_count")
            if not isinstance(count, int) or not 1 <= count <= 365:
                raise invalid("billing_cycles/0/frequency/interval_count", "INVALID_INTEGER")
            parse_money((cycle.get("pricing_scheme") or {}).get("fixed_price"), "fixed_price")
            plan_id = f"P-{new_id(24)}"
            plan = {
                "id": plan_id,
                "product_id": body["product_id"],
                "name": body.get("name", ""),
                "status": body.get("status", "ACTIVE"),
                "billing_cycles": copy.deepcopy(cycles),
                "payment_preferences": copy.deepcopy(body.get("payment_preferences") or {}),
            }
            self._plans[plan_id] = plan
            return copy.deepcopy(plan)

    def api_plans_list(self, product_id: str) -> dict[str, Any]:
        with self._lock:
            plans = [
                {k: p[k] for k in ("id", "product_id", "name", "status")}
                for p in self._plans.values()
                if not product_id or p["product_id"] == product_id
            ]
        return {"plans": plans}

    def api_subscription_create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            plan = self._plans.get(body.get("plan_id") or "")
            if plan is None:
                raise invalid("plan_id", "INVALID_RESOURCE_ID")
            context = body.get("application_context") or {}
            sub_id = f"I-{new_id(12)}"
            now = datetime.now(UTC)
            sub = {
                "id": sub_id,
                "plan_id": plan["id"],
                "status": "APPROVAL_PENDING",
                "custom_id": body.get("custom_id", ""),
                "subscriber": copy.deepcopy(body.get("subscriber") or {}),
                "create_time": _iso(now),
                "billing_info": {
                    "outstanding_balance": {"currency_code": self._price(plan)[1], "value": "0"},
                    "cycle_executions": [
                        {
                            "tenure_type": "REGULAR",
                            "sequence": 1,
                            "cycles_completed": 0,
                            "total_cycles": 0,
                        }
                    ],
                    "failed_payments_count": 0,
                },
                "links": [
                    {
                        "href": f"{self.base_url}/webapps/billing/subscriptions?ba_token={sub_id}",
                        "rel": "approve",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.base_url}/v1/billing/subscriptions/{sub_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                ],
                "_return_url": context.get("return_url", ""),
                "_cancel_url": context.get("cancel_url", ""),
            }
            self._subs[sub_id] = sub
            return self._sub_public(sub)

    def api_subscription_get(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            return self._sub_public(self._sub(sub_id))

    def api_subscription_cancel(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            sub = self._sub(sub_id)
            if sub["status"] not in ("ACTIVE", "SUSPENDED"):
                raise unprocessable("SUBSCRIPTION_STATUS_INVALID", f"{sub_id} is {sub['status']}.")
            sub["status"] = "CANCELLED"
            sub["billing_info"].pop("next_billing_time", None)
            self._record_event("BILLING.SUBSCRIPTION.CANCELLED", "subscription", sub)
            return {}

    def api_sale_get(self, sale_id: str) -> dict[str, Any]:
        with self._lock:
            if sale_id not in self._sales:
                raise not_found("sale", sale_id)
            sale = self._sales[sale_id]
            return {k: copy.deepcopy(v) for k, v in sale.items() if not k.startswith("_")}

    def api_sale_refund(self, sale_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            sale = self._sales.get(sale_id)
            if sale is None:
                raise not_found("sale", sale_id)
            if sale["state"] not in ("completed", "partially_refunded"):
                raise unprocessable("TRANSACTION_REFUSED", f"The sale is {sale['state']}.")
            total = Decimal(sale["amount"]["total"])
            so_far = Decimal(sale.get("_refunded", "0"))
            asked = body.get("amount") or {}
            try:
                amount = Decimal(str(asked.get("total"))) if asked else total - so_far
            except ArithmeticError:
                raise invalid("amount/total", "INVALID_PARAMETER_SYNTAX") from None
            if asked and asked.get("currency") != sale["amount"]["currency"]:
                raise invalid("amount/currency", "INVALID_CURRENCY_CODE")
            if amount <= 0 or amount > total - so_far:
                raise unprocessable("REFUND_EXCEEDED_TRANSACTION_AMOUNT", "Too much.")
            refunded = so_far + amount
            sale["_refunded"] = str(refunded)
            sale["state"] = "refunded" if refunded == total else "partially_refunded"
            currency = sale["amount"]["currency"]
            refund = {
                "id": new_id(17),
                "state": "completed",
                "sale_id": sale_id,
                "parent_payment": f"PAYID-{sale_id}",
                "amount": {"total": str(amount), "currency": currency},
                "total_refunded_amount": {"value": str(refunded), "currency": currency},
                "create_time": _iso(datetime.now(UTC)),
            }
            self._record_event("PAYMENT.SALE.REFUNDED", "refund", refund)
            return copy.deepcopy(refund)

    def api_transactions(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            self._sub(sub_id)
            found = [
                {
                    "id": s["id"],
                    "status": "COMPLETED" if s["state"] == "completed" else s["state"].upper(),
                    "time": s["create_time"],
                    "amount_with_breakdown": {
                        "gross_amount": {
                            "currency_code": s["amount"]["currency"],
                            "value": s["amount"]["total"],
                        }
                    },
                }
                for s in self._sales.values()
                if s["billing_agreement_id"] == sub_id
            ]
        return {"transactions": found}

    # --- the buyer and the billing clock -----------------------------------------------------
    def subscription(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            return self._sub_public(self._sub(sub_id))

    def subscription_approve(self, sub_id: str) -> dict[str, Any]:
        """The buyer approves: ACTIVE, the first cycle charged at once."""
        with self._lock:
            sub = self._sub(sub_id)
            if sub["status"] != "APPROVAL_PENDING":
                raise unprocessable("SUBSCRIPTION_STATUS_INVALID", f"{sub_id} is {sub['status']}.")
            now = datetime.now(UTC)
            sub["status"] = "ACTIVE"
            sub["start_time"] = _iso(now)
            sub["subscriber"].setdefault("payer_id", new_id(13))
            sub["billing_info"]["next_billing_time"] = _iso(now)
            self._record_event("BILLING.SUBSCRIPTION.ACTIVATED", "subscription", sub)
            sale = self._sale_complete(sub)
            return {"subscription": self._sub_public(sub), "sale": sale}

    def subscription_return_location(self, sub_id: str) -> str:
        with self._lock:
            sub = self._sub(sub_id)
            url = sub["_return_url"]
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}subscription_id={sub_id}&ba_token=BA-{sub_id[2:]}&token={sub_id}"

    def subscription_cycle(self, sub_id: str, outcome: str = "paid") -> dict[str, Any]:
        """PayPal bills the next cycle (or retries a failed one): `paid` completes a sale;
        `failed` counts a failure, SUSPENDED at the plan's payment_failure_threshold."""
        with self._lock:
            sub = self._sub(sub_id)
            if sub["status"] != "ACTIVE":
                raise unprocessable("SUBSCRIPTION_STATUS_INVALID", f"{sub_id} is {sub['status']}.")
            if outcome == "paid":
                return {"sale": self._sale_complete(sub), "subscription": self._sub_public(sub)}
            if outcome != "failed":
                raise invalid("outcome", "INVALID_PARAMETER_VALUE")
            plan = self._plans[sub["plan_id"]]
            value, currency = self._price(plan)
            info = sub["billing_info"]
            info["failed_payments_count"] += 1
            info["last_failed_payment"] = {
                "amount": {"currency_code": currency, "value": value},
                "time": _iso(datetime.now(UTC)),
                "reason_code": "PAYMENT_DENIED",
            }
            self._record_event("BILLING.SUBSCRIPTION.PAYMENT.FAILED", "subscription", sub)
            threshold = plan["payment_preferences"].get("payment_failure_threshold", 0)
            if threshold and info["failed_payments_count"] >= threshold:
                sub["status"] = "SUSPENDED"
                self._record_event("BILLING.SUBSCRIPTION.SUSPENDED", "subscription", sub)
            return {"subscription": self._sub_public(sub)}

    # --- helpers -----------------------------------------------------------------------------
    def _sub(self, sub_id: str) -> dict[str, Any]:
        if sub_id not in self._subs:
            raise not_found("subscription", sub_id)
        return self._subs[sub_id]

    def _sub_public(self, sub: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in sub.items() if not k.startswith("_")}

    @staticmethod
    def _price(plan: dict[str, Any]) -> tuple[str, str]:
        price = plan["billing_cycles"][0]["pricing_scheme"]["fixed_price"]
        return price["value"], price["currency_code"]

    def _sale_complete(self, sub: dict[str, Any]) -> dict[str, Any]:
        plan = self._plans[sub["plan_id"]]
        value, currency = self._price(plan)
        days = plan["billing_cycles"][0]["frequency"]["interval_count"]
        info = sub["billing_info"]
        info["cycle_executions"][0]["cycles_completed"] += 1
        info["failed_payments_count"] = 0
        info["last_payment"] = {
            "amount": {"currency_code": currency, "value": value},
            "time": _iso(datetime.now(UTC)),
        }
        # The next billing time moves one cycle from the last (the anchor), not from a retry.
        anchor = _parse(info.get("next_billing_time") or _iso(datetime.now(UTC)))
        info["next_billing_time"] = _iso(anchor + timedelta(days=days))
        sale_id = new_id(17)
        sale = {
            "id": sale_id,
            "state": "completed",
            "amount": {"total": str(Decimal(value)), "currency": currency},
            "billing_agreement_id": sub["id"],
            "custom": sub.get("custom_id", ""),
            "create_time": _iso(datetime.now(UTC)),
            "links": [
                {"href": f"{self.base_url}/v1/payments/sale/{sale_id}", "rel": "self"},
            ],
        }
        self._sales[sale_id] = sale
        self._record_event("PAYMENT.SALE.COMPLETED", "sale", sale)
        return copy.deepcopy(sale)
