"""A BTCPay Server stand-in: Greenfield invoices, a checkout page to click, signed webhooks.

It speaks the part of the Greenfield API Boxoffice uses (`POST/GET /api/v1/stores/{store}/invoices`,
`GET .../invoices/{id}/payment-methods`, `POST .../invoices/{id}/status`), with
`Authorization: token <api key>`. The checkout page at /i/<invoice id> plays the customer (pay in
full, pay and wait for confirmations, pay part, let expire, mark invalid); /_emulator/* lets
tests and people drive the same. Webhooks are signed `BTCPay-Sig: sha256=<HMAC-SHA256 of the raw
body>` and carry BTCPay's delivery fields; a redelivery gets a new `deliveryId` with the first in
`originalDeliveryId` and `isRedelivery: true`, as BTCPay's dashboard does.

Coins are one payment method, BTC-CHAIN, at a fixed rate of 50 000 (fiat per BTC).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import time
import urllib.parse
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any

from boxoffice_dev.hook_server import HookServer, html_answer, json_answer, redirect

RATE = Decimal("50000")
SATOSHI = Decimal("0.00000001")


def _new_id(size: int = 22) -> str:
    return secrets.token_urlsafe(size)[:size].replace("-", "a").replace("_", "b")


def _btc(fiat: Decimal) -> Decimal:
    return (fiat / RATE).quantize(SATOSHI, rounding=ROUND_UP)


class BTCPayEmulator(HookServer):
    name = "btcpay-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "btcpay-emulator-key",
        webhook_secret: str = "btcpay-emulator-secret",  # noqa: S107 - a test placeholder
        store_id: str = "emulator-store",
        webhook_url: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(host, port, webhook_url, **kwargs)
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.store_id = store_id
        self.invoices: dict[str, dict[str, Any]] = {}
        self.paid: dict[str, Decimal] = {}  # invoice id -> BTC received
        self.sent: list[dict[str, Any]] = []  # every event payload, in order

    # --- state ----------------------------------------------------------------------------------
    def invoice(self, invoice_id: str) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self.invoices[invoice_id]))

    def invoice_create(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            amount = Decimal(str(body.get("amount")))
        except InvalidOperation:
            raise ValueError("amount is not a number") from None
        currency = body.get("currency")
        if not amount.is_finite() or amount <= 0 or not isinstance(currency, str):
            raise ValueError("amount and currency are required")
        invoice_id = _new_id()
        now = int(time.time())
        invoice = {
            "id": invoice_id,
            "storeId": self.store_id,
            "amount": str(amount),
            "currency": currency.upper(),
            "type": "Standard",
            "checkoutLink": f"{self.base_url}/i/{invoice_id}",
            "createdTime": now,
            "expirationTime": now + 15 * 60,
            "monitoringExpiration": now + 24 * 3600,
            "status": "New",
            "additionalStatus": "None",
            "archived": False,
            "metadata": body.get("metadata") or {},
            "checkout": body.get("checkout") or {},
        }
        with self._lock:
            self.invoices[invoice_id] = invoice
            self.paid[invoice_id] = Decimal("0")
        # No InvoiceCreated: the store's webhook is set to the events Boxoffice acts on.
        return self.invoice(invoice_id)

    def payment_methods(self, invoice_id: str) -> list[dict[str, Any]]:
        with self._lock:
            invoice = self.invoices[invoice_id]
            due_btc = _btc(Decimal(invoice["amount"]))
            paid = self.paid[invoice_id]
        return [
            {
                "paymentMethodId": "BTC-CHAIN",
                "currency": "BTC",
                "destination": "bcrt1qemulator0000000000000000000000000000",
                "rate": str(RATE),
                "amount": f"{due_btc:f}",
                "paymentMethodPaid": f"{paid:f}",
                "totalPaid": f"{paid:f}",
                "due": f"{max(due_btc - paid, Decimal('0')).quantize(SATOSHI):f}",
                "networkFee": "0",
                "activated": True,
            }
        ]

    def _set(self, invoice_id: str, status: str, additional: str = "None") -> None:
        with self._lock:
            self.invoices[invoice_id].update(status=status, additionalStatus=additional)

    def pay(self, invoice_id: str, amount: Decimal | None = None, *, confirm: bool = True) -> None:
        """The customer sends coins worth `amount` (fiat; None: what is still due). In full,
        the invoice is processing, and with `confirm` settled at once (blocks mined)."""
        with self._lock:
            invoice = self.invoices[invoice_id]
            due_btc = _btc(Decimal(invoice["amount"]))
            sent = due_btc - self.paid[invoice_id] if amount is None else _btc(amount)
            self.paid[invoice_id] += sent
            full = self.paid[invoice_id] >= due_btc
        self._emit(
            invoice_id,
            "InvoiceReceivedPayment",
            afterExpiration=False,
            paymentMethodId="BTC-CHAIN",
            payment={"id": _new_id(), "value": f"{sent:f}", "status": "Processing"},
        )
        if not full:
            self._set(invoice_id, "New", "PaidPartial")
            return
        self._set(invoice_id, "Processing", "None")
        self._emit(invoice_id, "InvoiceProcessing", overPaid=False)
        if confirm:
            self.confirm(invoice_id)

    def confirm(self, invoice_id: str) -> None:
        self._set(invoice_id, "Settled", "None")
        self._emit(invoice_id, "InvoicePaymentSettled", paymentMethodId="BTC-CHAIN")
        self._emit(invoice_id, "InvoiceSettled", manuallyMarked=False, overPaid=False)

    def expire(self, invoice_id: str) -> None:
        with self._lock:
            partial = self.paid[invoice_id] > 0
        self._set(invoice_id, "Expired", "PaidPartial" if partial else "None")
        self._emit(invoice_id, "InvoiceExpired", partiallyPaid=partial)

    def invalidate(self, invoice_id: str, *, manually: bool = False) -> None:
        self._set(invoice_id, "Invalid", "Marked" if manually else "None")
        self._emit(invoice_id, "InvoiceInvalid", manuallyMarked=manually)

    def events(self, invoice_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.sent if invoice_id in (None, e["invoiceId"])]

    # --- webhooks -------------------------------------------------------------------------------
    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.webhook_secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def _emit(self, invoice_id: str, event_type: str, **fields: Any) -> dict[str, Any]:
        delivery = _new_id()
        with self._lock:
            invoice = self.invoices[invoice_id]
            payload = {
                "deliveryId": delivery,
                "webhookId": "emulator-webhook",
                "originalDeliveryId": delivery,
                "isRedelivery": False,
                "type": event_type,
                "timestamp": int(time.time()),
                "storeId": self.store_id,
                "invoiceId": invoice_id,
                "metadata": invoice["metadata"],
                **fields,
            }
            self.sent.append(payload)
        self._post(payload)
        return payload

    def _post(self, payload: dict[str, Any], url: str | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send(body, {"BTCPay-Sig": self.sign(body)}, url)

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        """BTCPay's dashboard "Redeliver": the same event under a new delivery id."""
        with self._lock:
            original = next(e for e in self.sent if e["deliveryId"] == delivery_id)
            payload = {
                **original,
                "deliveryId": _new_id(),
                "isRedelivery": True,
                "originalDeliveryId": original["originalDeliveryId"],
            }
        self._post(payload)
        return payload

    # --- HTTP -----------------------------------------------------------------------------------
    def handle(self, method, path, query, headers, body):
        parts = [p for p in path.split("/") if p]
        if parts[:3] == ["api", "v1", "stores"] and len(parts) >= 5:
            return self._api(method, parts[3], parts[4:], headers, body)
        if parts[:1] == ["i"] and len(parts) in (2, 3):
            return self._page(method, parts[1], parts[2:], body)
        if parts[:1] == ["_emulator"]:
            return self._control(method, parts[1:], body)
        return json_answer(404, {"code": "not-found", "message": "Not found"})

    def _api(self, method, store_id, rest, headers, body):
        if headers.get("Authorization", "") != f"token {self.api_key}":
            return json_answer(401, {"code": "unauthenticated", "message": "Bad API key"})
        if store_id != self.store_id or rest[0] != "invoices":
            return json_answer(404, {"code": "store-not-found", "message": "Store not found"})
        if method == "POST" and len(rest) == 1:
            try:
                return json_answer(200, self.invoice_create(json.loads(body or b"{}")))
            except (ValueError, AttributeError) as exc:
                return json_answer(422, [{"path": "amount", "message": str(exc)}])
        invoice_id = rest[1] if len(rest) > 1 else ""
        if invoice_id not in self.invoices:
            return json_answer(404, {"code": "invoice-not-found", "message": "Invoice not found"})
        if method == "GET" and len(rest) == 2:
            return json_answer(200, self.invoice(invoice_id))
        if method == "GET" and rest[2:] == ["payment-methods"]:
            return json_answer(200, self.payment_methods(invoice_id))
        if method == "POST" and rest[2:] == ["status"]:
            wanted = (json.loads(body or b"{}") or {}).get("status")
            if self.invoice(invoice_id)["status"] not in ("New", "Expired"):
                return json_answer(400, {"code": "invoice-not-markable", "message": "Not now"})
            if wanted == "Invalid":
                self.invalidate(invoice_id, manually=True)
            elif wanted == "Settled":
                self._set(invoice_id, "Settled", "Marked")
                self._emit(invoice_id, "InvoiceSettled", manuallyMarked=True, overPaid=False)
            else:
                return json_answer(422, [{"path": "status", "message": "Invalid or Settled"}])
            return json_answer(200, self.invoice(invoice_id))
        return json_answer(404, {"code": "not-found", "message": "Not found"})

    def _act(self, invoice_id: str, action: str, amount: str = "") -> None:
        if action == "pay":
            self.pay(invoice_id)
        elif action == "pay_unconfirmed":
            self.pay(invoice_id, confirm=False)
        elif action == "pay_part":
            self.pay(invoice_id, Decimal(amount))
        elif action == "confirm":
            self.confirm(invoice_id)
        elif action == "expire":
            self.expire(invoice_id)
        elif action == "invalid":
            self.invalidate(invoice_id)
        else:
            raise ValueError(f"unknown action {action!r}")

    def _page(self, method, invoice_id, rest, body):
        if invoice_id not in self.invoices:
            return html_answer(404, "<h1>Invoice not found</h1>")
        if method == "POST" and rest == ["act"]:
            form = dict(urllib.parse.parse_qsl(body.decode()))
            try:
                self._act(invoice_id, form.get("action", ""), form.get("amount", ""))
            except (ValueError, InvalidOperation) as exc:
                return html_answer(400, f"<p>{html.escape(str(exc))}</p>")
            back = self.invoice(invoice_id)["checkout"].get("redirectURL")
            if form.get("action") in ("pay", "pay_unconfirmed") and back:
                return redirect(back)
            return redirect(f"/i/{invoice_id}")
        return html_answer(200, self._page_html(invoice_id))

    def _page_html(self, invoice_id: str) -> str:
        invoice = self.invoice(invoice_id)
        [method] = self.payment_methods(invoice_id)
        back = invoice["checkout"].get("redirectURL") or ""
        esc = html.escape
        buttons = ""
        if invoice["status"] == "New":
            buttons = (
                '<button name="action" value="pay">Pay in full</button> '
                '<button name="action" value="pay_unconfirmed">Pay, wait for confirmations'
                "</button><br><br>"
                '<input name="amount" value="1.00" size="6" aria-label="amount"> '
                '<button name="action" value="pay_part">Pay part</button><br><br>'
                '<button name="action" value="expire">Let it expire</button> '
                '<button name="action" value="invalid">Mark invalid</button>'
            )
        elif invoice["status"] == "Processing":
            buttons = '<button name="action" value="confirm">Confirm (mine blocks)</button>'
        return (
            "<!doctype html><html><head><meta charset=utf-8><title>BTCPay emulator</title>"
            "<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto}"
            "button{padding:.4rem .8rem}</style></head><body>"
            f"<h1>BTCPay Server (emulator)</h1><p>Invoice <code>{esc(invoice_id)}</code> for "
            f"order {esc(str(invoice['metadata'].get('orderId', '')))}</p>"
            f"<p><strong>{esc(invoice['amount'])} {esc(invoice['currency'])}</strong> = "
            f"{esc(method['amount'])} BTC; paid {esc(method['paymentMethodPaid'])} BTC</p>"
            f"<p>Status: <strong id=status>{esc(invoice['status'])}</strong> "
            f"({esc(invoice['additionalStatus'])})</p>"
            f'<form method="post" action="/i/{esc(invoice_id)}/act">{buttons}</form>'
            + (f'<p><a href="{esc(back)}">Back to the shop</a></p>' if back else "")
            + "</body></html>"
        )

    def _control(self, method, rest, body):
        if method == "GET" and rest == ["invoices"]:
            with self._lock:
                return json_answer(200, list(self.invoices.values()))
        if method == "GET" and rest == ["events"]:
            return json_answer(200, self.events())
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
