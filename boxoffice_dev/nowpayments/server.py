"""A NOWPayments stand-in: invoices, their payment page, payments and signed IPNs.

It speaks the part of the API Boxoffice uses (`POST /v1/invoice`, `GET /v1/payment/{id}`, with
`x-api-key`). The invoice page at /payment/?iid=<id> plays the customer (pay in full, pay and
wait for confirmations, pay part, let expire, fail); /_emulator/* lets tests drive the same.
Each status change of a payment is POSTed to the invoice's `ipn_callback_url` (or the configured
URL) with `x-nowpayments-sig` = hex HMAC-SHA512(IPN secret, the body with its keys sorted and no
whitespace, as JavaScript's JSON.stringify writes it: NOWPayments' own examples are JavaScript).

Coins: BTC at a fixed rate of 50 000 (fiat per BTC).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import time
import urllib.parse
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from boxoffice_dev.hook_server import HookServer, html_answer, json_answer, redirect

RATE = Decimal("50000")
_ids = itertools.count(int(time.time()) % 10**6 * 1000 + 4_000_000_000)


def js_stringify(value: Any) -> str:
    """JSON.stringify with sorted keys (JavaScript's number forms: 5, 2e-7, 0.00002)."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{js_stringify(k)}:{js_stringify(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(v) for v in value) + "]"
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return json.dumps(value)
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e21:
            return str(int(value))
        digits = Decimal(repr(value))
        exponent = digits.adjusted()
        if -7 < exponent < 21:
            return format(digits, "f")
        mantissa = format(digits.scaleb(-exponent).normalize(), "f")
        return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"
    return json.dumps(value, ensure_ascii=False)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class NOWPaymentsEmulator(HookServer):
    name = "nowpayments-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "nowpayments-emulator-key",
        ipn_secret: str = "nowpayments-emulator-secret",  # noqa: S107 - a test placeholder
        webhook_url: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(host, port, webhook_url, **kwargs)
        self.api_key = api_key
        self.ipn_secret = ipn_secret
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: dict[int, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []  # every IPN body, in order

    # --- state ----------------------------------------------------------------------------------
    def invoice(self, invoice_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.invoices[invoice_id])

    def payment(self, payment_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self.payments[payment_id])

    def payment_for(self, invoice_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = [p for p in self.payments.values() if str(p["invoice_id"]) == invoice_id]
            return dict(found[-1]) if found else None

    def invoice_create(self, body: dict[str, Any]) -> dict[str, Any]:
        price = body.get("price_amount")
        currency = body.get("price_currency")
        if isinstance(price, bool) or not isinstance(price, int | float | str):
            raise ValueError("price_amount is required")
        if Decimal(str(price)) <= 0 or not isinstance(currency, str):
            raise ValueError("price_amount and price_currency are required")
        invoice_id = str(next(_ids))
        now = _now_iso()
        invoice = {
            "id": invoice_id,
            "token_id": invoice_id[-6:],
            "order_id": body.get("order_id"),
            "order_description": body.get("order_description"),
            "price_amount": str(price),
            "price_currency": currency.lower(),
            "pay_currency": None,
            "ipn_callback_url": body.get("ipn_callback_url"),
            "invoice_url": f"{self.base_url}/payment/?iid={invoice_id}",
            "success_url": body.get("success_url"),
            "cancel_url": body.get("cancel_url"),
            "created_at": now,
            "updated_at": now,
        }
        with self._lock:
            self.invoices[invoice_id] = invoice
        return dict(invoice)

    def _payment_start(self, invoice_id: str) -> int:
        """The customer picks BTC on the invoice page: a payment, waiting for coins."""
        existing = self.payment_for(invoice_id)
        if existing and existing["payment_status"] not in ("expired", "failed"):
            return existing["payment_id"]
        invoice = self.invoice(invoice_id)
        price = Decimal(invoice["price_amount"])
        payment_id = next(_ids)
        payment = {
            "payment_id": payment_id,
            "invoice_id": int(invoice_id),
            "payment_status": "waiting",
            "pay_address": "bc1qemulator000000000000000000000000000",
            "price_amount": float(price),
            "price_currency": invoice["price_currency"],
            "pay_amount": float(price / RATE),
            "actually_paid": 0,
            "pay_currency": "btc",
            "order_id": invoice["order_id"],
            "order_description": invoice["order_description"],
            "purchase_id": str(payment_id + 1),
            "outcome_amount": float(price / RATE),
            "outcome_currency": "btc",
            "created_at": _now_iso(),
            "updated_at": _now_iso(),
        }
        with self._lock:
            self.payments[payment_id] = payment
        self._ipn(payment_id)
        return payment_id

    def _move(self, payment_id: int, *statuses: str, paid: float | None = None) -> None:
        for status in statuses:
            with self._lock:
                payment = self.payments[payment_id]
                if paid is not None:
                    payment["actually_paid"] = paid
                payment["payment_status"] = status
                payment["updated_at"] = _now_iso()
            self._ipn(payment_id)
            time.sleep(0.002)  # updated_at moves on between changes (millisecond precision)

    def pay(self, invoice_id: str, *, confirm: bool = True) -> int:
        payment_id = self._payment_start(invoice_id)
        full = self.payment(payment_id)["pay_amount"]
        if self.payment(payment_id)["payment_status"] in ("confirming", "confirmed"):
            self._move(payment_id, "confirmed", "sending", "finished")
        elif confirm:
            self._move(payment_id, "confirming", "confirmed", "sending", "finished", paid=full)
        else:
            self._move(payment_id, "confirming", paid=full)
        return payment_id

    def pay_part(self, invoice_id: str, fiat: Decimal) -> int:
        payment_id = self._payment_start(invoice_id)
        self._move(payment_id, "partially_paid", paid=float(fiat / RATE))
        return payment_id

    def expire(self, invoice_id: str) -> int:
        payment_id = self._payment_start(invoice_id)
        self._move(payment_id, "expired")
        return payment_id

    def fail(self, invoice_id: str) -> int:
        payment_id = self._payment_start(invoice_id)
        self._move(payment_id, "failed")
        return payment_id

    def refund(self, invoice_id: str) -> int:
        payment = self.payment_for(invoice_id)
        assert payment is not None, "no payment to refund"
        self._move(payment["payment_id"], "refunded")
        return payment["payment_id"]

    # --- IPNs -----------------------------------------------------------------------------------
    def sign(self, payload: dict[str, Any], secret: str | None = None) -> str:
        key = (self.ipn_secret if secret is None else secret).encode()
        return hmac.new(key, js_stringify(payload).encode(), hashlib.sha512).hexdigest()

    def _ipn(self, payment_id: int) -> None:
        payload = self.payment(payment_id)
        with self._lock:
            self.sent.append(payload)
            url = self.webhook_url or self.invoices[str(payload["invoice_id"])]["ipn_callback_url"]
        if self.webhook_url is None and self._held:
            url = None
        self.post(payload, url)

    _held = False  # configure(webhook_url=None) holds IPNs back (tests of late deliveries)

    def configure(self, *, webhook_url: str | None) -> None:
        super().configure(webhook_url=webhook_url)
        self._held = webhook_url is None

    def post(self, payload: dict[str, Any], url: str | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        self.send(body, {"x-nowpayments-sig": self.sign(payload)}, url)

    def resend(self, index: int = -1) -> None:
        """The same IPN again (NOWPayments repeats one that was not answered 2xx)."""
        with self._lock:
            payload = self.sent[index]
            url = self.webhook_url or self.invoices[str(payload["invoice_id"])]["ipn_callback_url"]
        self.post(payload, url)

    # --- HTTP -----------------------------------------------------------------------------------
    def handle(self, method, path, query, headers, body):
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["v1"]:
            return self._api(method, parts[1:], headers, body)
        if parts == ["payment"]:
            return self._page(method, query.get("iid", ""), body)
        if parts[:1] == ["_emulator"]:
            return self._control(method, parts[1:], body)
        return json_answer(404, {"message": "Not found"})

    def _api(self, method, rest, headers, body):
        if rest == ["status"]:
            return json_answer(200, {"message": "OK"})
        if headers.get("x-api-key", "") != self.api_key:
            return json_answer(403, {"statusCode": 403, "code": "INVALID_API_KEY"})
        if method == "POST" and rest == ["invoice"]:
            try:
                return json_answer(200, self.invoice_create(json.loads(body or b"{}")))
            except (ValueError, AttributeError, InvalidOperation) as exc:
                return json_answer(400, {"statusCode": 400, "message": str(exc)})
        if method == "GET" and len(rest) == 2 and rest[0] == "payment" and rest[1].isdigit():
            if int(rest[1]) not in self.payments:
                return json_answer(404, {"statusCode": 404, "message": "Payment not found"})
            return json_answer(200, self.payment(int(rest[1])))
        return json_answer(404, {"message": "Not found"})

    def _act(self, invoice_id: str, action: str, amount: str = "") -> None:
        actions = {
            "pay": lambda: self.pay(invoice_id),
            "pay_unconfirmed": lambda: self.pay(invoice_id, confirm=False),
            "pay_part": lambda: self.pay_part(invoice_id, Decimal(amount)),
            "expire": lambda: self.expire(invoice_id),
            "fail": lambda: self.fail(invoice_id),
            "refund": lambda: self.refund(invoice_id),
        }
        if action not in actions:
            raise ValueError(f"unknown action {action!r}")
        actions[action]()

    def _page(self, method, invoice_id, body):
        if invoice_id not in self.invoices:
            return html_answer(404, "<h1>Invoice not found</h1>")
        invoice = self.invoice(invoice_id)
        if method == "POST":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            try:
                self._act(invoice_id, form.get("action", ""), form.get("amount", ""))
            except (ValueError, InvalidOperation) as exc:
                return html_answer(400, f"<p>{html.escape(str(exc))}</p>")
            if form.get("action") in ("pay", "pay_unconfirmed") and invoice["success_url"]:
                return redirect(invoice["success_url"])
            return redirect(f"/payment/?iid={invoice_id}")
        payment = self.payment_for(invoice_id)
        status = payment["payment_status"] if payment else "no payment yet"
        esc = html.escape
        buttons = ""
        if status in ("no payment yet", "waiting", "confirming", "expired", "failed"):
            buttons = (
                '<button name="action" value="pay">Pay in full</button> '
                '<button name="action" value="pay_unconfirmed">Pay, wait for confirmations'
                "</button><br><br>"
                '<input name="amount" value="1.00" size="6" aria-label="amount"> '
                '<button name="action" value="pay_part">Pay part</button><br><br>'
                '<button name="action" value="expire">Let it expire</button> '
                '<button name="action" value="fail">Fail</button>'
            )
        cancel = invoice.get("cancel_url") or ""
        return html_answer(
            200,
            "<!doctype html><html><head><meta charset=utf-8><title>NOWPayments emulator</title>"
            "<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto}"
            "button{padding:.4rem .8rem}</style></head><body>"
            f"<h1>NOWPayments (emulator)</h1><p>Invoice <code>{esc(invoice_id)}</code> for "
            f"order {esc(str(invoice['order_id']))}</p>"
            f"<p><strong>{esc(invoice['price_amount'])} {esc(invoice['price_currency'].upper())}"
            f"</strong>, paid in BTC</p><p>Payment: <strong id=status>{esc(status)}</strong></p>"
            f'<form method="post" action="/payment/?iid={esc(invoice_id)}">{buttons}</form>'
            + (f'<p><a href="{esc(cancel)}">Back to the shop</a></p>' if cancel else "")
            + "</body></html>",
        )

    def _control(self, method, rest, body):
        if method == "GET" and rest == ["invoices"]:
            with self._lock:
                return json_answer(200, list(self.invoices.values()))
        if method == "GET" and rest == ["ipns"]:
            with self._lock:
                return json_answer(200, list(self.sent))
        if method == "POST" and rest == ["config"]:
            self.configure(webhook_url=(json.loads(body or b"{}") or {}).get("webhook_url"))
            return json_answer(200, {"webhook_url": self.webhook_url})
        if method == "POST" and len(rest) == 3 and rest[0] == "invoices":
            if rest[1] not in self.invoices:
                return json_answer(404, {"message": "no such invoice"})
            amount = (json.loads(body or b"{}") or {}).get("amount", "")
            self._act(rest[1], rest[2], str(amount))
            return json_answer(200, self.invoice(rest[1]))
        return json_answer(404, {"message": "Not found"})
